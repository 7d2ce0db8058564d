from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.auth import service, throttle
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Token
from app.core.db import utcnow
from app.core.schemas import NO_NUL_PATTERN, error_responses
from app.core.secrets import jwt_secret
from app.core.security import create_access_token
from app.users import service as users
from app.users.models import ApiKey

router = APIRouter(tags=["auth"])


class LoginForm:
    """The OAuth2 password flow's form, with text that can be stored and compared."""

    def __init__(
        self,
        username: Annotated[
            str, Form(min_length=1, max_length=320, pattern=NO_NUL_PATTERN, description="The email address.")
        ],
        password: Annotated[str, Form(min_length=1, max_length=256, pattern=NO_NUL_PATTERN)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(max_length=1000, pattern=NO_NUL_PATTERN)] = "",
        client_id: Annotated[str | None, Form(max_length=255, pattern=NO_NUL_PATTERN)] = None,
        client_secret: Annotated[str | None, Form(max_length=255, pattern=NO_NUL_PATTERN)] = None,
    ) -> None:
        self.username = username
        self.password = password


@router.post(
    "/auth/token",
    response_model=Token,
    responses=error_responses(401, 429, 503),
)
def login(form: Annotated[LoginForm, Depends()], request: Request, session: SessionDep, settings: SettingsDep) -> Token:
    """OAuth2 password flow: `username` is the email address.

    Failed logins are counted per account and per client: past the limit, logins for that
    account (or from that client) are refused with 429 and `Retry-After` for a while, even
    with the right password.
    """
    now = utcnow()
    keys = throttle.login_keys(settings, email=form.username, client=request.client.host if request.client else None)
    wait = throttle.retry_after(session, keys, now=now)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed logins: try again later",
            headers={"Retry-After": str(wait)},
        )
    user = users.authenticate(session, email=form.username, password=form.password)
    if user is None or not user.is_active:
        throttle.record_failure(session, settings, keys, now=now)
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "incorrect email or password", headers={"WWW-Authenticate": "Bearer"}
        )
    throttle.record_success(session, keys)
    session.commit()  # and a rehashed password, if any
    token, expires_in = create_access_token(
        subject=str(user.id),
        secret=jwt_secret(settings),
        minutes=settings.access_token_minutes,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return Token(access_token=token, expires_in=expires_in)


@router.post(
    "/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED, responses=error_responses(401)
)
def create_api_key(body: ApiKeyCreate, session: SessionDep, user: CurrentUser) -> ApiKeyCreated:
    api_key, plain = service.create_api_key(session, user=user, name=body.name)
    session.commit()
    return ApiKeyCreated(**ApiKeyPublic.model_validate(api_key).model_dump(), key=plain)


@router.get("/api-keys", response_model=list[ApiKeyPublic], responses=error_responses(401))
def list_api_keys(session: SessionDep, user: CurrentUser) -> list[ApiKey]:
    return service.list_api_keys(session, user=user)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 404))
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    api_key = service.get_api_key(session, user=user, key_id=key_id)
    if api_key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "API key not found")
    service.revoke_api_key(session, api_key=api_key)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
