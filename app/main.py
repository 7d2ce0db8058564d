"""The FastAPI application. Importing this module touches no AWS service and no database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.api.router import api_router
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.health.router import router as health_router
from app.images.files import router as files_router
from app.web.router import router as web_router

logger = logging.getLogger(__name__)

# Room for multipart framing around the largest accepted image.
_BODY_OVERHEAD = 64 * 1024


@asynccontextmanager
async def local_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Local mode: pick up jobs a previous server left unfinished; stop the pool on exit.

    (Lambda runs with lifespan off: SQS redelivery does this job there.)
    """
    from app.core.db import new_session
    from app.jobs.dispatch import local_dispatcher, reset_local_dispatcher
    from app.jobs.service import expire_running_leases, unfinished_job_ids

    settings = get_settings()
    with new_session() as session:
        expire_running_leases(session)  # their worker was this process's predecessor
        job_ids = unfinished_job_ids(session)
    for job_id in job_ids:
        local_dispatcher(settings).dispatch(job_id)
    if job_ids:
        logger.info("resumed unfinished jobs", extra={"count": len(job_ids)})
    yield
    reset_local_dispatcher()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        lifespan=None if settings.is_aws else local_lifespan,
        title=settings.project_name,
        version="0.1.0",
        description="Upload a photo, find its objects, pick or paint a mask, describe the change, "
        "and get the photo back with that region regenerated. Heavy work runs as jobs (202 + poll).",
    )
    app.include_router(health_router)
    app.include_router(api_router)
    app.include_router(files_router)
    app.include_router(web_router)

    install_error_handlers(app)  # unhandled errors are answered by RequestContextMiddleware

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Prefer", "X-Request-ID"],
            expose_headers=["Location", "Retry-After", "X-Request-ID"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes + _BODY_OVERHEAD)
    app.add_middleware(RequestContextMiddleware)
    return app


app = create_app()
