"""Every API Gateway sample in events/ replays through functions.api.handler."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

EVENTS = Path(__file__).resolve().parents[1] / "events"
API_EVENTS = sorted(EVENTS.glob("apigw_*.json"))

# file → (status, a check on the decoded body)
EXPECTED = {
    "apigw_v2_health.json": (200, lambda body: json.loads(body)["database"] == "ok"),
    "apigw_v1_health.json": (200, lambda body: json.loads(body)["database"] == "ok"),
    "apigw_v2_token.json": (200, lambda body: json.loads(body)["token_type"] == "bearer"),
    "apigw_v2_list_images.json": (200, lambda body: json.loads(body)["items"] == []),
    "apigw_v1_list_images.json": (200, lambda body: json.loads(body)["items"] == []),
    "apigw_v2_upload_image.json": (201, lambda body: json.loads(body)["width"] == 32),
    "apigw_v2_unauthenticated.json": (401, lambda body: json.loads(body)["detail"] == "not authenticated"),
    # Behind a stage prefix the docs page must load its schema from under the prefix.
    "apigw_v2_docs_stage.json": (200, lambda body: "'/prod/openapi.json'" in body or '"/prod/openapi.json"' in body),
    "apigw_v1_docs.json": (200, lambda body: "'/prod/openapi.json'" in body or '"/prod/openapi.json"' in body),
}


def load_event(path: Path, *, token: str, admin_password: str) -> dict:
    text = path.read_text().replace("{{TOKEN}}", token)
    event = json.loads(text)
    if event.get("isBase64Encoded") and event.get("body"):
        body = base64.b64decode(event["body"]).replace(b"{{ADMIN_PASSWORD}}", admin_password.encode())
        event["body"] = base64.b64encode(body).decode()
    return event


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        aws_request_id="test-invocation",
        function_name="ApiFunction",
        memory_limit_in_mb=1024,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:api",
        get_remaining_time_in_millis=lambda: 30000,
    )


def test_every_api_event_has_an_expectation():
    assert API_EVENTS, "no API Gateway events in events/"
    assert {path.name for path in API_EVENTS} == set(EXPECTED)


@pytest.mark.parametrize("path", API_EVENTS, ids=lambda path: path.name)
def test_api_event_replays(path, db, settings):
    from app.seed.service import run_seed
    from functions.api import handler
    from tests.factories import token_for

    run_seed(db, settings)
    from fastapi.testclient import TestClient

    from app.main import app

    with TestClient(app) as client:
        token = token_for(client, settings.admin_email, settings.admin_password.get_secret_value())
    event = load_event(path, token=token, admin_password=settings.admin_password.get_secret_value())
    response = handler(event, lambda_context())
    status, check = EXPECTED[path.name]
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert response["statusCode"] == status, body
    assert check(body), body
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    assert headers.get("x-request-id") == event["requestContext"]["requestId"]


def test_local_mode_can_migrate_and_seed_on_first_request(tmp_path, monkeypatch):
    """sam local start-api: containers start with an empty /tmp, so the first request prepares it."""
    import functions.api
    from tests.conftest import reset_app_state

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    monkeypatch.setenv("STORAGE_DIR", str(tmp_path / "images"))
    monkeypatch.setenv("AUTO_MIGRATE_SEED", "true")
    monkeypatch.setattr(functions.api, "_database_ready", False)
    reset_app_state()
    try:
        event = load_event(EVENTS / "apigw_v2_token.json", token="", admin_password="admin-password-for-tests")
        response = functions.api.handler(event, lambda_context())
        assert response["statusCode"] == 200, response["body"]
        assert json.loads(response["body"])["access_token"]
    finally:
        reset_app_state()
