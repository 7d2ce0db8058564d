"""The locator's ECS GPU task: ``python -m functions.locator_task <job ids...>``.

Job ids come from the arguments and from the ``JOB_IDS`` environment variable (a comma
list; the API's RunTask override sets it). Each job runs through ``app.jobs.runner.run_job``
(the same code as everywhere); predictors are cached per model, so the model loads once for
the whole task. A job that raises fails (after its attempts) with the reason, and the task
moves on. When its own jobs are done it drains further queued locate jobs, so one GPU task
start serves a burst of requests, then exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections import Counter, deque
from typing import Any

from app.core.config import Settings, get_settings
from app.core.db import new_session
from app.core.logging import configure_logging
from app.jobs import service
from app.jobs.models import Job
from app.jobs.runner import run_job

logger = logging.getLogger("functions.locator_task")

KIND = "locate"


def job_ids_from(argv: list[str], environ: dict[str, str] | os._Environ[str]) -> list[uuid.UUID]:
    """Job ids from the arguments and from ``JOB_IDS`` (both; in that order, without repeats).

    Arguments that are not ids are skipped, so an ECS ``command`` that repeats the image's
    own command (``python -m functions.locator_task``) does no harm.
    """
    raw = [part for arg in argv for part in arg.split(",")] + environ.get("JOB_IDS", "").split(",")
    ids: list[uuid.UUID] = []
    for value in (item.strip() for item in raw):
        if not value:
            continue
        try:
            job_id = uuid.UUID(value)
        except ValueError:
            logger.warning("ignoring an argument that is not a job id", extra={"value": value[:64]})
            continue
        if job_id not in ids:
            ids.append(job_id)
    return ids


def own_task_arn(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """This task's ARN from the ECS task metadata endpoint (v4), or None outside ECS."""
    base = environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if not base:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/task", timeout=2) as response:  # noqa: S310 - the agent's local endpoint
            return str(json.load(response)["TaskARN"])
    except Exception:
        logger.warning("could not read the task metadata endpoint", exc_info=True)
        return None


def task_settings(settings: Settings) -> Settings:
    """Requeued jobs must come back to this task's drain loop, not to SQS (the task has no
    queue) nor to a new task: route "locate" dispatches to the EcsDispatcher, which is a
    no-op inside the task (app.locator.dispatch.running_in_task)."""
    if settings.is_aws and not settings.locator_cluster:
        return settings.model_copy(update={"locator_cluster": "(this task)"})
    return settings


def stay_in_task(job: Job, settings: Settings, delay_seconds: int) -> None:
    """A requeued job is not handed anywhere: this task's drain loop picks it up again."""
    logger.info("job requeued inside the locator task", extra={"job_id": str(job.id), "delay": delay_seconds})


def run_one(job_id: uuid.UUID, settings: Settings) -> str:
    try:
        return run_job(job_id, settings=settings, redispatch=stay_in_task)
    except Exception as exc:  # outside the job's own code: the database, the claim...
        logger.exception("job could not be run", extra={"job_id": str(job_id)})
        try:
            with new_session() as session:
                service.fail(session, job_id=job_id, code="internal_error", message=f"{type(exc).__name__}: {exc}")
        except Exception:
            logger.exception("job could not be marked failed", extra={"job_id": str(job_id)})
        return "error"


def run(job_ids: list[uuid.UUID], settings: Settings, *, max_seconds: float | None = None) -> dict[str, Any]:
    """Run the given jobs, then drain queued locate jobs until none are left (or time is up)."""
    from app.locator import dispatch

    dispatch.running_in_task = True
    settings = task_settings(settings)
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else settings.locator_max_task_seconds)
    # A job can come back (requeued after an error) at most once per attempt.
    budget = settings.job_max_attempts + 1
    runs: Counter[uuid.UUID] = Counter()
    outcomes: dict[str, str] = {}
    pending = deque(job_ids)
    while True:
        while pending:
            job_id = pending.popleft()
            runs[job_id] += 1
            outcomes[str(job_id)] = run_one(job_id, settings)
        if time.monotonic() >= deadline:
            logger.info("task time budget spent: leaving the rest to the next task")
            break
        with new_session() as session:
            more = [j for j in service.unfinished_job_ids(session, kind=KIND) if runs[j] < budget]
        if not more:
            break
        logger.info("draining queued locate jobs", extra={"count": len(more)})
        pending.extend(more)
    return {"jobs": outcomes, "runs": sum(runs.values())}


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    job_ids = job_ids_from(sys.argv[1:] if argv is None else argv, os.environ)
    from app.locator import jobs

    jobs.current_task_arn = own_task_arn(os.environ)
    logger.info(
        "locator task starting", extra={"job_ids": [str(j) for j in job_ids], "task_arn": jobs.current_task_arn}
    )
    summary = run(job_ids, settings)
    logger.info("locator task done", extra=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
