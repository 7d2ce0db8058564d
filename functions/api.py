"""API Gateway (HTTP API v2 and REST v1) → the FastAPI app, through Mangum.

Cheap at import on purpose: no SQLAlchemy, boto3, alembic, OpenCV, numpy or huggingface_hub, and
no domain's routes (app.api.router.LazyRoutes includes each on the first request that needs it);
they load where they are used.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import get_settings
from app.main import app


class StagePrefix:
    """Serve the app under the prefix the client sees (e.g. ``/prod``), so /docs finds its schema.

    REST APIs give the path without the stage; HTTP APIs with a named stage include it. Either
    way the prefix goes into ``root_path`` and the path keeps it, as ASGI servers do.
    """

    def __init__(self, asgi_app: ASGIApp) -> None:
        self.app = asgi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event: dict[str, Any] = scope.get("aws.event") or {}
        prefix = _client_prefix(event, scope["path"])
        if prefix:
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        await self.app(scope, receive, send)


def _client_prefix(event: dict[str, Any], path: str) -> str:
    context = event.get("requestContext", {})
    if event.get("version") == "2.0":
        stage = context.get("stage", "$default")
        return f"/{stage}" if stage and stage != "$default" else ""
    full_path = context.get("path") or ""
    if full_path and full_path != path and full_path.endswith(path):
        return full_path[: len(full_path) - len(path)].rstrip("/")
    return ""


def _strip_stage(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP APIs put a named stage in the path; take it off before Mangum routes."""
    stage = event.get("requestContext", {}).get("stage")
    raw_path = event.get("rawPath")
    if event.get("version") == "2.0" and stage and stage != "$default" and raw_path:
        prefix = f"/{stage}"
        if raw_path == prefix or raw_path.startswith(prefix + "/"):
            stripped = raw_path[len(prefix) :] or "/"
            http = {**event["requestContext"].get("http", {}), "path": stripped}
            return {**event, "rawPath": stripped, "requestContext": {**event["requestContext"], "http": http}}
    return event


_mangum = Mangum(StagePrefix(app), lifespan="off")
_database_ready = False


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _database_ready
    if not _database_ready:
        settings = get_settings()
        if settings.auto_migrate_seed and not settings.is_aws:
            from app.core.migrate import prepare_local_database

            prepare_local_database()
        _database_ready = True
    return _mangum(_strip_stage(event), context)
