from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select

from app.api.deps import AdminUser, CurrentUser, SessionDep, StorageDep
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, paginate
from app.core.schemas import error_responses
from app.users import service
from app.users.models import User
from app.users.schemas import UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> User:
    return user


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED, responses=error_responses(403, 409))
def create_user(body: UserCreate, session: SessionDep, _admin: AdminUser) -> User:
    if service.get_user_by_email(session, email=body.email):
        raise HTTPException(status.HTTP_409_CONFLICT, "a user with this email already exists")
    user = service.create_user(
        session, email=body.email, password=body.password, full_name=body.full_name, is_admin=body.is_admin
    )
    session.commit()
    return user


@router.get("", response_model=Page[UserPublic], responses=error_responses(403))
def list_users(
    session: SessionDep,
    _admin: AdminUser,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> Page[UserPublic]:
    rows, next_cursor = paginate(session, select(User), User, cursor=cursor, limit=limit)
    return Page(items=[UserPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


def _other_user_or_404(session: SessionDep, admin: User, user_id: uuid.UUID) -> User:
    user = service.get_user(session, user_id=user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    if user.id == admin.id:
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot disable or delete yourself")
    return user


@router.patch("/{user_id}", response_model=UserPublic, responses=error_responses(403, 404, 409))
def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep, admin: AdminUser) -> User:
    """Disable a user (`{"is_active": false}`): their tokens and API keys stop working at once
    and they cannot sign in; their images and jobs are kept. `true` enables them again."""
    user = _other_user_or_404(session, admin, user_id)
    user.is_active = body.is_active
    session.commit()
    return user


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403, 404, 409))
def delete_user(user_id: uuid.UUID, session: SessionDep, storage: StorageDep, admin: AdminUser) -> Response:
    """Delete a user with everything of theirs: API keys, images (and their files), jobs,
    detections, quota counters."""
    user = _other_user_or_404(session, admin, user_id)
    service.delete_user(session, storage, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
