"""Building blocks of every request and error schema.

Text a client sends ends up in PostgreSQL and in JSON answers: a NUL character cannot be
stored in either a ``text`` or a ``json`` value, and a lone surrogate cannot be encoded as
UTF-8. Both are refused up front by a pattern, which the OpenAPI schema shows; pydantic
refuses a lone surrogate as soon as a pattern applies. Numbers refuse NaN and Infinity
(``REQUEST_CONFIG``): Python's JSON parser accepts them, JSON itself does not.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

# JSON Schema patterns are unanchored searches, as in pydantic: anchor them.
NO_NUL_PATTERN = r"^[^\u0000]*$"
# At least one character that is neither NUL nor ASCII whitespace (the same set in Python,
# ECMAScript and Rust regexes, so the schema and the server agree exactly).
NOT_BLANK_PATTERN = r"^[^\u0000]*[^\u0000\t\n\v\f\r ][^\u0000]*$"

SafeStr = Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)]
NotBlankStr = Annotated[str, StringConstraints(pattern=NOT_BLANK_PATTERN)]

REQUEST_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorMessage(BaseModel):
    """Every 4xx/5xx answer other than a validation error."""

    detail: str
    request_id: str | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error answers an operation can give."""
    return {code: {"model": ErrorMessage, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


ERROR_DESCRIPTIONS = {
    400: "The body cannot be read (e.g. not valid JSON or UTF-8).",
    401: "No credentials, or invalid or expired ones.",
    403: "Authenticated, but not allowed.",
    404: "Not found, or not yours.",
    409: "Conflicts with the resource's current state.",
    413: "The body or the image is larger than the limit.",
    415: "Not a PNG, JPEG or WebP image.",
    429: "Too many requests or quota used up; see Retry-After.",
    503: "Overloaded or a backend is unavailable; see Retry-After.",
}
