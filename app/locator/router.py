"""POST /v1/detections (a "locate" job) and GET /v1/images/{id}/detections."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.core.schemas import error_responses
from app.images.models import ImageStatus
from app.images.service import get_owned_image
from app.jobs.models import Job, JobStatus
from app.jobs.schemas import JobPublic
from app.jobs.submit import IdempotencyKey, Prefer, resolve_model_or_422, submit_job
from app.locator.models import Detection
from app.locator.schemas import DetectionCreate, DetectionPublic, ImageDetections

router = APIRouter(tags=["detections"])

DEFAULT_SCORE_THRESHOLD = 0.5


@router.post(
    "/detections",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=error_responses(403, 404, 409, 429, 503),
)
def create_detections(
    body: DetectionCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> JSONResponse:
    """Find the objects in an image: a `locate` job (202 + `Location`; `Prefer: wait=N` to wait).

    The job's output is `{width, height, detections: [{id, label, score, box, mask?}]}`; the
    detections are also kept (`GET /v1/images/{id}/detections`), and their ids can be given to
    inpainting as `mask: {"detection_ids": [...]}`.
    """
    image = get_owned_image(session, owner_id=user.id, image_id=body.image_id)
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "image not found")
    if image.status != ImageStatus.READY:
        raise HTTPException(status.HTTP_409_CONFLICT, "the image's upload has not been completed")
    model = resolve_model_or_422(session, settings, kind="locate", name=body.model)
    threshold = body.score_threshold
    if threshold is None:
        threshold = float((model.defaults or {}).get("score_threshold", DEFAULT_SCORE_THRESHOLD))
    job_input = {"image_id": str(image.id), "score_threshold": threshold, "labels": body.labels}
    return submit_job(
        request=request,
        session=session,
        settings=settings,
        user=user,
        kind="locate",
        model=model,
        request_body=body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        prefer=prefer,
        build_input=lambda _job_id: job_input,
    )


@router.get("/images/{image_id}/detections", response_model=ImageDetections, responses=error_responses(404))
def list_image_detections(
    image_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    masks: bool = Query(True, description="Include the instance masks (they can be large)."),
) -> ImageDetections:
    """The detections of the image's most recent successful locate job (none yet: an empty list)."""
    image = get_owned_image(session, owner_id=user.id, image_id=image_id)
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "image not found")
    job = latest_locate_job(session, owner_id=user.id, image_id=image.id)
    if job is None:
        return ImageDetections(
            image_id=image.id,
            job_id=None,
            model=None,
            width=image.width,
            height=image.height,
            completed_at=None,
            detections=[],
        )
    rows = session.scalars(select(Detection).where(Detection.job_id == job.id).order_by(Detection.rank))
    output = job.output or {}
    return ImageDetections(
        image_id=image.id,
        job_id=job.id,
        model=job.model,
        width=output.get("width", image.width),
        height=output.get("height", image.height),
        completed_at=job.completed_at,
        detections=[DetectionPublic.model_validate(row.as_output(with_mask=masks)) for row in rows],
    )


def latest_locate_job(session: SessionDep, *, owner_id: uuid.UUID, image_id: uuid.UUID) -> Job | None:
    return session.scalar(
        select(Job)
        .where(
            Job.owner_id == owner_id,
            Job.kind == "locate",
            Job.status == JobStatus.SUCCEEDED,
            Job.input["image_id"].as_string() == str(image_id),
        )
        .order_by(Job.completed_at.desc(), Job.id.desc())
        .limit(1)
    )
