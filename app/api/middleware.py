"""Pure ASGI middleware: request ids, access logs, answers to unhandled errors, a cap on bodies."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

logger = logging.getLogger("app.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._=-]{1,128}$")


def _request_id(scope: Scope) -> str:
    event: dict[str, Any] | None = scope.get("aws.event")
    if event:
        request_id = event.get("requestContext", {}).get("requestId")
        if request_id:
            return str(request_id)
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Tags each request with an id (echoed in ``X-Request-ID``), logs one line per request,
    and answers an unhandled error itself.

    The 500 is made here, inside the request's context, so it carries the request id in its
    body and headers (Starlette's outermost error handler runs after the context is gone), and
    ``Connection: close``: the server drops a connection after an error, so say so.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.exception("unhandled error", extra={"error": type(exc).__name__})
            if response_started:
                raise  # too late for an answer: let the server drop the connection
            status_code = 500
            await _send_json(
                send,
                500,
                {"detail": "internal error", "request_id": request_id},
                [(b"x-request-id", request_id.encode()), (b"connection", b"close")],
            )
        finally:
            state = scope.get("state") or {}
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],  # never the query string: signed links carry signatures
                    "status": status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": state.get("user_id"),
                },
            )
            request_id_var.reset(token)


class TrackedSend:
    """``send``, remembering whether the response has started: after that, an error can no
    longer be answered with a response of its own."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; FastAPI lets an HTTPException
    from body reading through, so the endpoint never runs."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {max_bytes} bytes")


class BodySizeLimitMiddleware:
    """Refuses bodies over a limit with 413, before they are read whole.

    ``Content-Length`` is checked up front; a body without one (chunked) is counted as it
    streams in and refused at the first chunk past the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/files/"):  # /files counts its own limit
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_413(send, self.max_bytes)
                return
        received = 0
        tracked = TrackedSend(send)

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counting_receive, tracked)
        except BodyTooLarge:
            if tracked.started:
                raise
            await _send_413(send, self.max_bytes)


async def _send_413(send: Send, max_bytes: int) -> None:
    detail = f"request body is larger than the limit of {max_bytes} bytes"
    await _send_json(send, 413, {"detail": detail}, [(b"connection", b"close")])


async def _send_json(send: Send, status: int, content: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
