"""Factory helpers for tests: users, credentials, images."""

from __future__ import annotations

import io
import uuid
from typing import Any

from sqlalchemy.orm import Session

from app.users.models import User
from app.users.service import create_user as _create_user

DEFAULT_PASSWORD = "correct horse battery staple"


def create_user(
    session: Session, *, email: str | None = None, password: str = DEFAULT_PASSWORD, is_admin: bool = False
) -> User:
    user = _create_user(
        session, email=email or f"user-{uuid.uuid4().hex[:8]}@example.com", password=password, is_admin=is_admin
    )
    session.commit()
    user.plain_password = password  # type: ignore[attr-defined]  # for auth_headers
    return user


def token_for(client: Any, email: str, password: str = DEFAULT_PASSWORD) -> str:
    response = client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def auth_headers(client: Any, user: User) -> dict[str, str]:
    password = getattr(user, "plain_password", DEFAULT_PASSWORD)
    return {"Authorization": f"Bearer {token_for(client, user.email, password)}"}


def png_bytes(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG", **save: Any
) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload_image(
    client: Any,
    headers: dict[str, str],
    data: bytes | None = None,
    filename: str = "photo.png",
    content_type: str = "image/png",
) -> dict[str, Any]:
    response = client.post("/v1/images", headers=headers, files={"file": (filename, data or png_bytes(), content_type)})
    assert response.status_code == 201, response.text
    return response.json()


def count_threadpool_hops(monkeypatch: Any) -> list[str]:
    """Patches ``app.api.deps.run_in_threadpool`` to note each call in the returned list (the
    async routes' blocking work goes through it under a server, not under Mangum)."""
    import app.api.deps as deps

    hops: list[str] = []
    real = deps.run_in_threadpool

    async def counting(work: Any) -> Any:
        hops.append("threadpool")
        return await real(work)

    monkeypatch.setattr(deps, "run_in_threadpool", counting)
    return hops
