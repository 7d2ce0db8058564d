"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from app.auth.service import access_token_user_id, user_for_bearer
from app.core.config import Settings, get_settings
from app.core.db import get_engine, get_session, new_session
from app.core.secrets import jwt_secret
from app.core.security import API_KEY_PREFIX
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


class _RequiredBearer(OAuth2PasswordBearer):
    """The same scheme, but a missing credential, or an access token that does not verify, is a
    401 here, before the body is validated. (An API key needs the database: its check is the
    route's, with the rest of its database work.)"""

    def make_not_authenticated_error(self) -> HTTPException:
        return unauthorized(None)

    async def __call__(self, request: HTTPConnection) -> str:
        credential = await super().__call__(request)
        assert credential is not None  # auto_error: a missing one raised above
        is_token = not credential.startswith(API_KEY_PREFIX)
        # Verified tokens are remembered until they expire: the route's own check is then free.
        if is_token and access_token_user_id(credential, jwt_secret=jwt_secret(get_settings())) is None:
            raise unauthorized(credential)
        return credential


# One dependency level, not a dependency on ``oauth2_scheme``: FastAPI's per-level cost was a
# tenth of a submit. The same scheme name, so OpenAPI shows one scheme.
required_bearer = _RequiredBearer(
    tokenUrl=oauth2_scheme.model.flows.password.tokenUrl,  # type: ignore[union-attr]
    scheme_name=oauth2_scheme.scheme_name,
    description=oauth2_scheme.model.description,
)
RequiredCredentialDep = Annotated[str, Depends(required_bearer)]

Result = TypeVar("Result")


async def run_blocking(request: Request, work: Callable[[], Result]) -> Result:
    """Run an async route's blocking work (its database calls) in one go.

    Under a server (uvicorn) that is a threadpool call, so other requests go on meanwhile. In a
    Lambda container (the request came through Mangum) there are no other requests: the event
    loop has nothing else to do, and a thread would cost more than the work (Mangum runs a new
    loop task per event, so anyio starts a new worker thread each time, ~0.3 ms)."""
    if "aws.event" in request.scope:
        return work()
    return await run_in_threadpool(work)


def authenticate(request: Request, session: Session, settings: Settings, credential: str | None) -> User:
    """The active user behind the request's bearer credential, or 401.

    Hot routes call this inside their own threadpool call, with the rest of their database
    work: one hop and one connection checkout per request instead of two."""
    user = None
    if credential:
        user = user_for_bearer(session, credential=credential, jwt_secret=jwt_secret(settings))
    if user is None:
        raise unauthorized(credential)
    request.state.user_id = str(user.id)
    return user


def owned_row(request: Request, settings: Settings, credential: str | None, table: Table, row_id: uuid.UUID) -> Any:
    """The caller's own row of ``table`` with id ``row_id`` (a Core row, or None), after the same
    check as ``authenticate()`` (401 otherwise).

    For the reads clients poll. With an access token, one Core statement checks the user and
    fetches the row together on a pooled connection, without an ORM session: about half the
    cost of the session path, which API keys (and a refused token) take."""
    user_id = access_token_user_id(credential, jwt_secret=jwt_secret(settings)) if credential else None
    if user_id is None:
        with new_session() as session:
            user = authenticate(request, session, settings, credential)
            query = select(table).where(table.c.id == row_id, table.c.owner_id == user.id)
            row = session.execute(query).first()
            session.commit()
            return row
    with get_engine().connect() as connection:
        row = connection.execute(_user_and_owned(table), {"user_id": user_id, "row_id": row_id}).first()
        connection.commit()  # ends the read before the connection goes back to the pool
    if row is None or not row.user_is_active:
        raise unauthorized(credential)
    request.state.user_id = str(user_id)
    return row if row.id is not None else None


@cache
def _user_and_owned(table: Table) -> Any:
    """Built once per table: building a statement costs more than running it (~0.25 ms)."""
    users = User.__table__
    owned = and_(table.c.id == bindparam("row_id"), table.c.owner_id == users.c.id)
    return (
        select(users.c.is_active.label("user_is_active"), table)
        .select_from(users.outerjoin(table, owned))
        .where(users.c.id == bindparam("user_id"))
    )


def unauthorized(credential: str | None) -> HTTPException:
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
