from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ModelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    backend: str
    description: str
    defaults: dict[str, Any]
    is_default: bool
