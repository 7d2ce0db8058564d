"""Password hashing, access tokens (JWT) and personal API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any

from app.core.db import utcnow

API_KEY_PREFIX = "ipk_"
JWT_ALGORITHM = "HS256"


@lru_cache
def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported here: only sign-in and sign-up hash passwords

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def create_access_token(*, subject: str, secret: str, minutes: int) -> tuple[str, int]:
    import jwt  # imported here: API-key requests and /health never need it

    now = utcnow()
    payload: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + timedelta(minutes=minutes), "typ": "access"}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), minutes * 60


def decode_access_token(token: str, *, secret: str) -> str | None:
    """The token's subject, or None when it is invalid or expired."""
    import jwt

    try:
        payload = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    if payload.get("typ") != "access":
        return None
    return str(payload["sub"])


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def sign(message: str, secret: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(message: str, signature: str, secret: str) -> bool:
    return hmac.compare_digest(sign(message, secret), signature)
