"""AWS clients as the functions use them: SigV4 presigning, a rotated database secret."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg2
import pytest
from moto import mock_aws

from app.core import aws
from app.core.config import Settings


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws.reset()
        yield
    aws.reset()


def test_presigned_urls_and_posts_are_sigv4(moto) -> None:
    """Buckets created since June 2020 refuse SigV2, botocore's presigning default for S3."""
    from app.storage.s3 import S3Storage

    aws.client("s3").create_bucket(Bucket="images")
    storage = S3Storage(Settings(s3_bucket="images"))
    url = storage.url("a/b.png")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Signature=" in url
    assert "AWSAccessKeyId=" not in url and "Signature=" not in url.replace("X-Amz-Signature=", "")
    target = storage.upload_target("uploads/x", content_type="image/png", max_bytes=1000)
    assert target.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert {"x-amz-credential", "x-amz-date", "x-amz-signature", "policy"} <= set(target.fields)
    assert "AWSAccessKeyId" not in target.fields and "signature" not in target.fields


class FakeDialect:
    """Stands in for the psycopg2 dialect: the server accepts only the current password."""

    loaded_dbapi = psycopg2

    def __init__(self, password: str) -> None:
        self.password = password
        self.tries: list[str] = []

    def connect(self, *cargs: Any, **cparams: Any) -> str:
        self.tries.append(cparams["password"])
        if cparams["password"] != self.password:
            raise psycopg2.OperationalError('FATAL:  password authentication failed for user "inpaint_admin"')
        return "connection"


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch):
    """Secrets through the moto server over loopback, as the functions reach Secrets Manager."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    yield
    aws.reset()


def test_a_rotated_database_password_is_fetched_again_once(moto_endpoint) -> None:
    from app.core.db import _connect_with_current_password

    secrets = aws.client("secretsmanager")
    arn = secrets.create_secret(
        Name=f"db-{uuid.uuid4().hex[:6]}", SecretString=json.dumps({"username": "u", "password": "old"})
    )["ARN"]
    settings = Settings(pg_host="db.internal", pg_user="u", db_secret_arn=arn)
    connect = _connect_with_current_password(settings)
    dialect = FakeDialect("old")
    assert connect(dialect, None, (), {}) == "connection"
    # RDS rotates the secret: the cached "old" is refused, dropped, and the new one read at once.
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "u", "password": "new"}))
    dialect.password = "new"
    assert connect(dialect, None, (), {}) == "connection"
    assert dialect.tries == ["old", "old", "new"]
    # Another failure is not retried forever: once, then the error.
    dialect.password = "something else"
    with pytest.raises(psycopg2.OperationalError):
        connect(dialect, None, (), {})
    assert dialect.tries[3:] == ["new", "new"]


def test_upload_ceiling_fits_the_invoke_payload_and_points_at_direct_uploads(client, user_headers, monkeypatch):
    import io
    import math
    import os

    from PIL import Image

    from tests.conftest import reset_app_state

    default = Settings.model_fields["max_upload_bytes"].default
    assert 4 * math.ceil((default + 64 * 1024) / 3) <= 6 * 1024 * 1024  # base64 inside 6 MB
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "2000")
    reset_app_state()
    buffer = io.BytesIO()
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(buffer, format="PNG")
    response = client.post(
        "/v1/images", headers=user_headers, files={"file": ("n.png", buffer.getvalue(), "image/png")}
    )
    assert response.status_code == 413
    assert "POST /v1/images/uploads" in response.json()["detail"]


def test_worker_budget_comes_from_the_remaining_time() -> None:
    from functions.worker import FINISH_MARGIN_SECONDS, settings_for

    settings = Settings(hf_call_budget_seconds=240)
    assert settings_for(None, settings).hf_call_budget_seconds == 240
    assert settings_for(300_000, settings).hf_call_budget_seconds == 240
    # the second job of a batch, or a shorter timeout: what is left, less the margin
    assert settings_for(100_000, settings).hf_call_budget_seconds == 100 - FINISH_MARGIN_SECONDS
    assert settings_for(5_000, settings).hf_call_budget_seconds == 1.0
