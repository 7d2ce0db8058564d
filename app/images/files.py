"""Local mode's stand-in for presigned S3 URLs: signed links to files in the storage folder."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import StorageDep
from app.storage.local import LocalStorage

router = APIRouter(prefix="/files", tags=["files"], include_in_schema=False)


def _path_or_404(local: LocalStorage, key: str) -> Path:
    try:
        return local.path(key)
    except ValueError as exc:  # the key escapes the storage folder: as if it did not exist
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found") from exc


def _local(storage: StorageDep) -> LocalStorage:
    if not isinstance(storage, LocalStorage):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return storage


@router.get("/{key:path}")
def read_file(key: str, expires: int, signature: str, storage: StorageDep) -> FileResponse:
    local = _local(storage)
    if not local.verify("GET", key, expires, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or expired link")
    path = _path_or_404(local, key)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.put("/{key:path}", status_code=status.HTTP_204_NO_CONTENT)
async def write_file(
    key: str, expires: int, signature: str, max_bytes: int, request: Request, storage: StorageDep
) -> Response:
    local = _local(storage)
    if not local.verify("PUT", key, expires, signature, max_bytes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or expired link")
    if not await run_in_threadpool(_upload_still_open, key):
        raise HTTPException(status.HTTP_409_CONFLICT, "this upload has been completed or abandoned")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"larger than {max_bytes} bytes")
    if not body:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "empty body")
    _path_or_404(local, key)
    local.put(key, bytes(body), request.headers.get("content-type", "application/octet-stream"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _upload_still_open(key: str) -> bool:
    """A direct-upload link writes only while its image waits for ``/complete``."""
    from sqlalchemy import select

    from app.core.db import new_session
    from app.images.models import Image, ImageStatus

    with new_session() as session:
        status_ = session.scalar(select(Image.status).where(Image.storage_key == key))
    return status_ == ImageStatus.PENDING_UPLOAD
