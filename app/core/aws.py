"""boto3 clients and Secrets Manager values, created lazily and cached per process.

Nothing here imports boto3 until a client is first asked for, so the API's cold start does
not pay for it on requests that never touch AWS.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache
from typing import Any

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
    value = client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    _secrets[secret_arn] = (value, now)
    return value


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
