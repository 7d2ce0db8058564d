"""EventBridge "ECS Task State Change" → fail the locate jobs a stopped task left unfinished.

The rule matches the locator cluster's tasks with ``lastStatus`` STOPPED. A job belongs to
the stopped task when its id is in the task's ``JOB_IDS`` container override, or when its
``external_ref`` is the task's ARN (the API stores the ARN of the task it started; the task
stores its own ARN on each job it runs, drained jobs included). Such a job that is still
queued, or running under this task, is failed with code ``task_stopped`` and the stop
reason and exit code. A job that finished, or that another task is running now (another
task's drain loop took it over), is left alone. Duplicate deliveries are harmless: failing
is a compare-and-set on unfinished jobs.

Fields read from the event's ``detail``: lastStatus, taskArn, stoppedReason, stopCode,
containers[].name/exitCode/reason, overrides.containerOverrides[].environment.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import new_session
from app.core.logging import configure_logging
from app.jobs import service
from app.jobs.models import Job, JobStatus

logger = logging.getLogger("functions.task_state")

CODE = "task_stopped"


def carried_job_ids(detail: dict[str, Any]) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for override in (detail.get("overrides") or {}).get("containerOverrides") or []:
        for variable in override.get("environment") or []:
            if variable.get("name") != "JOB_IDS":
                continue
            for value in str(variable.get("value") or "").split(","):
                try:
                    job_id = uuid.UUID(value.strip())
                except ValueError:
                    continue
                if job_id not in ids:
                    ids.append(job_id)
    return ids


def stop_reason(detail: dict[str, Any], container_name: str | None = None) -> str:
    parts = [str(detail.get("stoppedReason") or "the task stopped")]
    if detail.get("stopCode"):
        parts.append(f"stop code {detail['stopCode']}")
    for container in detail.get("containers") or []:
        if container_name and container.get("name") != container_name and len(detail.get("containers") or []) > 1:
            continue
        name = container.get("name", "container")
        if container.get("exitCode") is not None:
            parts.append(f"container {name} exit code {container['exitCode']}")
        if container.get("reason"):
            parts.append(f"container {name}: {container['reason']}")
    return "locator task stopped before finishing the job: " + "; ".join(parts)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings.log_level)
    detail = event.get("detail") or {}
    task_arn = detail.get("taskArn")
    if detail.get("lastStatus") != "STOPPED" or not task_arn:
        return {"task_arn": task_arn, "ignored": "not a STOPPED task", "failed": [], "left": {}}
    message = stop_reason(detail, settings.locator_container_name)
    failed: list[str] = []
    left: dict[str, str] = {}
    with new_session() as session:
        job_ids = carried_job_ids(detail)
        for job_id in session.scalars(select(Job.id).where(Job.external_ref == task_arn, Job.kind == "locate")):
            if job_id not in job_ids:
                job_ids.append(job_id)
        for job_id in job_ids:
            job = session.get(Job, job_id)
            if job is None:
                left[str(job_id)] = "unknown job"
            elif job.status in JobStatus.FINISHED:
                left[str(job_id)] = job.status
            elif job.status == JobStatus.RUNNING and job.external_ref not in (None, task_arn):
                left[str(job_id)] = "running in another task"
            elif service.fail(session, job_id=job_id, code=CODE, message=message, from_statuses=(job.status,)):
                failed.append(str(job_id))
            else:
                session.refresh(job)
                left[str(job_id)] = job.status
            session.expire_all()
    logger.info("locator task stopped", extra={"task_arn": task_arn, "failed": failed, "left": left})
    return {"task_arn": task_arn, "failed": failed, "left": left}
