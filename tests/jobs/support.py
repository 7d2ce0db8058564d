"""A job kind for engine tests: ``run`` does what ``BEHAVIOUR`` says and records its calls."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from app.images.models import Image
from app.jobs.runner import JobContext, JobResult

CALLS: list[tuple[uuid.UUID, int]] = []
BEHAVIOUR: dict[str, Callable[[JobContext], JobResult] | None] = {"run": None}
_lock = threading.Lock()


def output_image_id(job_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(job_id, "output")


def default_run(ctx: JobContext) -> JobResult:
    """Writes one output image: storage key and row id both derive from the job id."""
    image_id = output_image_id(ctx.job.id)
    key = f"images/{ctx.job.owner_id}/{image_id}.png"
    ctx.storage.put(key, b"not really a png", "image/png")

    def finalize(session: Any) -> None:
        session.add(
            Image(
                id=image_id,
                owner_id=ctx.job.owner_id,
                storage_key=key,
                format="PNG",
                width=1,
                height=1,
                bytes=16,
                sha256="0" * 64,
            )
        )

    return JobResult(output={"image_id": str(image_id)}, finalize=finalize)


def run(ctx: JobContext) -> JobResult:
    with _lock:
        CALLS.append((ctx.job.id, ctx.attempt))
    behaviour = BEHAVIOUR["run"] or default_run
    return behaviour(ctx)


def reset() -> None:
    CALLS.clear()
    BEHAVIOUR["run"] = None
