from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

Box = Annotated[list[StrictInt], Field(min_length=4, max_length=4, description="[x1, y1, x2, y2]")]


class MaskSpec(BaseModel):
    """Exactly one of the four ways to say which region to regenerate."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"boxes": [[120, 80, 260, 210]]}]},
    )

    image_id: uuid.UUID | None = Field(
        None, description="An uploaded PNG mask (same size as the image; nonzero pixels are regenerated)."
    )
    png_base64: str | None = Field(
        None, description="A base64 PNG mask (or a data:image/png;base64 URL); same rule. JPEG is refused."
    )
    boxes: list[Box] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Boxes in pixels, x2/y2 exclusive, inside the image: 0 <= x1 < x2 <= width.",
    )
    detection_ids: list[uuid.UUID] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Detections of this image from POST /v1/detections: the union of their instance masks "
        "(their boxes where a detection has no mask).",
    )
    grow_pixels: int = Field(
        3,
        ge=0,
        le=64,
        description="detection_ids only: grow the masks by this many pixels (covers anti-aliased edges).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> MaskSpec:
        given = [name for name in ("image_id", "png_base64", "boxes", "detection_ids") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "mask needs exactly one of image_id, png_base64, boxes, detection_ids"
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self


class InpaintingCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "image_id": "3f0c7a4e-2b1d-4c6e-9a8f-1d2e3f4a5b6c",
                    "prompt": "a wooden park bench",
                    "mask": {"boxes": [[120, 80, 260, 210]]},
                    "seed": 42,
                }
            ]
        },
    )

    image_id: uuid.UUID
    prompt: str = Field(min_length=1, max_length=1000)
    negative_prompt: str | None = Field(None, max_length=1000)
    mask: MaskSpec
    num_inference_steps: int | None = Field(None, ge=1, le=100, description="Default 25 (or the model's default).")
    guidance_scale: float | None = Field(None, ge=0, le=20, description="Default 7.5 (or the model's default).")
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description=(
            "Honoured by deterministic models (opencv): identical requests with a seed reuse the "
            "result. The SD2 endpoint ignores it: every request is a new sample."
        ),
    )
    model: str | None = Field(None, description="An inpaint model from GET /v1/models; default: the default one.")
