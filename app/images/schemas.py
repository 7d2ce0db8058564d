from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.schemas import REQUEST_CONFIG


class ImagePublic(BaseModel):
    id: uuid.UUID
    status: str
    width: int | None
    height: int | None
    format: str | None
    bytes: int | None
    sha256: str | None
    created_at: datetime
    url: str | None = Field(description="Time-limited URL of the image bytes (presigned in S3).")


class DirectUploadCreate(BaseModel):
    model_config = REQUEST_CONFIG

    content_type: Literal["image/png", "image/jpeg", "image/webp"]
    bytes: int = Field(gt=0, description="Size of the file that will be uploaded.")


class UploadTargetPublic(BaseModel):
    method: Literal["POST", "PUT"]
    url: str
    fields: dict[str, str] = Field(description="POST: form fields to send before the `file` field.")
    headers: dict[str, str] = Field(description="PUT: headers to send with the bytes.")


class DirectUpload(BaseModel):
    image: ImagePublic
    upload: UploadTargetPublic
