"""Personal API keys (stored hashed) and bearer-credential resolution."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.security import (
    API_KEY_PREFIX,
    decode_access_token,
    hash_api_key,
    new_api_key,
)
from app.users.models import ApiKey, User

_LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid a write on every request


def create_api_key(session: Session, *, user: User, name: str) -> tuple[ApiKey, str]:
    plain = new_api_key()
    api_key = ApiKey(user_id=user.id, name=name, prefix=plain[: len(API_KEY_PREFIX) + 6], key_hash=hash_api_key(plain))
    session.add(api_key)
    session.flush()
    return api_key, plain


def list_api_keys(session: Session, *, user: User) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at.desc())
    return list(session.scalars(query))


def get_api_key(session: Session, *, user: User, key_id: uuid.UUID) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))


def revoke_api_key(session: Session, *, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()


def access_token_user_id(credential: str, *, jwt_secret: str) -> uuid.UUID | None:
    """The user id an access token (not an API key) names, if the token is valid."""
    if credential.startswith(API_KEY_PREFIX):
        return None
    from app.core.config import get_settings

    settings = get_settings()
    subject = decode_access_token(
        credential, secret=jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    if subject is None:
        return None
    try:
        return uuid.UUID(subject)
    except ValueError:
        return None


def user_for_bearer(session: Session, *, credential: str, jwt_secret: str) -> User | None:
    """The active user behind an access token or an API key, or None."""
    if credential.startswith(API_KEY_PREFIX):
        api_key = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_api_key(credential), ApiKey.revoked_at.is_(None))
        )
        if api_key is None:
            return None
        now = utcnow()
        if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
            api_key.last_used_at = now
            session.commit()
        user = api_key.user
    else:
        user_id = access_token_user_id(credential, jwt_secret=jwt_secret)
        user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        return None
    return user
