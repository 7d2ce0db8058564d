"""Checking, normalising and storing images."""

from __future__ import annotations

import hashlib
import io
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.images.models import Image, ImageStatus
from app.storage import Storage

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


class ImageRejected(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass
class CheckedImage:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Verify an upload and apply its EXIF orientation.

    The pixel count is read from the header and refused before anything is decoded, so a
    decompression bomb never expands in memory.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ImageRejected(413, f"file is larger than the limit of {max_bytes} bytes")
    if not data:
        raise ImageRejected(415, "empty file: expected a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            # Pillow warns about big images on open; the pixel limit below decides instead.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            opened = PILImage.open(io.BytesIO(data))
        with opened as image:
            if image.format == "MPO":  # a camera JPEG with extra frames: every viewer shows the first
                image.format = "JPEG"
            if image.format not in CONTENT_TYPES:
                raise ImageRejected(415, f"unsupported image format {image.format}: expected PNG, JPEG or WebP")
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    413, f"image has {width}x{height} pixels, more than the limit of {max_pixels} pixels"
                )
            image.load()
            fmt = image.format
            orientation = image.getexif().get(0x0112, 1)
            normalised = to_8bit(image)
            if orientation not in (None, 1):
                normalised = ImageOps.exif_transpose(normalised)
            if normalised is not image or image.mode not in {"RGB", "RGBA", "L", "LA"}:
                # Stored as 8-bit RGB(A)/L, so every reader (and model) sees the right colours.
                if fmt == "JPEG" and normalised.mode not in {"RGB", "L"}:
                    normalised = normalised.convert("RGB")
                buffer = io.BytesIO()
                save_kwargs = {"quality": 95} if fmt in {"JPEG", "WEBP"} else {}
                normalised.save(buffer, format=fmt, **save_kwargs)
                data = buffer.getvalue()
                width, height = normalised.size
    except ImageRejected:
        raise
    except PILImage.DecompressionBombError as exc:
        raise ImageRejected(413, f"image has more pixels than the limit of {max_pixels}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(415, "not an image: expected a PNG, JPEG or WebP file") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(422, f"the image could not be decoded: {exc}") from exc
    return CheckedImage(data=data, format=fmt, width=width, height=height)


def to_8bit(image: PILImage) -> PILImage:
    """``image`` as 8-bit L, LA, RGB or RGBA with its values scaled, not clipped.

    ``convert("RGB")`` clips a 16-bit PNG's values at 255 (an almost white picture); CMYK,
    palette and other modes are converted the ordinary way. An image already in an 8-bit
    mode comes back as itself.
    """
    import numpy as np
    from PIL import Image as PILImageModule

    if image.mode in {"RGB", "RGBA", "L", "LA"}:
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        scale = 257.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 1.0
        return PILImageModule.fromarray(np.clip(np.rint(values / scale), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        high = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return PILImageModule.fromarray(np.clip(np.rint(values / high * 255), 0, 255).astype(np.uint8), mode="L")
    has_alpha = image.mode in {"PA", "La", "RGBa"} or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def storage_key(owner_id: uuid.UUID, image_id: uuid.UUID, fmt: str) -> str:
    return f"images/{owner_id}/{image_id}.{EXTENSIONS[fmt]}"


def upload_key(owner_id: uuid.UUID, image_id: uuid.UUID) -> str:
    # Under uploads/: the bucket's lifecycle rule expires what is never completed.
    return f"uploads/{owner_id}/{image_id}"


def store_image(
    session: Session, storage: Storage, *, owner_id: uuid.UUID, checked: CheckedImage, image: Image | None = None
) -> Image:
    """Write the bytes, then the row; if the row cannot be written the bytes are removed."""
    image = image or Image(id=uuid.uuid4(), owner_id=owner_id)
    key = storage_key(owner_id, image.id, checked.format)
    storage.put(key, checked.data, checked.content_type)
    try:
        image.status = ImageStatus.READY
        image.storage_key = key
        image.format = checked.format
        image.content_type = checked.content_type
        image.width, image.height = checked.width, checked.height
        image.bytes = len(checked.data)
        image.sha256 = hashlib.sha256(checked.data).hexdigest()
        session.add(image)
        session.commit()
    except Exception:
        session.rollback()
        storage.delete(key)
        raise
    return image


def get_owned_image(session: Session, *, owner_id: uuid.UUID, image_id: uuid.UUID) -> Image | None:
    return session.scalar(select(Image).where(Image.id == image_id, Image.owner_id == owner_id))


def delete_image(session: Session, storage: Storage, *, image: Image) -> None:
    key = image.storage_key
    session.delete(image)
    session.commit()
    storage.delete(key)


# A direct upload never completed within this long is dropped (row and bytes). S3's lifecycle
# rule expires the bytes under uploads/ in aws mode; this also removes the row, in both modes.
PENDING_UPLOAD_TTL = timedelta(days=1)


def expire_pending_uploads(session: Session, storage: Storage, *, owner_id: uuid.UUID, now: datetime) -> int:
    stale = list(
        session.scalars(
            select(Image).where(
                Image.owner_id == owner_id,
                Image.status == ImageStatus.PENDING_UPLOAD,
                Image.created_at < now - PENDING_UPLOAD_TTL,
            )
        )
    )
    for image in stale:
        storage.delete(image.storage_key)
        session.delete(image)
    if stale:
        session.commit()
    return len(stale)
