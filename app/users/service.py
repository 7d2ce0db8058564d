"""Users: keyword-only functions over a session (the caller commits)."""

from __future__ import annotations

import uuid
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.security import hash_password, needs_rehash, verify_password
from app.storage import Storage
from app.users.models import User


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a login takes as long either way.
    Made on first use: an argon2 hash costs ~200 ms, too much for every cold start."""
    return hash_password("not-a-real-password-only-for-timing")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user(session: Session, *, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def create_user(
    session: Session, *, email: str, password: str, full_name: str | None = None, is_admin: bool = False
) -> User:
    user = User(
        email=normalise_email(email), hashed_password=hash_password(password), full_name=full_name, is_admin=is_admin
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    user = get_user_by_email(session, email=email)
    if user is None:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, user.hashed_password):
        return None
    if needs_rehash(user.hashed_password):
        user.hashed_password = hash_password(password)
    return user


def delete_user(session: Session, storage: Storage, *, user: User) -> None:
    """The row goes first (the database cascades to keys, images, jobs, detections and
    counters), then the files: a failure between them leaves unreferenced files, never rows
    pointing at missing ones."""
    from app.images.models import Image

    keys = list(session.scalars(select(Image.storage_key).where(Image.owner_id == user.id)))
    session.delete(user)
    session.commit()
    for key in keys:
        storage.delete(key)
