"""Jobs as clients see them (the polled read imports this, not the submit machinery)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.jobs.models import Job
from app.jobs.schemas import JobPublic
from app.storage import Storage


def present(session: Session, storage: Storage, job: Job | Row[Any] | SimpleNamespace) -> JobPublic:
    """The job as clients see it; an output image gets a fresh time-limited URL."""
    return present_many(session, storage, [job])[0]


def present_many(
    session: Session, storage: Storage, jobs: Sequence[Job | Row[Any] | SimpleNamespace]
) -> list[JobPublic]:
    """Jobs as clients see them, with one query for all their output images (not one each)."""
    image_ids = {uuid.UUID(str(job.output["image_id"])) for job in jobs if job.output and job.output.get("image_id")}
    keys: dict[uuid.UUID, str] = {}
    if image_ids:
        from app.images.models import Image  # only jobs with an output image need it

        rows = session.execute(select(Image.id, Image.storage_key).where(Image.id.in_(image_ids)))
        keys = {image_id: key for image_id, key in rows}
    presented = []
    for job in jobs:
        output = dict(job.output) if job.output else None
        if output and output.get("image_id"):
            key = keys.get(uuid.UUID(str(output["image_id"])))
            output["url"] = storage.url(key) if key is not None else None
        presented.append(JobPublic.from_job(job, output=output))
    return presented
