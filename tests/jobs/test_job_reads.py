"""GET /v1/jobs/{id}: authentication and the owned job in one statement, every answer kept."""

from __future__ import annotations

import uuid

from sqlalchemy import event

from app.auth.service import create_api_key
from app.core.db import get_engine
from app.core.security import create_access_token
from app.jobs.models import Job
from tests.factories import auth_headers, create_user

MISSING = "00000000-0000-0000-0000-000000000000"


def _job(db, owner) -> Job:
    job = Job(owner_id=owner.id, kind="inpaint", model="opencv-telea", status="queued", input={}, request_hash="0" * 64)
    db.add(job)
    db.commit()
    return job


def test_owner_sees_the_job_others_and_missing_are_404(client, db, user, user_headers):
    other = create_user(db)
    mine, theirs = _job(db, user), _job(db, other)
    response = client.get(f"/v1/jobs/{mine.id}", headers=user_headers)
    assert response.status_code == 200 and response.json()["id"] == str(mine.id)
    assert client.get(f"/v1/jobs/{theirs.id}", headers=user_headers).status_code == 404
    assert client.get(f"/v1/jobs/{MISSING}", headers=user_headers).status_code == 404


def test_disabled_deleted_and_forged_users_are_401_not_404(client, db, user, settings):
    job = _job(db, user)
    headers = auth_headers(client, user)
    user.is_active = False
    db.commit()
    assert client.get(f"/v1/jobs/{job.id}", headers=headers).status_code == 401
    assert client.get(f"/v1/jobs/{MISSING}", headers=headers).status_code == 401
    secret = settings.jwt_secret.get_secret_value()
    nobody, _ = create_access_token(subject=str(uuid.uuid4()), secret=secret, minutes=5)
    not_a_uuid, _ = create_access_token(subject="admin", secret=secret, minutes=5)
    for token in (nobody, not_a_uuid, "garbage"):
        response = client.get(f"/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/v1/jobs/{job.id}").status_code == 401


def test_an_api_key_reads_its_own_job_only(client, db, user):
    other = create_user(db)
    mine, theirs = _job(db, user), _job(db, other)
    _key, plain = create_api_key(db, user=user, name="poller")
    db.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get(f"/v1/jobs/{mine.id}", headers=headers).status_code == 200
    assert client.get(f"/v1/jobs/{theirs.id}", headers=headers).status_code == 404


def test_a_poll_is_one_statement_and_a_commit(client, db, user, user_headers):
    job = _job(db, user)
    client.get(f"/v1/jobs/{job.id}", headers=user_headers)  # warm: routes loaded, connection open
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.split()[0].upper())

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(f"/v1/jobs/{job.id}", headers=user_headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == ["SELECT"], statements


def test_under_mangum_the_read_runs_inline_and_under_a_server_in_the_threadpool(client, db, user, monkeypatch):
    """A Lambda container has one request at a time: no worker thread (anyio starts a new one
    per Mangum event). A server keeps other requests going: the threadpool."""
    import json
    from pathlib import Path

    from tests.factories import count_threadpool_hops, token_for

    job = _job(db, user)
    token = token_for(client, user.email)
    hops = count_threadpool_hops(monkeypatch)
    assert client.get(f"/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert hops == ["threadpool"]

    from functions.api import handler
    from tests.test_lambda_events import lambda_context

    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "apigw_v2_health.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/jobs/{job.id}"
    event["headers"]["authorization"] = f"Bearer {token}"
    response = handler(event, lambda_context())
    assert response["statusCode"] == 200 and json.loads(response["body"])["id"] == str(job.id)
    assert hops == ["threadpool"]  # the Mangum request did not use it
