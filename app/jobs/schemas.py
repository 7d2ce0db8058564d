from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row

from app.jobs.models import Job


class JobError(BaseModel):
    code: str
    message: str


class JobMetrics(BaseModel):
    queue_seconds: float | None
    run_seconds: float | None


class JobPublic(BaseModel):
    id: uuid.UUID
    kind: str
    model: str
    status: str
    status_message: str | None
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: JobError | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    attempts: int
    metrics: JobMetrics

    @classmethod
    def from_job(cls, job: Job | Row[Any] | SimpleNamespace, output: dict[str, Any] | None = None) -> JobPublic:
        """From the ORM object, or a Core row of the jobs table (the polled read)."""

        def seconds(start: datetime | None, end: datetime | None) -> float | None:
            return round((end - start).total_seconds(), 3) if start and end else None

        return cls(
            id=job.id,
            kind=job.kind,
            model=job.model,
            status=job.status,
            status_message=job.status_message,
            input=job.input,
            output=output if output is not None else job.output,
            error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            attempts=job.attempts,
            metrics=JobMetrics(
                queue_seconds=seconds(job.created_at, job.started_at),
                run_seconds=seconds(job.started_at, job.completed_at),
            ),
        )
