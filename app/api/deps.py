"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.auth.service import access_token_user_id, user_for_bearer
from app.core.config import Settings, get_settings
from app.core.db import get_session
from app.core.secrets import jwt_secret
from app.storage import Storage, get_storage
from app.users.models import User


# Async on purpose: both are cached look-ups with no I/O, and a sync dependency would cost a
# threadpool hop (a thread handoff and an event-loop wake-up) on every request.
async def _settings() -> Settings:
    return get_settings()


async def _storage() -> Storage:
    return get_storage()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_storage)]

# Relative tokenUrl: Swagger resolves it against /docs, so it also works behind a stage prefix.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="v1/auth/token",
    auto_error=False,
    description="An access token from /v1/auth/token, or a personal API key (ipk_...).",
)


CredentialDep = Annotated[str | None, Depends(oauth2_scheme)]


def authenticate(request: Request, session: Session, settings: Settings, credential: str | None) -> User:
    """The active user behind the request's bearer credential, or 401.

    Hot routes call this inside their own threadpool call, with the rest of their database
    work: one hop and one connection checkout per request instead of two."""
    user = None
    if credential:
        user = user_for_bearer(session, credential=credential, jwt_secret=jwt_secret(settings))
    if user is None:
        raise _unauthorized(credential)
    request.state.user_id = str(user.id)
    return user


def authenticate_and_get_owned(
    request: Request, session: Session, settings: Settings, credential: str | None, model: Any, row_id: uuid.UUID
) -> tuple[User, Any]:
    """``authenticate()`` plus the user's own row of ``model`` with id ``row_id`` (or None), in
    one statement for an access token: the polled reads pay one round trip, not two."""
    user_id = access_token_user_id(credential, jwt_secret=jwt_secret(settings)) if credential else None
    if user_id is None:  # an API key (or no valid token): the general path
        user = authenticate(request, session, settings, credential)
        return user, session.scalar(select(model).where(model.id == row_id, model.owner_id == user.id))
    row = session.execute(
        select(User, model)
        .outerjoin(model, and_(model.id == row_id, model.owner_id == User.id))
        .where(User.id == user_id)
    ).first()
    if row is None or not row[0].is_active:
        raise _unauthorized(credential)
    request.state.user_id = str(user_id)
    return row[0], row[1]


def _unauthorized(credential: str | None) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "not authenticated" if not credential else "invalid or expired credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_current_user(request: Request, session: SessionDep, settings: SettingsDep, credential: CredentialDep) -> User:
    user = authenticate(request, session, settings, credential)
    # End the auth step's transaction: its connection goes back to the pool now instead of
    # waiting, checked out, for the endpoint's threadpool call (expire_on_commit=False keeps
    # the user loaded).
    session.commit()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin only")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
