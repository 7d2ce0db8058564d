from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Response, UploadFile, status
from sqlalchemy import Select, bindparam, select

from app.api.deps import CurrentUser, SessionDep, SettingsDep, StorageDep
from app.core.db import utcnow
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, paginate
from app.core.schemas import error_responses
from app.images import service
from app.images.models import Image, ImageStatus
from app.images.schemas import (
    DirectUpload,
    DirectUploadCreate,
    ImagePublic,
    UploadTargetPublic,
)
from app.storage import Storage

router = APIRouter(prefix="/images", tags=["images"])


@lru_cache
def _owned_image() -> Select[tuple[Image]]:
    """``service.get_owned_image``'s query, built once with bound parameters: on the submit
    path building it cost twice what running it does."""
    return select(Image).where(Image.id == bindparam("image_id"), Image.owner_id == bindparam("owner_id"))


def to_public(image: Image, storage: Storage) -> ImagePublic:
    url = storage.url(image.storage_key) if image.status == ImageStatus.READY else None
    return ImagePublic(
        id=image.id,
        status=image.status,
        width=image.width,
        height=image.height,
        format=image.format,
        bytes=image.bytes,
        sha256=image.sha256,
        created_at=image.created_at,
        url=url,
    )


def owned_image_or_404(session: SessionDep, user: CurrentUser, image_id: uuid.UUID) -> Image:
    image = session.scalars(_owned_image(), {"image_id": image_id, "owner_id": user.id}).first()
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "image not found")
    return image


def _check(data: bytes, max_bytes: int, max_pixels: int) -> service.CheckedImage:
    try:
        return service.check_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    except service.ImageRejected as exc:
        raise HTTPException(exc.status_code, exc.detail) from exc


@router.post("", response_model=ImagePublic, status_code=status.HTTP_201_CREATED, responses=error_responses(413, 415))
def upload_image(
    file: Annotated[UploadFile, File(description="A PNG, JPEG or WebP image.")],
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> ImagePublic:
    """Upload through the API (up to MAX_UPLOAD_BYTES; larger files use /v1/images/uploads)."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"file is larger than the limit of {settings.max_upload_bytes} bytes for uploads through the API; "
            f"upload it directly instead: POST /v1/images/uploads (up to {settings.max_direct_upload_bytes} bytes)",
        )
    checked = _check(data, settings.max_upload_bytes, settings.max_image_pixels)
    image = service.store_image(session, storage, owner_id=user.id, checked=checked)
    return to_public(image, storage)


@router.post(
    "/uploads", response_model=DirectUpload, status_code=status.HTTP_201_CREATED, responses=error_responses(413)
)
def start_direct_upload(
    body: DirectUploadCreate, session: SessionDep, storage: StorageDep, settings: SettingsDep, user: CurrentUser
) -> DirectUpload:
    """Step 1 of a direct upload: a presigned target the client sends the bytes to.

    Step 2 is `POST /v1/images/{id}/complete`, which checks the bytes like a normal upload.
    """
    if body.bytes > settings.max_direct_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"file is larger than the limit of {settings.max_direct_upload_bytes} bytes",
        )
    service.expire_pending_uploads(session, storage, owner_id=user.id, now=utcnow())
    image = Image(id=uuid.uuid4(), owner_id=user.id, status=ImageStatus.PENDING_UPLOAD)
    image.storage_key = service.upload_key(user.id, image.id)
    session.add(image)
    session.commit()
    target = storage.upload_target(
        image.storage_key, content_type=body.content_type, max_bytes=settings.max_direct_upload_bytes
    )
    return DirectUpload(
        image=to_public(image, storage),
        upload=UploadTargetPublic(method=target.method, url=target.url, fields=target.fields, headers=target.headers),
    )


@router.post("/{image_id:uuid}/complete", response_model=ImagePublic, responses=error_responses(404, 409, 413, 415))
def complete_direct_upload(
    image_id: uuid.UUID, session: SessionDep, storage: StorageDep, settings: SettingsDep, user: CurrentUser
) -> ImagePublic:
    image = owned_image_or_404(session, user, image_id)
    if image.status == ImageStatus.READY:
        return to_public(image, storage)
    upload_key = image.storage_key
    size = storage.size(upload_key)
    if size is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "nothing has been uploaded for this image yet")
    try:
        if size > settings.max_direct_upload_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"file is larger than the limit of {settings.max_direct_upload_bytes} bytes",
            )
        checked = _check(storage.get(upload_key), settings.max_direct_upload_bytes, settings.max_image_pixels)
    except HTTPException:
        # A refused upload leaves nothing behind: neither the bytes nor the row.
        storage.delete(upload_key)
        session.delete(image)
        session.commit()
        raise
    service.store_image(session, storage, owner_id=user.id, checked=checked, image=image)
    storage.delete(upload_key)
    return to_public(image, storage)


@router.get("", response_model=Page[ImagePublic])
def list_images(
    session: SessionDep,
    storage: StorageDep,
    user: CurrentUser,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> Page[ImagePublic]:
    service.expire_pending_uploads(session, storage, owner_id=user.id, now=utcnow())
    query = select(Image).where(Image.owner_id == user.id)
    rows, next_cursor = paginate(session, query, Image, cursor=cursor, limit=limit)
    return Page(items=[to_public(row, storage) for row in rows], next_cursor=next_cursor)


@router.get("/{image_id:uuid}", response_model=ImagePublic, responses=error_responses(404))
def get_image(image_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: CurrentUser) -> ImagePublic:
    return to_public(owned_image_or_404(session, user, image_id), storage)


@router.delete("/{image_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
def delete_image(image_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: CurrentUser) -> Response:
    image = owned_image_or_404(session, user, image_id)
    service.delete_image(session, storage, image=image)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
