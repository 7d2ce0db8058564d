from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from app.api.deps import AdminUser, CurrentUser, SessionDep
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, paginate
from app.users import service
from app.users.models import User
from app.users.schemas import UserCreate, UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> User:
    return user


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _admin: AdminUser) -> User:
    if service.get_user_by_email(session, email=body.email):
        raise HTTPException(status.HTTP_409_CONFLICT, "a user with this email already exists")
    user = service.create_user(
        session, email=body.email, password=body.password, full_name=body.full_name, is_admin=body.is_admin
    )
    session.commit()
    return user


@router.get("", response_model=Page[UserPublic])
def list_users(
    session: SessionDep,
    _admin: AdminUser,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> Page[UserPublic]:
    rows, next_cursor = paginate(session, select(User), User, cursor=cursor, limit=limit)
    return Page(items=[UserPublic.model_validate(row) for row in rows], next_cursor=next_cursor)
