"""Keyset (cursor) pagination over ``(created_at, id)``, newest first."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel
from sqlalchemy import Select, tuple_

T = TypeVar("T")

DEFAULT_LIMIT = 50
CURSOR_PATTERN = r"^[0-9]{16}_[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """``<microseconds since 1970, 16 digits>_<id as 32 hex digits>``: every string of that
    shape (the schema's pattern) names a position, so none can fail later."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros:016d}_{row_id.hex}"


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor names; ``ValueError`` for anything else."""
    if not _CURSOR.fullmatch(cursor):
        raise ValueError("invalid cursor: use next_cursor from the previous page")
    micros, hex_id = cursor.split("_")
    return _EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id)


def _valid_cursor(cursor: str | None) -> str | None:
    if cursor is not None:
        decode_cursor(cursor)
    return cursor


Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description="`next_cursor` of the previous page (opaque); omit for the first page.",
    ),
    AfterValidator(_valid_cursor),
]


def paginate(
    session: Any, query: Select[Any], model: Any, *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Rows of ``query`` after ``cursor``, and the cursor of the next page (None at the end)."""
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(tuple_(model.created_at, model.id) < tuple_(created_at, row_id))
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, None
