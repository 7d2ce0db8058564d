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


def test_an_api_key_submits_like_a_token(client, user_headers, image_id) -> None:
    created = client.post("/v1/api-keys", json={"name": "script"}, headers=user_headers)
    assert created.status_code == 201, created.text
    key_headers = {"Authorization": f"Bearer {created.json()['key']}"}
    response = client.post("/v1/inpaintings", json=body(image_id), headers=key_headers)
    assert response.status_code == 202, response.text
    assert client.get(response.headers["location"], headers=user_headers).status_code == 200


def test_a_disabled_user_with_a_valid_token_is_401_and_creates_nothing(client, user_headers, user, db, image_id):
    user.is_active = False
    db.commit()
    response = client.post("/v1/inpaintings", json=body(image_id), headers=user_headers)
    assert response.status_code == 401
    assert jobs(db) == 0


def test_a_model_this_deployment_cannot_run_is_422(client, user_headers, db, image_id) -> None:
    from app.catalog.models import MLModel

    db.add(MLModel(name="far-away", kind="inpaint", backend="hf-endpoint", defaults={}, enabled=True))
    db.add(AccessPolicy(principal="*", model_name="far-away", daily_quota=None, monthly_quota=None))
    db.commit()
    response = client.post("/v1/inpaintings", json=body(image_id, model="far-away"), headers=user_headers)
    assert response.status_code == 422
    assert "far-away" in response.json()["detail"] and "opencv-telea" in response.json()["detail"]
    assert jobs(db) == 0


def test_another_users_image_is_404(client, db, image_id) -> None:
    from tests.factories import auth_headers, create_user

    other = create_user(db)
    response = client.post("/v1/inpaintings", json=body(image_id), headers=auth_headers(client, other))
    assert response.status_code == 404
    assert jobs(db) == 0


def test_a_submit_reads_with_one_statement_and_writes_with_one(client, user_headers, user, db, image_id) -> None:
    """An access token's submit: one SELECT (user, image, models and policies together); on
    PostgreSQL the quota counters and the job row are one autocommitted statement (no BEGIN or
    COMMIT around it, so no counter lock waits on the client), on SQLite one transaction."""
    import threading

    from sqlalchemy import event

    from app.core.db import get_engine

    db.add(AccessPolicy(principal=user.email, model_name="opencv-telea", daily_quota=50, monthly_quota=500))
    db.commit()
    client.post("/v1/inpaintings", json=body(image_id, prompt="warm-up"), headers=user_headers)
    engine = get_engine()
    seen: list[tuple[str, bool]] = []

    def record(conn, _cursor, statement, _params, _context, _many) -> None:
        if threading.current_thread().name.startswith("job"):
            return  # the local job runner, running the jobs meanwhile
        autocommit = bool(getattr(conn.connection.dbapi_connection, "autocommit", False))
        seen.append((" ".join(statement.split()).upper(), autocommit))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/v1/inpaintings", json=body(image_id), headers=user_headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 202, response.text
    selects = [statement for statement, _ in seen if statement.startswith("SELECT")]
    assert len(selects) == 1, seen
    writes = [(statement, autocommit) for statement, autocommit in seen if "INSERT" in statement]
    if engine.dialect.name == "postgresql":
        assert len(writes) == 1, seen
        statement, autocommit = writes[0]
        assert "INSERT INTO USAGE_COUNTERS" in statement and "INSERT INTO JOBS" in statement
        assert autocommit
    else:
        assert len(writes) == 2, seen  # the job, then the counters, committed together
    assert counters(db, user) == {"day": 2, "month": 2}


def test_a_known_mask_is_not_looked_up_in_storage_again(client, user_headers, image_id, monkeypatch) -> None:
    from app.storage.local import LocalStorage

    looked_up: list[str] = []
    real_size = LocalStorage.size

    def size(self, key: str) -> int | None:
        if key.startswith("masks/"):
            looked_up.append(key)
        return real_size(self, key)

    monkeypatch.setattr(LocalStorage, "size", size)
    first = client.post("/v1/inpaintings", json=body(image_id, prompt="one"), headers=user_headers)
    second = client.post("/v1/inpaintings", json=body(image_id, prompt="two"), headers=user_headers)
    assert first.status_code == second.status_code == 202
    mask_key = first.json()["input"]["mask_key"]
    assert second.json()["input"]["mask_key"] == mask_key
    assert looked_up == [mask_key]  # the first submit stored it; the second knew


def test_under_mangum_the_submit_runs_inline_and_under_a_server_in_the_threadpool(
    client, user, image_id, monkeypatch
) -> None:
    """As the polled read: one Lambda event at a time needs no worker thread (anyio would start
    a new one per Mangum event); a server keeps other requests going meanwhile."""
    import json
    from pathlib import Path

    from tests.factories import count_threadpool_hops, token_for

    token = token_for(client, user.email)
    hops = count_threadpool_hops(monkeypatch)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/v1/inpaintings", json=body(image_id), headers=headers).status_code == 202
    assert hops == ["threadpool"]

    from functions.api import handler
    from tests.test_lambda_events import lambda_context

    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "apigw_v2_health.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/inpaintings"
    event["requestContext"]["http"]["method"] = "POST"
    event["headers"].update({"authorization": f"Bearer {token}", "content-type": "application/json"})
    event["body"], event["isBase64Encoded"] = json.dumps(body(image_id, prompt="via lambda")), False
    response = handler(event, lambda_context())
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"])["input"]["prompt"] == "via lambda"
    assert hops == ["threadpool"]  # the Mangum request did not use it


def test_an_invalid_token_is_401_even_with_an_invalid_body(client, image_id) -> None:
    """Authentication before validation: a caller with a bad token learns nothing about the
    body's schema, and a client that refreshes tokens on 401 does so."""
    headers = {"Authorization": "Bearer not.a.token"}
    response = client.post("/v1/inpaintings", json={"prompt": 7}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
