from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select

from app.api.deps import (
    CredentialDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    StorageDep,
    authenticate,
    owned_row,
    run_blocking,
)
from app.core.db import new_session
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, paginate
from app.core.schemas import error_responses
from app.jobs.models import Job, JobStatus
from app.jobs.presenter import present, present_many
from app.jobs.schemas import JobPublic
from app.storage import get_storage

router = APIRouter(prefix="/jobs", tags=["jobs"])

_STATUS_PATTERN = "^(" + "|".join(JobStatus.ALL) + ")$"


def owned_job_or_404(session: SessionDep, user: CurrentUser, job_id: uuid.UUID) -> Job:
    from app.jobs import service  # the job engine: not needed by the reads clients poll

    job = service.get_owned_job(session, owner_id=user.id, job_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    return job


# The two reads clients poll are async with all their blocking work (authentication included)
# in one go: one threadpool call under a server, inline in a Lambda container (run_blocking),
# one connection checkout, and the response validated on the event loop, not in a second hop.


@router.get("", response_model=Page[JobPublic])
async def list_jobs(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    credential: CredentialDep,
    status_filter: str | None = Query(None, alias="status", pattern=_STATUS_PATTERN),
    kind: str | None = Query(None, pattern="^(inpaint|locate)$"),
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> Page[JobPublic]:
    def read() -> Page[JobPublic]:
        user = authenticate(request, session, settings, credential)
        query = select(Job).where(Job.owner_id == user.id)
        if status_filter:
            query = query.where(Job.status == status_filter)
        if kind:
            query = query.where(Job.kind == kind)
        rows, next_cursor = paginate(session, query, Job, cursor=cursor, limit=limit)
        page = Page(items=present_many(session, storage, rows), next_cursor=next_cursor)
        session.commit()  # ends the read transaction: the connection goes back to the pool here
        return page

    return await run_blocking(request, read)


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(404))
async def get_job(
    job_id: uuid.UUID,
    request: Request,
    settings: SettingsDep,
    credential: CredentialDep,
) -> JobPublic:
    def read() -> JobPublic:
        job = owned_row(request, settings, credential, Job.__table__, job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
        if not (job.output and job.output.get("image_id")):
            return JobPublic.from_job(job)
        with new_session() as session:  # an output image: its storage key, for a fresh URL
            return present(session, get_storage(), job)

    return await run_blocking(request, read)


@router.post("/{job_id}/cancel", response_model=JobPublic, responses=error_responses(404, 409))
def cancel_job(job_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: CurrentUser) -> JobPublic:
    from app.jobs import service

    job = owned_job_or_404(session, user, job_id)
    if not service.cancel(session, job_id=job.id):
        session.refresh(job)
        raise HTTPException(status.HTTP_409_CONFLICT, f"the job has already finished ({job.status})")
    session.refresh(job)
    return present(session, storage, job)
