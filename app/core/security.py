"""Password hashing, access tokens (JWT) and personal API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

API_KEY_PREFIX = "ipk_"
JWT_ALGORITHM = "HS256"
DEFAULT_ISSUER = "prompted-inpainting"
DEFAULT_AUDIENCE = "prompted-inpainting-api"


class HashingBusy(Exception):
    """Every password-hashing slot stayed taken for too long (answered 503 + Retry-After)."""


@lru_cache
def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported here: only sign-in and sign-up hash passwords

    return PasswordHasher()


@lru_cache
def _hash_slots() -> tuple[threading.BoundedSemaphore, float]:
    from app.core.config import get_settings

    settings = get_settings()
    return threading.BoundedSemaphore(max(1, settings.password_hash_concurrency)), settings.password_hash_wait_seconds


@contextmanager
def _hash_slot() -> Iterator[None]:
    """One argon2 hash costs 64 MiB and a core for ~0.1 s: forty at once took a server to
    1 GB and every login to 5 s. A few run at once; the rest wait, then give up."""
    slots, wait_seconds = _hash_slots()
    if not slots.acquire(timeout=wait_seconds):
        raise HashingBusy
    try:
        yield
    finally:
        slots.release()


def hash_password(password: str) -> str:
    with _hash_slot():
        return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    with _hash_slot():
        try:
            return _hasher().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def create_access_token(
    *, subject: str, secret: str, minutes: int, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE
) -> tuple[str, int]:
    import jwt  # imported here: API-key requests and /health never need it

    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), minutes * 60


def decode_access_token(
    token: str, *, secret: str, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE
) -> str | None:
    """The token's subject, or None when it is invalid, expired, or meant for another
    issuer or audience (a token of another service that shares the secret).

    A client polling a job sends the same token every second: a token verified once is
    remembered (with its expiry, which is still checked on every use) instead of being
    decoded and verified again each time."""
    subject, expires_at = _verified_token(token, secret, issuer, audience)
    if subject is None or time.time() >= expires_at:
        return None
    return subject


@lru_cache(maxsize=1024)
def _verified_token(token: str, secret: str, issuer: str, audience: str) -> tuple[str | None, float]:
    import jwt

    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None, 0.0
    if payload.get("typ") != "access":
        return None, 0.0
    return str(payload["sub"]), float(payload["exp"])


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def sign(message: str, secret: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(message: str, signature: str, secret: str) -> bool:
    return hmac.compare_digest(sign(message, secret), signature)
