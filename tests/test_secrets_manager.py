"""GetSecretValue as the functions make it: one SigV4-signed call, no botocore client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.core import aws


class Recorder:
    def __init__(self, answers: list[tuple[int, dict]]) -> None:
        self.answers = answers
        self.requests: list[tuple[dict[str, str], dict]] = []


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorder.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status, document = recorder.answers.pop(0)
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "session-token",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws.time, "sleep", lambda _seconds: None)
    aws.reset()
    yield server.server_address[0], recorder
    server.shutdown()
    aws.reset()


def test_one_signed_call_with_the_session_token(endpoint) -> None:
    _, recorder = endpoint
    recorder.answers = [(200, {"ARN": "arn:x", "SecretString": "s3cr3t"})]
    assert aws.secret_string("arn:aws:secretsmanager:eu-west-1:1:secret:jwt") == "s3cr3t"
    headers, body = recorder.requests[0]
    assert body == {"SecretId": "arn:aws:secretsmanager:eu-west-1:1:secret:jwt"}
    assert headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amz-security-token"] == "session-token"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/secretsmanager/aws4_request" in headers["authorization"]
    assert "x-amz-target" in headers["authorization"].split("SignedHeaders=")[1]
    # Cached: a second read makes no call.
    assert aws.secret_string("arn:aws:secretsmanager:eu-west-1:1:secret:jwt") == "s3cr3t"
    assert len(recorder.requests) == 1


def test_throttling_and_5xx_are_retried_then_answered(endpoint) -> None:
    _, recorder = endpoint
    recorder.answers = [
        (500, {"__type": "InternalServiceError", "message": "boom"}),
        (400, {"__type": "ThrottlingException", "message": "slow down"}),
        (200, {"SecretString": "third time"}),
    ]
    assert aws.secret_string("arn:retry") == "third time"
    assert len(recorder.requests) == 3


def test_a_refusal_is_not_retried_and_names_the_error(endpoint) -> None:
    _, recorder = endpoint
    recorder.answers = [(400, {"__type": "com.amazonaws#ResourceNotFoundException", "Message": "no such secret"})]
    with pytest.raises(aws.SecretUnavailable, match="ResourceNotFoundException: no such secret"):
        aws.secret_string("arn:missing")
    assert len(recorder.requests) == 1


def test_an_endpoint_that_keeps_failing_gives_up(endpoint) -> None:
    _, recorder = endpoint
    recorder.answers = [(503, {"__type": "ServiceUnavailable"})] * 3
    with pytest.raises(aws.SecretUnavailable, match="503"):
        aws.secret_string("arn:down")
    assert len(recorder.requests) == 3


def test_the_regional_endpoint_and_only_http_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    assert aws._secrets_manager_endpoint("eu-west-1") == "https://secretsmanager.eu-west-1.amazonaws.com"
    assert aws._secrets_manager_endpoint("cn-north-1") == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "file:///etc/passwd")
    with pytest.raises(aws.SecretUnavailable):
        aws._secrets_manager_endpoint("eu-west-1")


def test_without_credentials_in_the_environment_the_boto3_client_is_used(monkeypatch, tmp_path) -> None:
    """A profile (or an ECS task role): credentials the signer cannot see, so the client path."""
    from moto import mock_aws

    profile = tmp_path / "credentials"
    profile.write_text("[default]\naws_access_key_id = fromfile\naws_secret_access_key = fromfile\n")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():  # sets fake keys in the environment: take them away again
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(profile))
        aws.reset()
        arn = aws.client("secretsmanager").create_secret(Name="role", SecretString="from-a-role")["ARN"]
        assert aws.secret_string(arn) == "from-a-role"
    aws.reset()
