"""The "locate" job: find the objects of one image and keep them as detections.

Input (built by the API): ``{"image_id", "score_threshold", "labels"}``.
Output: ``{"width", "height", "detections": [{id, label, score, box, mask?}]}``;
boxes are ``[x1, y1, x2, y2]`` pixels with x2/y2 exclusive, masks compressed COCO RLE.
The same rows are inserted by ``finalize``, committed together with the job's success.
"""

from __future__ import annotations

import io
import logging
import uuid
from typing import Any

from sqlalchemy import select, update

from app.catalog.models import MLModel
from app.images.models import Image, ImageStatus
from app.jobs.errors import JobFailed
from app.jobs.models import Job, JobStatus
from app.jobs.runner import JobContext, JobResult
from app.locator import rle
from app.locator.models import Detection
from app.locator.predictors import PredictorUnavailable, RawDetection, get_predictor

logger = logging.getLogger(__name__)

MAX_DETECTIONS = 100

# Set by the locator task (functions.locator_task): the ARN of the ECS task running this
# process. A job it runs is marked with it, so the task-state Lambda knows whose job it is.
current_task_arn: str | None = None


def detection_id(job_id: uuid.UUID, rank: int) -> uuid.UUID:
    """Deterministic: a retried attempt produces the same ids (and cannot duplicate rows)."""
    return uuid.uuid5(job_id, f"detection/{rank}")


def load_rgb(data: bytes) -> Any:
    import numpy as np
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as source:
        return np.asarray(source.convert("RGB"))


def select_detections(
    raw: list[RawDetection], *, score_threshold: float, labels: list[str] | None
) -> list[RawDetection]:
    wanted = {label.casefold() for label in labels} if labels else None
    kept = [d for d in raw if d.score >= score_threshold and (wanted is None or d.label.casefold() in wanted)]
    kept.sort(key=lambda d: (-d.score, d.box[1], d.box[0]))
    return kept[:MAX_DETECTIONS]


def _mark_running_in_this_task(job: Job, attempt: int) -> None:
    if not current_task_arn:
        return
    from app.core.db import new_session

    with new_session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)
            .values(external_ref=current_task_arn)
        )
        session.commit()


def run(ctx: JobContext) -> JobResult:
    job = ctx.job
    _mark_running_in_this_task(job, ctx.attempt)
    try:
        image_id = uuid.UUID(str(job.input["image_id"]))
    except (KeyError, ValueError) as exc:
        raise JobFailed("invalid_input", "the job has no valid image_id") from exc
    image = ctx.session.get(Image, image_id)
    if image is None or image.owner_id != job.owner_id or image.status != ImageStatus.READY:
        raise JobFailed("image_not_found", f"image {image_id} no longer exists")
    model = ctx.session.scalar(select(MLModel).where(MLModel.name == job.model))
    if model is None:
        raise JobFailed("model_unavailable", f"model {job.model!r} is not in the registry")
    ctx.end_reads()
    try:
        data = ctx.storage.get(image.storage_key)
    except Exception as exc:
        if _is_missing(exc):
            raise JobFailed("image_not_found", f"the file of image {image_id} is missing") from exc
        raise  # transient (S3 throttling, network): retried by the engine
    try:
        rgb = load_rgb(data)
    except Exception as exc:
        raise JobFailed("invalid_image", f"image {image_id} could not be decoded: {exc}") from exc

    try:
        predictor = get_predictor(model, ctx.settings)
    except PredictorUnavailable as exc:  # every load failure, with its reason (app.locator.predictors)
        raise JobFailed("model_unavailable", f"model {job.model!r} could not be loaded: {exc}") from exc

    (raw,) = predictor.predict([rgb])
    height, width = rgb.shape[:2]
    threshold = float(job.input.get("score_threshold", 0.5))
    chosen = select_detections(raw, score_threshold=threshold, labels=job.input.get("labels"))

    rows: list[Detection] = []
    for rank, found in enumerate(chosen):
        x1, y1, x2, y2 = (int(v) for v in found.box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        if x2 <= x1 or y2 <= y1:
            continue
        # Masks of kept detections only, one image-sized array at a time (a predictor may
        # give them compact, pasted on demand: see RawDetection).
        full = found.full_mask(height, width)
        mask = rle.encode(full) if full is not None else None
        del full
        rows.append(
            Detection(
                id=detection_id(job.id, rank),
                job_id=job.id,
                image_id=image_id,
                owner_id=job.owner_id,
                rank=rank,
                label=str(found.label)[:100],
                score=round(float(found.score), 4),
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                mask=mask,
            )
        )
    # No "image_id" key: the API would present it as an output image with a URL. The image
    # is the job's input.image_id.
    output = {"width": width, "height": height, "detections": [row.as_output() for row in rows]}

    def finalize(session: Any) -> None:
        session.add_all(rows)

    logger.info("located objects", extra={"job_id": str(job.id), "count": len(rows), "model": job.model})
    return JobResult(output=output, finalize=finalize)


def _is_missing(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in {"NoSuchKey", "404", "NotFound"}
