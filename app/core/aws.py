"""boto3 clients and Secrets Manager values, created lazily and cached per process.

Nothing here imports boto3 until a client is first asked for, so the API's cold start does
not pay for it on requests that never touch AWS.
"""

from __future__ import annotations

import json
import os
import threading
import time
from functools import cache
from typing import Any, NamedTuple

_lock = threading.Lock()


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # botocore's standard retry mode: bounded, jittered retries on throttling and 5xx.
    options: dict[str, Any] = {
        "retries": {"max_attempts": 5, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if service == "s3":
        # Presigned URLs and POSTs must be SigV4: buckets created since June 2020 refuse SigV2,
        # which botocore still uses for presigning when no signature version is named.
        options["signature_version"] = "s3v4"
    config = Config(**options)
    with _lock:  # boto3's default session is not thread-safe while creating clients
        return boto3.session.Session().client(service, config=config)


SECRET_TTL_SECONDS = 300  # rotated secrets (RDS rotates its master secret) are picked up this soon
_secrets: dict[str, tuple[str, float]] = {}


def secret_string(secret_arn: str, *, max_age: float = SECRET_TTL_SECONDS) -> str:
    """The SecretString of a Secrets Manager secret, cached for ``max_age`` seconds."""
    cached = _secrets.get(secret_arn)
    now = time.monotonic()
    if cached is not None and now - cached[1] < max_age:
        return cached[0]
    value = _get_secret_value(secret_arn)
    _secrets[secret_arn] = (value, now)
    return value


class SecretUnavailable(RuntimeError):
    """Secrets Manager refused or could not answer a GetSecretValue call."""


class _EnvCredentials(NamedTuple):  # what botocore's SigV4Auth reads
    access_key: str
    secret_key: str
    token: str | None


def _get_secret_value(secret_arn: str) -> str:
    """GetSecretValue. Where the credentials are in the environment (every Lambda function), one
    request signed with botocore's SigV4 signer and sent with the standard library: a botocore
    client costs a cold start ~300 ms and ~15 MB (endpoint tables, service model) for this one
    call. Elsewhere (a profile, an ECS task role) the boto3 client, which knows those sources."""
    access_key, secret_key = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not (access_key and secret_key and region):
        return str(client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = _EnvCredentials(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN"))
    body = json.dumps({"SecretId": secret_arn}).encode()
    for attempt in range(1, _SECRET_ATTEMPTS + 1):
        request = AWSRequest(
            method="POST",
            url=_secrets_manager_endpoint(region) + "/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"},
        )
        SigV4Auth(credentials, "secretsmanager", region).add_auth(request)  # signs the time: sign each try
        prepared = request.prepare()
        try:
            call = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")  # noqa: S310 - http(s) only
            with urllib.request.urlopen(call, timeout=_SECRET_TIMEOUT_SECONDS) as response:  # noqa: S310
                return str(json.loads(response.read())["SecretString"])
        except urllib.error.HTTPError as exc:
            error = _aws_error(exc)
            if (exc.code < 500 and "Throttling" not in error) or attempt == _SECRET_ATTEMPTS:
                raise SecretUnavailable(f"GetSecretValue failed ({exc.code} {error})") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            if attempt == _SECRET_ATTEMPTS:
                raise SecretUnavailable(f"GetSecretValue failed ({type(exc).__name__})") from None
        time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


_SECRET_ATTEMPTS = 3
_SECRET_TIMEOUT_SECONDS = 5


def _secrets_manager_endpoint(region: str) -> str:
    """Where boto3 would send it: a configured endpoint (as botocore reads them), else the
    regional one (VPC interface endpoints with private DNS answer under the same name)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        configured = os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or os.environ.get("AWS_ENDPOINT_URL")
        if configured:
            if not configured.startswith(("https://", "http://")):
                raise SecretUnavailable("AWS_ENDPOINT_URL must be an http(s) URL")
            return configured.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://secretsmanager.{region}.{suffix}"


def _aws_error(exc: Any) -> str:  # a urllib.error.HTTPError
    try:
        document = json.loads(exc.read() or b"{}")
    except ValueError:
        return "unreadable error"
    kind = str(document.get("__type", "error")).rsplit("#", 1)[-1]
    return f"{kind}: {document.get('message') or document.get('Message') or ''}".strip(": ")


def forget_secrets() -> None:
    _secrets.clear()


def forget_secret(secret_arn: str) -> None:
    """Drop one cached secret (its value was just refused, e.g. after a rotation)."""
    _secrets.pop(secret_arn, None)


def secret_value(secret_arn: str, key: str | None = None) -> str:
    """A secret's plain value, or one key of a JSON secret (RDS-managed secrets are JSON)."""
    raw = secret_string(secret_arn)
    if key is None:
        try:
            document = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(document, dict) and len(document) == 1:
            return str(next(iter(document.values())))
        return raw
    return str(json.loads(raw)[key])


def reset() -> None:
    """Forget cached clients and secrets (tests switch moto on and off)."""
    client.cache_clear()
    forget_secrets()
