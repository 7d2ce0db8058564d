"""Where image bytes live: a local folder, or S3. Chosen by configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from app.core.config import Settings, get_settings


@dataclass
class UploadTarget:
    """How a client sends bytes straight to storage (never through API Gateway/Lambda)."""

    method: str  # "POST" (S3 presigned POST: multipart form with `fields` then `file`) or "PUT"
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class StorageError(Exception):
    """Storage could not take a write. ``full`` (no space or quota left) answers 507,
    anything else (read-only, unreachable) 503; the message carries no server paths."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.full = full

    @classmethod
    def from_os_error(cls, exc: OSError) -> StorageError:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return cls("storage is full", full=True)
        if exc.errno == errno.EROFS:
            return cls("storage is read-only")
        return cls(f"storage refused the write ({exc.strerror or 'I/O error'})")


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        ...

    def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str:
        """A time-limited URL to GET the object."""
        ...

    def upload_target(self, key: str, *, content_type: str, max_bytes: int) -> UploadTarget: ...


def build_storage(settings: Settings) -> Storage:
    if settings.s3_bucket:
        from app.storage.s3 import S3Storage

        return S3Storage(settings)
    from app.storage.local import LocalStorage

    return LocalStorage(settings)


@lru_cache
def get_storage() -> Storage:
    return build_storage(get_settings())
