"""AWS: a locate job starts an ECS task (RunTask) on the GPU capacity provider.

The container override carries only the job id (RunTask overrides are capped at 8 KB); the
task reads everything else from the database. ``clientToken`` is the job id, so a retried
RunTask call (botocore retries, a replayed request) starts at most one task for the job.
``failures`` in the answer (no capacity, bad task definition...) or an API error raise
``DispatchError``: the engine ends the job ``failed`` with code ``dispatch_failed`` and the reason.

ECS has no delayed start, so ``delay_seconds`` is ignored. Inside a locator task (which
sets ``running_in_task``) dispatching is a no-op: a job requeued there is picked up by the
task's own drain loop, which is cheaper than starting another GPU task.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.core import aws
from app.core.config import Settings
from app.jobs.dispatch import DispatchError

logger = logging.getLogger(__name__)

STARTED_BY = "inpaint-locator"  # ≤ 36 characters; `aws ecs list-tasks --started-by inpaint-locator`
JOB_IDS_ENV = "JOB_IDS"

running_in_task = False  # set by functions.locator_task


def run_task_params(settings: Settings, job_id: uuid.UUID | str) -> dict[str, Any]:
    """The RunTask request for one job (pure: tested without AWS)."""
    params: dict[str, Any] = {
        "cluster": settings.locator_cluster,
        "taskDefinition": settings.locator_task_definition,
        "count": 1,
        "clientToken": str(job_id),  # 36 characters; the limit is 64
        "startedBy": STARTED_BY,
        "overrides": {
            "containerOverrides": [
                {
                    "name": settings.locator_container_name,
                    "environment": [{"name": JOB_IDS_ENV, "value": str(job_id)}],
                }
            ]
        },
        "tags": [{"key": "inpaint:job-id", "value": str(job_id)}],
    }
    if settings.locator_capacity_provider:
        params["capacityProviderStrategy"] = [
            {"capacityProvider": settings.locator_capacity_provider, "weight": 1, "base": 0}
        ]
    # else: the cluster's default capacity provider strategy applies (no launchType: the two
    # are mutually exclusive, and only a capacity provider scales the GPU group from zero).
    if settings.locator_subnets:
        vpc: dict[str, Any] = {"subnets": list(settings.locator_subnets), "assignPublicIp": "DISABLED"}
        if settings.locator_security_groups:
            vpc["securityGroups"] = list(settings.locator_security_groups)
        params["networkConfiguration"] = {"awsvpcConfiguration": vpc}
    return params


class EcsDispatcher:
    def __init__(self, settings: Settings) -> None:
        if not running_in_task and not (settings.locator_cluster and settings.locator_task_definition):
            raise DispatchError("LOCATOR_CLUSTER and LOCATOR_TASK_DEFINITION must be configured")
        self.settings = settings

    def dispatch(self, job_id: uuid.UUID, *, delay_seconds: int = 0) -> str | None:
        if running_in_task:
            logger.info("job requeued inside the locator task: its drain loop runs it", extra={"job_id": str(job_id)})
            return None
        params = run_task_params(self.settings, job_id)
        try:
            response = aws.client("ecs").run_task(**params)
        except Exception as exc:  # botocore ClientError / connection errors, after botocore's retries
            raise DispatchError(f"ECS RunTask failed: {exc}") from exc
        failures = response.get("failures") or []
        tasks = response.get("tasks") or []
        if failures or not tasks:
            reasons = "; ".join(_describe(failure) for failure in failures) or "no task was started"
            raise DispatchError(f"ECS could not start the locator task: {reasons}")
        task_arn = str(tasks[0]["taskArn"])
        logger.info("locator task started", extra={"job_id": str(job_id), "task_arn": task_arn})
        return task_arn


def _describe(failure: dict[str, Any]) -> str:
    text = str(failure.get("reason") or "unknown reason")
    if failure.get("detail"):
        text += f" ({failure['detail']})"
    if failure.get("arn"):
        text += f" [{failure['arn']}]"
    return text
