"""Images in a local folder; URLs are signed links served by the app's ``/files`` route."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

from app.core.config import REPO_ROOT, Settings
from app.core.secrets import jwt_secret
from app.core.security import sign, signature_matches
from app.storage import StorageError, UploadTarget


def _message(method: str, key: str, expires: int, max_bytes: int | None = None) -> str:
    return f"{method}\n{key}\n{expires}\n{max_bytes or ''}"


class LocalStorage:
    def __init__(self, settings: Settings) -> None:
        root = Path(settings.storage_dir)
        self.root = root if root.is_absolute() else REPO_ROOT / root
        self.settings = settings

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("key escapes the storage folder")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        # A temp name of its own per write: identical concurrent writes never share one.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)  # readers never see half a file
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError.from_os_error(exc) from exc

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def _signed_url(self, method: str, key: str, max_bytes: int | None = None) -> str:
        expires = int(time.time()) + self.settings.url_expiry_seconds
        params: dict[str, str | int] = {"expires": expires}
        if max_bytes is not None:
            params["max_bytes"] = max_bytes
        params["signature"] = sign(_message(method, key, expires, max_bytes), jwt_secret(self.settings))
        base = self.settings.public_base_url.rstrip("/") + self.settings.api_base_path
        return f"{base}/files/{quote(key)}?{urlencode(params)}"

    def url(self, key: str) -> str:
        return self._signed_url("GET", key)

    def upload_target(self, key: str, *, content_type: str, max_bytes: int) -> UploadTarget:
        return UploadTarget(
            method="PUT", url=self._signed_url("PUT", key, max_bytes), headers={"Content-Type": content_type}
        )

    def verify(self, method: str, key: str, expires: int, signature: str, max_bytes: int | None = None) -> bool:
        if expires < time.time():
            return False
        return signature_matches(_message(method, key, expires, max_bytes), signature, jwt_secret(self.settings))
