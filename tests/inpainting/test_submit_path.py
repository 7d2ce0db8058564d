"""What the one-hop submit path (POST /v1/inpaintings) must keep doing: auth first, the model
and its policy, quotas that count nothing for a refused submit, box masks hashed like PNGs."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from app.catalog.models import AccessPolicy, UsageCounter
from app.jobs.models import Job
from tests.factories import upload_image
from tests.inpainting.conftest import noise_image, png

BOX = [40, 30, 120, 90]


@pytest.fixture
def seeded(db, settings) -> None:
    from app.seed.service import run_seed

    run_seed(db, settings)


@pytest.fixture
def image_id(client, user_headers, seeded) -> str:
    return upload_image(client, user_headers, png(noise_image(200, 150)))["id"]


def body(image_id: str, **extra: Any) -> dict[str, Any]:
    return {"image_id": image_id, "prompt": "a kite", "mask": {"boxes": [BOX]}, "model": "opencv-telea", **extra}


def jobs(db) -> int:
    db.expire_all()
    return db.query(Job).count()


def test_no_credential_is_401_before_the_body_is_read(client, image_id) -> None:
    response = client.post("/v1/inpaintings", json={"prompt": 7})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_invalid_token_is_401_and_creates_nothing(client, db, image_id) -> None:
    response = client.post("/v1/inpaintings", json=body(image_id), headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert jobs(db) == 0


def test_the_answer_is_the_job_as_get_shows_it(client, user_headers, image_id) -> None:
    response = client.post("/v1/inpaintings", json=body(image_id), headers=user_headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["attempts"] == 0 and job["model"] == "opencv-telea"
    again = client.get(response.headers["location"], headers=user_headers).json()
    assert {key: again[key] for key in ("id", "kind", "model", "input", "created_at")} == {
        key: job[key] for key in ("id", "kind", "model", "input", "created_at")
    }


def test_unknown_model_is_422_with_the_available_ones(client, user_headers, db, image_id) -> None:
    response = client.post("/v1/inpaintings", json=body(image_id, model="nope"), headers=user_headers)
    assert response.status_code == 422
    assert "opencv-fill" in response.json()["detail"] and "opencv-telea" in response.json()["detail"]
    assert jobs(db) == 0


def test_default_model_when_none_is_named(client, user_headers, image_id) -> None:
    payload = body(image_id)
    del payload["model"]
    response = client.post("/v1/inpaintings", json=payload, headers=user_headers)
    assert response.status_code == 202, response.text
    assert response.json()["model"] == "opencv-fill"  # sd2 needs an endpoint; then by name


def test_the_users_own_policy_wins_over_everyones(client, user_headers, user, db, image_id) -> None:
    db.add(AccessPolicy(principal=user.email, model_name="opencv-telea", enabled=False))
    db.commit()
    response = client.post("/v1/inpaintings", json=body(image_id), headers=user_headers)
    assert response.status_code == 403
    assert jobs(db) == 0


def test_no_policy_is_no_access(client, user_headers, db, image_id) -> None:
    db.query(AccessPolicy).filter(AccessPolicy.model_name == "opencv-telea").delete()
    db.commit()
    assert client.post("/v1/inpaintings", json=body(image_id), headers=user_headers).status_code == 403


def counters(db, user) -> dict[str, int]:
    db.expire_all()
    rows = db.scalars(select(UsageCounter).where(UsageCounter.user_id == user.id))
    return {row.period.split(":")[0]: row.count for row in rows}


def test_a_refused_submit_counts_in_no_period(client, user_headers, user, db, image_id) -> None:
    db.add(AccessPolicy(principal=user.email, model_name="opencv-telea", daily_quota=1, monthly_quota=10))
    db.commit()
    assert client.post("/v1/inpaintings", json=body(image_id), headers=user_headers).status_code == 202
    refused = client.post("/v1/inpaintings", json=body(image_id, prompt="b"), headers=user_headers)
    assert refused.status_code == 429
    assert "daily" in refused.json()["detail"] and int(refused.headers["retry-after"]) > 0
    assert counters(db, user) == {"day": 1, "month": 1}
    assert jobs(db) == 1


def test_a_monthly_quota_of_zero_refuses_and_counts_nothing(client, user_headers, user, db, image_id) -> None:
    db.add(AccessPolicy(principal=user.email, model_name="opencv-telea", daily_quota=5, monthly_quota=0))
    db.commit()
    refused = client.post("/v1/inpaintings", json=body(image_id), headers=user_headers)
    assert refused.status_code == 429 and "monthly" in refused.json()["detail"]
    assert counters(db, user) == {}
    assert jobs(db) == 0


def test_a_box_mask_hashes_like_the_same_mask_sent_as_a_png(client, user_headers, image_id) -> None:
    mask = Image.new("L", (200, 150), 0)
    ImageDraw.Draw(mask).rectangle((BOX[0], BOX[1], BOX[2] - 1, BOX[3] - 1), fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    as_png = {"png_base64": base64.b64encode(buffer.getvalue()).decode()}
    hashes = []
    for spec in ({"boxes": [BOX]}, as_png, {"boxes": [BOX]}):
        response = client.post("/v1/inpaintings", json={**body(image_id), "mask": spec}, headers=user_headers)
        assert response.status_code == 202, response.text
        hashes.append(response.json()["input"]["mask_sha256"])
    assert hashes[0] == hashes[1] == hashes[2]


def test_a_bad_box_is_refused_every_time(client, user_headers, db, image_id) -> None:
    for _ in range(2):
        response = client.post(
            "/v1/inpaintings", json={**body(image_id), "mask": {"boxes": [[0, 0, 201, 10]]}}, headers=user_headers
        )
        assert response.status_code == 422 and "outside" in response.json()["detail"]
    assert jobs(db) == 0
