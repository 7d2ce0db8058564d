from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from app.core.schemas import NOT_BLANK_PATTERN, REQUEST_CONFIG, SafeStr

Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK_PATTERN)
]


class DetectionCreate(BaseModel):
    model_config = REQUEST_CONFIG

    image_id: uuid.UUID
    model: SafeStr | None = Field(None, max_length=100, description="A locate model name; the default when omitted.")
    score_threshold: float | None = Field(
        None, ge=0, le=1, description="Keep detections scoring at least this (default: the model's, else 0.5)."
    )
    labels: list[Label] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description='Keep only these class names (case-insensitive), e.g. ["person", "dog"]. '
        'The OpenCV locator labels everything "object".',
    )


class DetectionPublic(BaseModel):
    id: uuid.UUID
    label: str
    score: float
    box: list[int] = Field(description="[x1, y1, x2, y2] in pixels of the image; x2 and y2 are exclusive.")
    mask: dict[str, Any] | None = Field(
        None,
        description='Instance mask, compressed COCO RLE {"size": [height, width], "counts": "..."} '
        "(column-major runs, background first), when the model gives one.",
    )


class ImageDetections(BaseModel):
    image_id: uuid.UUID
    job_id: uuid.UUID | None = Field(description="The locate job these come from; null when none succeeded yet.")
    model: str | None
    width: int | None
    height: int | None
    completed_at: datetime | None
    detections: list[DetectionPublic]
