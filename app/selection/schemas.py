from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictInt, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.core.schemas import REQUEST_CONFIG

Box = Annotated[list[StrictInt], Field(min_length=4, max_length=4, description="[x1, y1, x2, y2], x2/y2 exclusive")]
Point = Annotated[list[StrictInt], Field(min_length=2, max_length=2, description="[x, y] in pixels")]


def _absent_by_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # the default is "not given", never null


class SelectionCreate(BaseModel):
    """A box around an object, or a point on it (or both): the object's own outline comes back."""

    model_config = {
        **REQUEST_CONFIG,
        "json_schema_extra": {
            "examples": [{"image_id": "3f0c7a4e-2b1d-4c6e-9a8f-1d2e3f4a5b6c", "box": [120, 80, 260, 210]}],
            # "A box, a point, or both", for clients and schema-driven tools alike.
            "anyOf": [{"required": ["box"]}, {"required": ["point"]}],
        },
    }

    image_id: uuid.UUID
    # Absent, never null: a null would count as given under the schema's anyOf.
    box: Box | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="A box around the object, inside the image: 0 <= x1 < x2 <= width.",
    )
    point: Point | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_absent_by_default,
        description="A pixel on the object (inside the box, when both are given).",
    )
    include_png: bool = Field(
        False, description="Also return the mask as a base64 PNG, ready for POST /v1/inpaintings' mask.png_base64."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_null_sources(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [name for name in ("box", "point") if name in data and data[name] is None]
            if nulls:
                raise ValueError(f"leave out {', '.join(nulls)} instead of sending null")
        return data

    @model_validator(mode="after")
    def _box_or_point(self) -> SelectionCreate:
        if self.box is None and self.point is None:
            raise ValueError("give a box [x1, y1, x2, y2], a point [x, y], or both")
        if self.box is not None and not (self.box[2] > self.box[0] and self.box[3] > self.box[1]):
            raise ValueError(f"box needs x2 > x1 and y2 > y1, got {self.box}")
        return self


class SelectionPublic(BaseModel):
    image_id: uuid.UUID
    width: int
    height: int
    box: list[int] = Field(description="The mask's bounding box [x1, y1, x2, y2] (x2/y2 exclusive).")
    area: int = Field(description="Selected pixels.")
    mask: dict[str, Any] = Field(
        description="The mask at the image's full size as compressed COCO RLE {size: [height, width], counts}, "
        "the same format as detections' masks."
    )
    png_base64: str | None = Field(None, description="With include_png: the mask as a base64 PNG (255 = selected).")
    work_size: list[int] = Field(description="[width, height] of the region GrabCut worked on (then upsampled).")
