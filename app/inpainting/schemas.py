from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.core.schemas import REQUEST_CONFIG, NotBlankStr, SafeStr

Box = Annotated[list[StrictInt], Field(min_length=4, max_length=4, description="[x1, y1, x2, y2]")]

MASK_SOURCES = ("image_id", "png_base64", "boxes", "detection_ids")


def _absent_by_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # the default is "not given", never null


class MaskSpec(BaseModel):
    """Exactly one of the four ways to say which region to regenerate."""

    model_config = {
        **REQUEST_CONFIG,
        "json_schema_extra": {
            "examples": [{"boxes": [[120, 80, 260, 210]]}],
            # The "exactly one source" rule, for clients and schema-driven tools alike.
            "oneOf": [{"required": [name]} for name in MASK_SOURCES],
        },
    }

    # Absent, never null: a null source would count as given under the schema's oneOf.
    image_id: uuid.UUID | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="An uploaded PNG mask (same size as the image). Nonzero pixels are regenerated; grey "
        "values blend the new pixels with the old (a soft edge), white replaces them.",
    )
    png_base64: Annotated[SafeStr, Field(min_length=1)] | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="A base64 PNG mask (or a data:image/png;base64 URL); same rules. JPEG is refused.",
    )
    boxes: Annotated[list[Box], Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="Boxes in pixels, x2/y2 exclusive, inside the image: 0 <= x1 < x2 <= width.",
    )
    detection_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="Detections of this image from POST /v1/detections: the union of their instance masks "
        "(their boxes where a detection has no mask).",
    )
    grow_pixels: int = Field(
        3,
        ge=0,
        le=64,
        description="detection_ids only: grow the masks by this many pixels (covers anti-aliased edges).",
    )

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [name for name in MASK_SOURCES if name in data]
            if len(given) != 1:
                raise ValueError(
                    "mask needs exactly one of image_id, png_base64, boxes, detection_ids"
                    + (f"; got {', '.join(given)}" if given else "")
                )
            if data[given[0]] is None:
                raise ValueError(f"mask: {given[0]} must not be null")
        return data


OutputFormat = Literal["png", "jpeg", "webp"]


class InpaintingCreate(BaseModel):
    model_config = {
        **REQUEST_CONFIG,
        "json_schema_extra": {
            "examples": [
                {
                    "image_id": "3f0c7a4e-2b1d-4c6e-9a8f-1d2e3f4a5b6c",
                    "prompt": "a wooden park bench",
                    "mask": {"boxes": [[120, 80, 260, 210]]},
                    "seed": 42,
                }
            ]
        },
    }

    image_id: uuid.UUID
    prompt: NotBlankStr = Field(min_length=1, max_length=1000, description="What to draw; not blank.")
    negative_prompt: SafeStr | None = Field(None, max_length=1000)
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
    model: SafeStr | None = Field(
        None, max_length=100, description="An inpaint model from GET /v1/models; default: the default one."
    )
    output_format: OutputFormat = Field(
        "png",
        description="`png` (default): lossless; every pixel outside the mask is the input's own. "
        "`jpeg` / `webp`: typically 3-10x smaller, but lossy everywhere: pixels outside the mask "
        "change slightly too (compression noise), and `jpeg` drops transparency.",
    )
    output_quality: int = Field(
        90, ge=50, le=100, description="`jpeg` / `webp` only: encoder quality (higher: larger, closer)."
    )
