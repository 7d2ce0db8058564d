"""How errors are answered: one JSON shape, always encodable, and a truthful ``Allow``.

Validation errors echo what the client sent, and that may be what made the request invalid:
a lone surrogate cannot be encoded as UTF-8, NaN is not JSON. Every echoed value is made
encodable first, so a 422 can never turn into a 500.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.core.schemas import ERROR_DESCRIPTIONS, ErrorMessage
from app.core.security import HashingBusy


def json_safe(value: Any) -> Any:
    """``value`` with every string valid UTF-8 and every float finite (else its text)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in app.router.routes)
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = json_safe(jsonable_encoder(exc.errors()))
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        detail = json_safe(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(HashingBusy)
    async def hashing_busy(_request: Request, _exc: HashingBusy) -> JSONResponse:
        return JSONResponse(
            {"detail": "too many sign-ins at once: try again shortly"}, status_code=503, headers={"Retry-After": "1"}
        )

    default_openapi = app.openapi  # keeps FastAPI's servers (stage prefix), tags, versions

    def openapi() -> dict[str, Any]:
        app.state.routes.load_all()  # the schema of the whole API, whatever has been asked for
        if app.openapi_schema is None:
            schema = default_openapi()  # also caches it in app.openapi_schema
            _document_error_detail(schema)
            _document_common_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_error_detail(schema: dict[str, Any]) -> None:
    """A 422 is a list of field errors from validation, or one message from a later check
    (a mask outside the image, an unknown model): say both."""
    validation = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation:
        items = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "title": "Detail",
            "anyOf": [{k: v for k, v in items.items() if k != "title"}, {"type": "string"}],
        }
        validation["required"] = ["detail"]


def _document_common_errors(schema: dict[str, Any]) -> None:
    """Answers every operation of a kind can give, whatever its route says: a body can be
    unreadable (400) or too large (413, from the middleware); credentials can be missing (401)."""
    ref = {"$ref": "#/components/schemas/ErrorMessage"}
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorMessage"] = ErrorMessage.model_json_schema()
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            codes = []
            if "requestBody" in operation:
                codes += [400, 413]
            if operation.get("security"):
                codes.append(401)
            for code in codes:
                operation["responses"].setdefault(
                    str(code),
                    {"description": ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}},
                )
