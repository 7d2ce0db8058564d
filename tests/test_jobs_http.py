"""The job engine over real HTTP (uvicorn on 127.0.0.1), local mode: what the issue asks to show."""

from __future__ import annotations

import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from PIL import Image

from app.catalog.models import AccessPolicy
from app.jobs.models import Job


def upload_noise(http: httpx.Client, width: int = 320, height: int = 240) -> tuple[str, np.ndarray]:
    pixels = np.random.default_rng(3).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    response = http.post("/v1/images", files={"file": ("noise.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 201, response.text
    return response.json()["id"], pixels


def test_upload_inpaint_poll_succeeded(http):
    image_id, source = upload_noise(http)
    box = [100, 50, 180, 150]
    response = http.post(
        "/v1/inpaintings", json={"image_id": image_id, "prompt": "a red vintage bicycle", "mask": {"boxes": [box]}}
    )
    assert response.status_code == 202, response.text
    job_url = response.headers["location"]
    deadline = time.monotonic() + 30
    while (job := http.get(job_url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    # local file links point at PUBLIC_BASE_URL (the test client's name for the app)
    link = job["output"]["url"].replace("http://testserver", str(http.base_url).rstrip("/"))
    out = np.asarray(Image.open(io.BytesIO(httpx.get(link).content)).convert("RGB"))
    assert out.shape == source.shape
    inside = np.zeros(source.shape[:2], dtype=bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    assert np.array_equal(out[~inside], source[~inside])
    assert (out[inside] != source[inside]).any(axis=-1).mean() > 0.5


def test_idempotency_key_and_prefer_wait(http, db):
    image_id, _ = upload_noise(http, 64, 64)
    body = {"image_id": image_id, "prompt": "x", "mask": {"boxes": [[8, 8, 24, 24]]}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post("/v1/inpaintings", json=body, headers={**key, "Prefer": "wait=5"})
    assert first.status_code == 202 and first.json()["status"] == "succeeded"  # finished within the wait
    retry = http.post("/v1/inpaintings", json=body, headers=key)
    assert retry.status_code == 202 and retry.json()["id"] == first.json()["id"]
    other_body = http.post("/v1/inpaintings", json={**body, "prompt": "y"}, headers=key)
    assert other_body.status_code == 409
    db.expire_all()
    assert db.query(Job).count() == 1


def test_twenty_concurrent_submits_against_a_quota_of_five(http, db, user):
    db.add(AccessPolicy(principal=user.email, model_name="opencv-fill", daily_quota=5, monthly_quota=100))
    db.commit()
    image_id, _ = upload_noise(http, 64, 64)
    body = {"image_id": image_id, "prompt": "x", "mask": {"boxes": [[8, 8, 24, 24]]}}
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: http.post("/v1/inpaintings", json=body), range(20)))
    codes = sorted(response.status_code for response in responses)
    assert codes == [202] * 5 + [429] * 15, codes
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)
    db.expire_all()
    assert db.query(Job).count() == 5


def test_concurrent_retries_with_one_idempotency_key_make_one_job_counted_once(http, db, user):
    """Ten copies of one request with the same Idempotency-Key, at once: the database's unique
    key lets one insert win (on PostgreSQL inside the one statement that also counts the quota,
    so a losing copy counts nothing); every copy answers 202 with that one job."""
    from sqlalchemy import select

    from app.catalog.models import UsageCounter

    db.add(AccessPolicy(principal=user.email, model_name="opencv-fill", daily_quota=50, monthly_quota=500))
    db.commit()
    image_id, _ = upload_noise(http, 64, 64)
    body = {"image_id": image_id, "prompt": "x", "mask": {"boxes": [[8, 8, 24, 24]]}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: http.post("/v1/inpaintings", json=body, headers=key), range(10)))
    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    db.expire_all()
    assert db.query(Job).count() == 1
    counts = {row.period.split(":")[0]: row.count for row in db.scalars(select(UsageCounter))}
    assert counts == {"day": 1, "month": 1}
