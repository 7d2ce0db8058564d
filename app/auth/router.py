from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.auth import service
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Token
from app.core.secrets import jwt_secret
from app.core.security import create_access_token
from app.users import service as users
from app.users.models import ApiKey

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep) -> Token:
    """OAuth2 password flow: `username` is the email address."""
    user = users.authenticate(session, email=form.username, password=form.password)
    if user is None or not user.is_active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "incorrect email or password", headers={"WWW-Authenticate": "Bearer"}
        )
    session.commit()  # a rehashed password, if any
    token, expires_in = create_access_token(
        subject=str(user.id), secret=jwt_secret(settings), minutes=settings.access_token_minutes
    )
    return Token(access_token=token, expires_in=expires_in)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, session: SessionDep, user: CurrentUser) -> ApiKeyCreated:
    api_key, plain = service.create_api_key(session, user=user, name=body.name)
    session.commit()
    return ApiKeyCreated(**ApiKeyPublic.model_validate(api_key).model_dump(), key=plain)


@router.get("/api-keys", response_model=list[ApiKeyPublic])
def list_api_keys(session: SessionDep, user: CurrentUser) -> list[ApiKey]:
    return service.list_api_keys(session, user=user)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    api_key = service.get_api_key(session, user=user, key_id=key_id)
    if api_key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "API key not found")
    service.revoke_api_key(session, api_key=api_key)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
