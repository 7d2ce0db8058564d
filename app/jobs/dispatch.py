"""Getting a job to something that runs it.

local: a small thread pool inside the server process. aws: the job id goes to SQS and the
worker Lambda runs it; locate jobs start an ECS GPU task instead (app.locator.dispatch).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from app.core import aws
from app.core.config import Settings

logger = logging.getLogger(__name__)

SQS_MAX_DELAY_SECONDS = 900


class DispatchError(Exception):
    """The job could not be handed over (queue or task service refused)."""


class Dispatcher(Protocol):
    def dispatch(self, job_id: uuid.UUID, *, delay_seconds: int = 0) -> str | None:
        """Hand the job over; returns an external reference to keep on the job (e.g. a task ARN)."""
        ...


class SqsDispatcher:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def dispatch(self, job_id: uuid.UUID, *, delay_seconds: int = 0) -> str | None:
        try:
            aws.client("sqs").send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps({"job_id": str(job_id)}),
                DelaySeconds=max(0, min(delay_seconds, SQS_MAX_DELAY_SECONDS)),
            )
        except Exception as exc:  # botocore errors, after botocore's own retries
            raise DispatchError(f"could not queue the job: {exc}") from exc
        return None


class LocalDispatcher:
    """Runs jobs in this process: a thread pool, plus timers for delayed retries."""

    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._pending: set[Future[object]] = set()
        self._active: dict[uuid.UUID, int] = {}  # job ids handed to the pool, not yet done
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def dispatch(self, job_id: uuid.UUID, *, delay_seconds: int = 0) -> str | None:
        if delay_seconds > 0:
            timer = threading.Timer(delay_seconds, self._submit, args=(job_id,))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            self._submit(job_id)
        return None

    def _submit(self, job_id: uuid.UUID) -> None:
        from app.jobs.runner import run_job

        with self._lock:
            self._active[job_id] = self._active.get(job_id, 0) + 1
        try:
            future = self.executor.submit(run_job, job_id)
        except RuntimeError:  # shutting down: the next server (or the reaper) takes the job
            self._forget(job_id)
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda done: self._done(job_id, done))

    def _forget(self, job_id: uuid.UUID) -> None:
        with self._lock:
            left = self._active.get(job_id, 0) - 1
            if left > 0:
                self._active[job_id] = left
            else:
                self._active.pop(job_id, None)

    def _done(self, job_id: uuid.UUID, future: Future[object]) -> None:
        self._forget(job_id)
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            # Its job stays queued or leased to this process; the reaper makes it runnable again.
            logger.error("local job runner crashed", exc_info=future.exception())

    def active_job_ids(self) -> frozenset[uuid.UUID]:
        with self._lock:
            return frozenset(self._active)

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until no job is running or waiting in the pool (tests, shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                future.exception(timeout=max(0.0, deadline - time.monotonic()))
        raise TimeoutError("jobs still running")

    def shutdown(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)


_local: LocalDispatcher | None = None
_local_lock = threading.Lock()


def local_dispatcher(settings: Settings) -> LocalDispatcher:
    global _local
    with _local_lock:
        if _local is None:
            _local = LocalDispatcher(settings.local_workers)
        return _local


def reset_local_dispatcher() -> None:
    global _local
    with _local_lock:
        if _local is not None:
            _local.shutdown()
        _local = None


# Backends that need the GPU task; every other model runs on the worker Lambda.
ECS_BACKENDS = frozenset({"detectron2"})


def get_dispatcher(backend: str, settings: Settings) -> Dispatcher:
    """Where a job of a model with this backend runs."""
    if not settings.is_aws:
        return local_dispatcher(settings)
    if backend in ECS_BACKENDS:
        from app.locator.dispatch import EcsDispatcher

        return EcsDispatcher(settings)
    if not settings.job_queue_url:
        raise DispatchError("JOB_QUEUE_URL is not configured")
    return SqsDispatcher(settings.job_queue_url)
