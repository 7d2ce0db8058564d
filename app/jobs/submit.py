"""What every job-creating POST does: idempotency, access, quota, insert, dispatch, wait."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog import service as catalog
from app.catalog.models import MLModel
from app.core.config import Settings
from app.core.db import new_session, utcnow
from app.images.models import Image
from app.jobs import service
from app.jobs.dispatch import DispatchError, get_dispatcher
from app.jobs.models import Job, JobStatus
from app.jobs.schemas import JobPublic
from app.storage import Storage, get_storage
from app.users.models import User

MAX_WAIT_SECONDS = 25  # API Gateway cuts a request at 30 s
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+)", re.IGNORECASE)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry safely: the same key and body return the same job; another body is a 409.",
    ),
]
Prefer = Annotated[
    str | None, Header(description="`wait=N` (N ≤ 25): hold the response until the job finishes or N seconds pass.")
]


def wait_seconds(prefer: str | None) -> int:
    """Seconds to hold the answer for; never raises (an absurd wait is the longest one)."""
    match = _PREFER_WAIT.search(prefer or "")
    if not match:
        return 0
    digits = match.group(1).lstrip("0") or "0"
    return MAX_WAIT_SECONDS if len(digits) > 3 else min(int(digits), MAX_WAIT_SECONDS)


def resolve_model_or_422(session: Session, settings: Settings, *, kind: str, name: str | None) -> MLModel:
    try:
        return catalog.resolve_model(session, settings, kind=kind, name=name)
    except catalog.ModelUnavailable as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def submit_job(
    *,
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    kind: str,
    model: MLModel,
    request_body: dict[str, Any],
    idempotency_key: str | None,
    prefer: str | None,
    build_input: Callable[[uuid.UUID], dict[str, Any]],
    cache_key: str | None = None,
    completed: Callable[[Job], dict[str, Any] | None] | None = None,
) -> JSONResponse:
    """Create (or find again) a job and answer 202 with it and its ``Location``.

    ``build_input(job_id)`` is called once, for a new job only, after every check has passed
    (it may store a mask under the job's id). ``completed(job)`` may answer from an earlier
    identical result instead of running the job (returns the output, or None to run it).
    """
    wait_seconds(prefer)  # a header that cannot be read fails here, before any job exists
    request_hash = service.canonical_hash({"kind": kind, "model": model.name, "body": request_body})
    if idempotency_key:
        existing = service.get_by_idempotency_key(session, owner_id=user.id, key=idempotency_key)
        if existing is not None:
            return _replay(request, session, existing, request_hash, prefer)
    try:
        policy = catalog.check_access(session, user=user, model_name=model.name)
    except catalog.AccessDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc

    job_id = uuid.uuid4()
    job = Job(
        id=job_id,
        owner_id=user.id,
        kind=kind,
        model=model.name,
        status=JobStatus.QUEUED,
        input=build_input(job_id),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        cache_key=cache_key,
    )
    try:
        catalog.consume_quota(session, user=user, policy=policy, now=utcnow())
        session.add(job)
        session.commit()
    except catalog.QuotaExceeded as exc:
        session.rollback()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}
        ) from exc
    except IntegrityError:
        session.rollback()  # the same Idempotency-Key raced in: answer as for a retry
        existing = service.get_by_idempotency_key(session, owner_id=user.id, key=idempotency_key or "")
        if existing is None:
            raise
        return _replay(request, session, existing, request_hash, prefer)

    cached_output = completed(job) if completed else None
    if cached_output is not None:
        service.claim(session, job_id=job.id, lease_seconds=settings.job_lease_seconds, max_attempts=1)
        service.finish(session, job_id=job.id, attempt=1, output={**cached_output, "cached": True})
        session.refresh(job)
    else:
        try:
            ref = get_dispatcher(model.backend, settings).dispatch(job.id)
        except DispatchError as exc:
            service.fail(session, job_id=job.id, code="dispatch_failed", message=str(exc))
            session.refresh(job)
            return _respond(request, job, status.HTTP_503_SERVICE_UNAVAILABLE)
        if ref:
            service.set_external_ref(session, job_id=job.id, ref=ref)
    return _respond(request, _wait(session, job, prefer), status.HTTP_202_ACCEPTED)


def _replay(request: Request, session: Session, job: Job, request_hash: str, prefer: str | None) -> JSONResponse:
    if job.request_hash != request_hash:
        raise HTTPException(status.HTTP_409_CONFLICT, "this Idempotency-Key was used with another request body")
    return _respond(request, _wait(session, job, prefer), status.HTTP_202_ACCEPTED)


def _wait(session: Session, job: Job, prefer: str | None) -> Job:
    seconds = wait_seconds(prefer)
    job_id = job.id
    deadline = time.monotonic() + seconds
    delay = 0.05
    while job.status not in JobStatus.FINISHED and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.5)
        with new_session() as fresh:  # a new snapshot each time (no stale reads)
            job = fresh.get(Job, job_id) or job
    return job


def job_url(request: Request, job_id: uuid.UUID) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}/v1/jobs/{job_id}"


def _respond(request: Request, job: Job, status_code: int) -> JSONResponse:
    with new_session() as session:
        body = present(session, get_storage(), job).model_dump(mode="json")
    return JSONResponse(body, status_code=status_code, headers={"Location": job_url(request, job.id)})


def present(session: Session, storage: Storage, job: Job) -> JobPublic:
    """The job as clients see it; an output image gets a fresh time-limited URL."""
    output = dict(job.output) if job.output else None
    if output and output.get("image_id"):
        image = session.get(Image, uuid.UUID(str(output["image_id"])))
        output["url"] = storage.url(image.storage_key) if image is not None else None
    return JobPublic.from_job(job, output=output)
