"""Runs one job: the same code under the worker Lambda, the ECS task and the local pool.

Each kind's code lives in its own module (``HANDLER_MODULES``) with a ``run(ctx) -> JobResult``
function, imported only when a job of that kind runs (so the API never loads OpenCV, numpy,
or a model).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import new_session
from app.jobs import service
from app.jobs.errors import JobFailed, RetryLater
from app.jobs.models import Job
from app.storage import Storage, get_storage

logger = logging.getLogger(__name__)

HANDLER_MODULES = {"inpaint": "app.inpainting.jobs", "locate": "app.locator.jobs"}


@dataclass
class JobContext:
    job: Job
    attempt: int
    settings: Settings
    session: Session
    storage: Storage


@dataclass
class JobResult:
    output: dict[str, Any]
    # Writes that must commit together with the success (e.g. the output image's row).
    finalize: Callable[[Session], None] | None = None


class Outcome:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUEUED = "requeued"
    SKIPPED = "skipped"  # already running elsewhere, finished, or canceled: a duplicate delivery
    DISCARDED = "discarded"  # finished, but the job was canceled or taken over meanwhile
    GAVE_UP = "gave_up"  # attempts spent by earlier crashes: failed now


def handler_for(kind: str) -> Callable[[JobContext], JobResult]:
    module = importlib.import_module(HANDLER_MODULES[kind])
    return module.run  # type: ignore[no-any-return]


Redispatch = Callable[[Job, Settings, int], None]


def run_job(
    job_id: uuid.UUID | str,
    *,
    settings: Settings | None = None,
    storage: Storage | None = None,
    redispatch: Redispatch | None = None,
) -> str:
    """Claim and run one job. ``redispatch(job, settings, delay)`` hands a requeued job back
    (default: the kind's dispatcher; the locator task passes a no-op because it drains the
    queued jobs itself before it exits)."""
    redispatch = redispatch or _redispatch
    settings = settings or get_settings()
    storage = storage or get_storage()
    job_id = uuid.UUID(str(job_id))
    with new_session() as session:
        attempt = service.claim(
            session, job_id=job_id, lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts
        )
        if attempt is None:
            if service.give_up_if_exhausted(session, job_id=job_id, max_attempts=settings.job_max_attempts):
                logger.warning("job gave up", extra={"job_id": str(job_id)})
                return Outcome.GAVE_UP
            logger.info("job not claimable: duplicate delivery or finished", extra={"job_id": str(job_id)})
            return Outcome.SKIPPED
        job = session.get(Job, job_id)
        assert job is not None
        log = {"job_id": str(job_id), "kind": job.kind, "attempt": attempt}
        logger.info("job started", extra=log)
        try:
            result = handler_for(job.kind)(
                JobContext(job=job, attempt=attempt, settings=settings, session=session, storage=storage)
            )
        except JobFailed as exc:
            session.rollback()
            service.fail(session, job_id=job_id, attempt=attempt, code=exc.code, message=exc.message)
            logger.info("job failed", extra={**log, "code": exc.code})
            return Outcome.FAILED
        except RetryLater as exc:
            session.rollback()
            return _retry_later(session, job, attempt, exc, settings, log, redispatch)
        except Exception as exc:
            session.rollback()
            logger.exception("job raised", extra=log)
            return _retry_after_error(session, job, attempt, exc, settings, log, redispatch)
        if result.finalize is not None:
            result.finalize(session)
        if service.finish(session, job_id=job_id, attempt=attempt, output=result.output):
            logger.info("job succeeded", extra=log)
            return Outcome.SUCCEEDED
        session.rollback()
        logger.info("job result discarded: canceled or taken over", extra=log)
        return Outcome.DISCARDED


def _backend_of(job: Job) -> str:
    from app.catalog.models import MLModel

    with new_session() as session:
        backend = session.scalar(select(MLModel.backend).where(MLModel.name == job.model))
    return backend or ""


def _redispatch(job: Job, settings: Settings, delay_seconds: int) -> None:
    """Hand a requeued job back to its dispatcher; if that fails the job fails, never hangs."""
    from app.jobs.dispatch import DispatchError, get_dispatcher

    try:
        get_dispatcher(_backend_of(job), settings).dispatch(job.id, delay_seconds=delay_seconds)
    except DispatchError as exc:
        with new_session() as session:
            service.fail(session, job_id=job.id, code="dispatch_failed", message=str(exc))


def _retry_later(
    session: Session,
    job: Job,
    attempt: int,
    exc: RetryLater,
    settings: Settings,
    log: dict[str, Any],
    redispatch: Redispatch,
) -> str:
    """A backend not ready yet (an endpoint waking): back to the queue, no attempt spent."""
    return _requeue_or_fail(
        session,
        job,
        attempt,
        settings,
        log,
        redispatch,
        give_up=job.requeues >= settings.job_max_requeues,
        fail_code="backend_unavailable",
        fail_message=f"{exc.message} (still unavailable after {job.requeues} retries)",
        requeue_message=exc.message,
        count_attempt=False,
        delay_seconds=exc.delay_seconds,
    )


def _retry_after_error(
    session: Session,
    job: Job,
    attempt: int,
    exc: Exception,
    settings: Settings,
    log: dict[str, Any],
    redispatch: Redispatch,
) -> str:
    """An unexpected error: retried with exponential backoff until the attempts are spent."""
    reason = f"{type(exc).__name__}: {exc}"
    return _requeue_or_fail(
        session,
        job,
        attempt,
        settings,
        log,
        redispatch,
        give_up=attempt >= settings.job_max_attempts,
        fail_code="internal_error",
        fail_message=f"failed after {attempt} attempts; last error: {reason}",
        requeue_message=f"attempt {attempt} failed ({reason}); retrying",
        count_attempt=True,
        delay_seconds=min(5 * 2**attempt, 300),
    )


def _requeue_or_fail(
    session: Session,
    job: Job,
    attempt: int,
    settings: Settings,
    log: dict[str, Any],
    redispatch: Redispatch,
    *,
    give_up: bool,
    fail_code: str,
    fail_message: str,
    requeue_message: str,
    count_attempt: bool,
    delay_seconds: int,
) -> str:
    if give_up:
        service.fail(session, job_id=job.id, attempt=attempt, code=fail_code, message=fail_message)
        logger.info("job failed", extra={**log, "code": fail_code})
        return Outcome.FAILED
    if not service.requeue(
        session, job_id=job.id, attempt=attempt, message=requeue_message, count_attempt=count_attempt
    ):
        return Outcome.DISCARDED
    redispatch(job, settings, delay_seconds)
    logger.info("job requeued", extra={**log, "delay_seconds": delay_seconds})
    return Outcome.REQUEUED
