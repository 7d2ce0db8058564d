from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.core.schemas import REQUEST_CONFIG, SafeStr


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


# JSON Schema patterns have no case-insensitive flag: spell each letter both ways.
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_NOT_SPECIAL_USE = r"^(?!.*[.@](?:" + "|".join(_any_case(word) for word in _SPECIAL_USE) + r")\.?$)"


class UserCreate(BaseModel):
    model_config = REQUEST_CONFIG

    email: EmailStr = Field(
        max_length=320,
        # email-validator refuses special-use domains (RFC 6761): say so in the schema.
        json_schema_extra={"pattern": _NOT_SPECIAL_USE},
    )
    password: SafeStr = Field(min_length=8, max_length=256)
    full_name: SafeStr | None = Field(default=None, max_length=255)
    is_admin: bool = False


class UserUpdate(BaseModel):
    """What an admin may change about a user: disable one (their tokens and keys stop working
    at once), or enable one again."""

    model_config = REQUEST_CONFIG

    is_active: bool


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime
