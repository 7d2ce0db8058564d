"""The FastAPI application. Importing this module touches no AWS service and no database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.api.capacity import add_capacity_guards
from app.api.errors import install_error_handlers
from app.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.api.router import LazyRoutes, LoadRoutesMiddleware
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging

logger = logging.getLogger(__name__)

# Room for multipart framing around the largest accepted image.
_BODY_OVERHEAD = 64 * 1024


@asynccontextmanager
async def local_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Local mode: size the threadpool with the server, pick up jobs a previous server left
    unfinished, run the reaper every ``reaper_interval_seconds``; stop both on exit.

    (Lambda runs with lifespan off: the scheduled reaper function does this job there.)
    """
    import anyio.to_thread
    from starlette.concurrency import run_in_threadpool

    from app.core.db import new_session
    from app.jobs.dispatch import local_dispatcher, reset_local_dispatcher
    from app.jobs.service import release_leases_of_gone_owners, unfinished_job_ids

    settings = get_settings()
    app.state.routes.load_all()  # a long-lived server: no request should pay for an import
    # Room for every admitted request plus /health and the reaper: no request waits for a thread.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = settings.max_concurrent_requests + 8
    app.state.threadpool = limiter
    with new_session() as session:
        # Only this server's dead predecessors' leases: a live server's jobs stay its own.
        release_leases_of_gone_owners(session)
        job_ids = unfinished_job_ids(session)
    for job_id in job_ids:
        local_dispatcher(settings).dispatch(job_id)
    if job_ids:
        logger.info("resumed unfinished jobs", extra={"count": len(job_ids)})
    reaper = asyncio.create_task(_reap_periodically(settings, run_in_threadpool))
    try:
        yield
    finally:
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        reset_local_dispatcher()


async def _reap_periodically(settings: Settings, run_in_threadpool: Any) -> None:
    from app.jobs.dispatch import local_dispatcher
    from app.jobs.lease import current_owner
    from app.jobs.reaper import reap_and_dispatch

    while True:
        await asyncio.sleep(settings.reaper_interval_seconds)
        try:
            await run_in_threadpool(
                lambda: reap_and_dispatch(
                    settings,
                    orphaned_owner=current_owner(),
                    active=local_dispatcher(settings).active_job_ids(),
                )
            )
        except Exception as exc:  # the database may be down: try again next round
            logger.warning("reaper round failed", extra={"error": type(exc).__name__})


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
    add_capacity_guards(
        app,
        limit=None if settings.is_aws else settings.max_concurrent_requests,
        wait_seconds=settings.admission_wait_seconds,
    )
    routes = LazyRoutes(app)
    app.state.routes = routes
    app.add_middleware(LoadRoutesMiddleware, routes=routes)

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
