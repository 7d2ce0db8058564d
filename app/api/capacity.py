"""Overload and database faults answer 503 with ``Retry-After``, fast, never a hang or a 500.

The local server admits at most ``max_concurrent_requests`` requests into the app at once; the
database pool holds one connection for each of them (see ``app.core.db.pool_sizing``) and the
threadpool has room for all of them, so an admitted request never waits for a connection that
another request holds while it waits for a thread. A request that finds no free slot within
``admission_wait_seconds`` is refused before any work is done (nothing is created for a client
that has given up). ``/health`` is never queued behind the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.middleware import TrackedSend
from app.core.logging import request_id_var
from app.storage import StorageError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
_UNGATED_PATHS = frozenset({"/health"})


def service_unavailable(detail: str, retry_after: int = RETRY_AFTER_SECONDS) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "request_id": request_id_var.get()},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


class AdmissionMiddleware:
    """A pure ASGI gate: at most ``limit`` requests inside the app, others wait briefly or get 503."""

    def __init__(self, app: Any, *, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").rstrip("/") in _UNGATED_PATHS:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created on the server's own event loop
            self._slots = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            body = json.dumps({"detail": "the server is busy: retry shortly"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()


class DatabaseFaultMiddleware:
    """Pure ASGI: a database that cannot be reached (or a pool with no free connection) answers
    503 + Retry-After, never a 500. A middleware rather than an exception handler keyed on
    SQLAlchemy's classes, so the API handler need not import SQLAlchemy before a request uses it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started or not _is_database_unavailable(exc):
                raise  # RequestContextMiddleware answers 500 with the request id
            logger.warning("database unavailable", extra={"error": type(exc).__name__})
            await service_unavailable("the database is unavailable: retry shortly")(scope, receive, send)


def _is_database_unavailable(exc: BaseException) -> bool:
    if "sqlalchemy" not in sys.modules:  # nothing has used the database yet
        return False
    from app.core.db import is_database_unavailable

    return is_database_unavailable(exc)


def add_capacity_guards(app: FastAPI, *, limit: int | None, wait_seconds: float) -> None:
    """Database faults → 503, storage full → 507 and storage refusing → 503 (with Retry-After);
    with a ``limit``, the admission gate too."""

    async def storage_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StorageError)
        logger.warning("storage refused a write", extra={"error": exc.message})
        if exc.full:
            return JSONResponse(
                {"detail": exc.message, "request_id": request_id_var.get()},
                status_code=507,
                headers={"Retry-After": "60"},
            )
        return service_unavailable(exc.message, retry_after=30)

    app.add_exception_handler(StorageError, storage_error)
    app.add_middleware(DatabaseFaultMiddleware)
    if limit:
        app.add_middleware(AdmissionMiddleware, limit=limit, wait_seconds=wait_seconds)
