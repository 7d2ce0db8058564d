"""Runs one job: the same code under the worker Lambda, the ECS task and the local pool.

Each kind's code lives in its own module (``HANDLER_MODULES``) with a ``run(ctx) -> JobResult``
function, imported only when a job of that kind runs (so the API never loads OpenCV, numpy,
or a model).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import is_database_unavailable, new_session
from app.jobs import service
from app.jobs.errors import JobFailed, RetryLater
from app.jobs.models import Job, JobStatus
from app.storage import Storage, get_storage

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

HANDLER_MODULES = {"inpaint": "app.inpainting.jobs", "locate": "app.locator.jobs"}


@dataclass
class JobContext:
    job: Job
    attempt: int
    settings: Settings
    session: Session
    storage: Storage

    def end_reads(self) -> None:
        """Ends the handler's read transaction before its long work (an inference call, a
        model run), so that no pooled connection sits idle in a transaction for minutes.
        What was read stays usable (the session does not expire on commit)."""
        self.session.commit()


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
    queued jobs itself before it exits).

    The runner's own database steps (claim, finish, fail, requeue) are retried through a
    database blip of up to ``job_db_retry_seconds``; if it lasts longer the job keeps its state
    (queued, or running under a lease that expires) and the reaper makes it runnable again.
    """
    redispatch = redispatch or _redispatch
    settings = settings or get_settings()
    written = _RecordingStorage(storage or get_storage())
    job_id = uuid.UUID(str(job_id))
    retrying = _DbRetry(settings.job_db_retry_seconds)
    with new_session() as session:
        attempt = retrying(
            session,
            lambda: service.claim(
                session, job_id=job_id, lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts
            ),
        )
        if attempt is None:
            if retrying(
                session,
                lambda: service.give_up_if_exhausted(session, job_id=job_id, max_attempts=settings.job_max_attempts),
            ):
                logger.warning("job gave up", extra={"job_id": str(job_id)})
                return Outcome.GAVE_UP
            logger.info("job not claimable: duplicate delivery or finished", extra={"job_id": str(job_id)})
            return Outcome.SKIPPED
        job = session.get(Job, job_id)
        assert job is not None
        # End the read transaction: the handler may run for minutes (an inference call) and
        # must not keep a pooled connection idle in a transaction meanwhile.
        session.commit()
        log = {"job_id": str(job_id), "kind": job.kind, "attempt": attempt}
        logger.info("job started", extra=log)
        try:
            result = handler_for(job.kind)(
                JobContext(job=job, attempt=attempt, settings=settings, session=session, storage=written)
            )
        except JobFailed as exc:
            session.rollback()
            written.remove_all()
            code, message = exc.code, exc.message
            retrying(session, lambda: service.fail(session, job_id=job_id, attempt=attempt, code=code, message=message))
            logger.info("job failed", extra={**log, "code": code})
            return Outcome.FAILED
        except RetryLater as exc:
            session.rollback()
            written.remove_all()
            return _retry_later(session, job, attempt, exc, settings, log, redispatch, retrying)
        except Exception as exc:
            session.rollback()
            written.remove_all()
            logger.exception("job raised", extra=log)
            return _retry_after_error(session, job, attempt, exc, settings, log, redispatch, retrying)

        def finish() -> bool:
            if result.finalize is not None:
                result.finalize(session)  # again on a retry: the rollback dropped its writes
            if service.finish(session, job_id=job_id, attempt=attempt, output=result.output):
                return True
            # A commit whose answer a dropped connection lost looks like a lost race: look.
            done = session.execute(select(Job.status, Job.attempts).where(Job.id == job_id)).one_or_none()
            return done is not None and tuple(done) == (JobStatus.SUCCEEDED, attempt)

        if retrying(session, finish):
            logger.info("job succeeded", extra=log)
            return Outcome.SUCCEEDED
        session.rollback()
        written.remove_all()  # canceled or taken over meanwhile: its output must not linger
        logger.info("job result discarded: canceled or taken over", extra=log)
        return Outcome.DISCARDED


class _DbRetry:
    """Runs one of the runner's database steps, retrying it while the database is
    unreachable (a restart, a failover, a locked SQLite file) for up to ``budget`` seconds."""

    def __init__(self, budget_seconds: float) -> None:
        self.budget_seconds = budget_seconds

    def __call__(self, session: Session, step: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self.budget_seconds
        delay = 0.25
        while True:
            try:
                return step()
            except Exception as exc:
                if not is_database_unavailable(exc) or time.monotonic() + delay > deadline:
                    raise
                logger.warning("database unavailable; retrying a job step", extra={"error": type(exc).__name__})
                with contextlib.suppress(Exception):  # the connection is gone; the next try reconnects
                    session.rollback()
                time.sleep(delay)
                delay = min(delay * 2, 4.0)


class _RecordingStorage:
    """The job's storage, remembering what the job wrote so that a job that does not succeed
    (failed, retried, canceled meanwhile) leaves no file behind."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.keys: list[str] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.keys.append(key)
        self._storage.put(key, data, content_type)

    def remove_all(self) -> None:
        for key in self.keys:
            try:
                self._storage.delete(key)
            except Exception:
                logger.warning("could not remove a discarded job output", extra={"key": key})
        self.keys.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def _backend_of(job: Job) -> str:
    from app.catalog.models import MLModel

    with new_session() as session:
        backend = session.scalar(select(MLModel.backend).where(MLModel.name == job.model))
    return backend or ""


def _redispatch(job: Job, settings: Settings, delay_seconds: int) -> None:
    """Hand a requeued job back to its dispatcher. If that fails the job stays queued past its
    due time, and the reaper dispatches it again."""
    from app.jobs.dispatch import DispatchError, get_dispatcher

    try:
        get_dispatcher(_backend_of(job), settings).dispatch(job.id, delay_seconds=delay_seconds)
    except DispatchError:
        logger.warning("could not redispatch a requeued job; the reaper will", extra={"job_id": str(job.id)})


def _retry_later(
    session: Session,
    job: Job,
    attempt: int,
    exc: RetryLater,
    settings: Settings,
    log: dict[str, Any],
    redispatch: Redispatch,
    retrying: _DbRetry,
) -> str:
    """A backend not ready yet (an endpoint waking): back to the queue, no attempt spent."""
    return _requeue_or_fail(
        session,
        job,
        attempt,
        settings,
        log,
        redispatch,
        retrying,
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
    retrying: _DbRetry,
) -> str:
    """An unexpected error: retried with exponential backoff until the attempts are spent."""
    reason = public_reason(exc)
    return _requeue_or_fail(
        session,
        job,
        attempt,
        settings,
        log,
        redispatch,
        retrying,
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
    retrying: _DbRetry,
    *,
    give_up: bool,
    fail_code: str,
    fail_message: str,
    requeue_message: str,
    count_attempt: bool,
    delay_seconds: int,
) -> str:
    if give_up:
        retrying(
            session,
            lambda: service.fail(session, job_id=job.id, attempt=attempt, code=fail_code, message=fail_message),
        )
        logger.info("job failed", extra={**log, "code": fail_code})
        return Outcome.FAILED
    requeued = retrying(
        session,
        lambda: service.requeue(
            session,
            job_id=job.id,
            attempt=attempt,
            message=requeue_message,
            count_attempt=count_attempt,
            due_seconds=delay_seconds,
            grace_seconds=settings.job_dispatch_grace_seconds,
        ),
    )
    if not requeued:
        return Outcome.DISCARDED
    redispatch(job, settings, delay_seconds)
    logger.info("job requeued", extra={**log, "delay_seconds": delay_seconds})
    return Outcome.REQUEUED


def public_reason(exc: BaseException) -> str:
    """An error as a user may see it: an OS error's reason without the server's file paths,
    a database error's class without its SQL."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'I/O error'}"
    if isinstance(exc, SQLAlchemyError):
        return f"{type(exc).__name__}: the database could not be reached or refused the change"
    return f"{type(exc).__name__}: {exc}"
