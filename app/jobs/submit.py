"""What every job-creating POST does: idempotency, access, quota, insert, dispatch, wait."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Insert, TextClause, bindparam, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog import service as catalog
from app.core.config import Settings
from app.core.db import autocommit_connection, new_session, utcnow
from app.jobs import service
from app.jobs.dispatch import DispatchError, get_dispatcher
from app.jobs.models import Job, JobStatus
from app.jobs.presenter import present
from app.storage import get_storage

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


def resolve_model_or_422(session: Session, settings: Settings, *, kind: str, name: str | None) -> catalog.Model:
    try:
        return catalog.resolve_model(session, settings, kind=kind, name=name)
    except catalog.ModelUnavailable as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


def submit_job(
    *,
    request: Request,
    session: Session,
    settings: Settings,
    user: catalog.Principal,
    kind: str,
    model: catalog.Model,
    request_body: dict[str, Any],
    idempotency_key: str | None,
    prefer: str | None,
    build_input: Callable[[uuid.UUID], dict[str, Any]],
    cache_key: str | None = None,
    completed: Callable[[str], dict[str, Any] | None] | None = None,
    access: catalog.ModelChoice | None = None,
) -> JSONResponse:
    """Create (or find again) a job and answer 202 with it and its ``Location``.

    ``build_input(job_id)`` is called once, for a new job only, after every check has passed
    (it may store a mask under the job's id). ``completed(cache_key)`` may answer from an
    earlier identical result instead of running the job (returns the output, or None to run it).
    ``access``: the model's policy for this user, already looked up with the model.
    """
    wait_seconds(prefer)  # a header that cannot be read fails here, before any job exists
    request_hash = service.canonical_hash({"kind": kind, "model": model.name, "body": request_body})
    if idempotency_key:
        existing = service.get_by_idempotency_key(session, owner_id=user.id, key=idempotency_key)
        if existing is not None:
            return _replay(request, session, existing, request_hash, prefer)
    try:
        if access is not None and access.model is model:
            policy = catalog.check_policy(access.policy, model_name=model.name)
        else:
            policy = catalog.check_access(session, user=user, model_name=model.name)
    except catalog.AccessDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc

    job_id = uuid.uuid4()
    values: dict[str, Any] = dict.fromkeys(_JOB_COLUMNS)  # every column set: nothing is left to load later
    values.update(
        id=job_id,
        owner_id=user.id,
        kind=kind,
        model=model.name,
        status=JobStatus.QUEUED,
        input=build_input(job_id),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        cache_key=cache_key,
        attempts=0,
        requeues=0,
        created_at=utcnow(),
    )
    try:
        if session.get_bind().dialect.name == "postgresql":
            if session.in_transaction():
                session.commit()  # ends the reads: the write is a statement of its own
            with autocommit_connection(session) as connection:
                _insert_counted(connection, values, user_id=user.id, plan=catalog.plan_quota(policy, utcnow()))
        else:
            # A Core INSERT on the session's connection: the ORM's flush of one new object
            # cost more than everything else in the transaction.
            session.connection().execute(_insert_job(), values)
            # Last before the commit: the quota counter rows stay locked from here to the
            # commit, and every other submit of this user to this model waits for them.
            catalog.consume_quota(session, user=user, policy=policy, now=utcnow())
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

    # The new job as inserted: every column is in ``values``, so presenting it needs no read.
    job: Job | SimpleNamespace = SimpleNamespace(**values)
    cached_output = completed(cache_key) if completed and cache_key else None
    if cached_output is not None:
        service.claim(session, job_id=job_id, lease_seconds=settings.job_lease_seconds, max_attempts=1, owner="request")
        service.finish(session, job_id=job_id, attempt=1, output={**cached_output, "cached": True})
        job = _reread(session, job_id)
    else:
        try:
            ref = get_dispatcher(model.backend, settings).dispatch(job_id)
        except DispatchError as exc:
            service.fail(session, job_id=job_id, code="dispatch_failed", message=str(exc))
            return _respond(request, session, _reread(session, job_id), status.HTTP_503_SERVICE_UNAVAILABLE)
        if ref:
            service.set_external_ref(session, job_id=job_id, ref=ref)
    return _respond(request, session, job, status.HTTP_202_ACCEPTED, wait=wait_seconds(prefer))


def _reread(session: Session, job_id: uuid.UUID) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None  # inserted and committed by this request; only its owner deletes it
    return job


_JOB_COLUMNS = tuple(column.key for column in Job.__table__.columns)


def _insert_counted(
    autocommit: Connection, values: dict[str, Any], *, user_id: uuid.UUID, plan: catalog.QuotaPlan
) -> None:
    """PostgreSQL: bump the quota counters and insert the job in one autocommitted statement.

    The counter rows are locked from their bump to the commit, and every other submit of this
    user to this model waits for them. In a transaction driven from Python that window
    included the interpreter taking the GIL back between the statement and the COMMIT (up to
    a switch interval, 5 ms, with busy threads): under load most submits stood in the lock
    queue. As one autocommitted statement, the server bumps, inserts, commits and releases
    the rows before answering. Raises ``QuotaExceeded`` with nothing counted."""
    refused = plan.refusal(set(plan.limits))  # a limit of 0 refuses before anything is written
    if refused is not None:
        raise refused
    params = {**values, **plan.counter_params(user_id)}
    counted, inserted = autocommit.execute(_counted_insert(len(plan.limits)), params).one()
    if not inserted:  # a quota is used up: take back the counters this statement bumped
        counted = set(counted)
        catalog.uncount(autocommit, user_id=user_id, model_name=plan.model_name, periods=counted)
        refused = plan.refusal(counted)
        assert refused is not None  # the job is inserted whenever every counter was bumped
        raise refused


@lru_cache
def _counted_insert(periods: int) -> TextClause:
    """``WITH bumped AS (<counter upsert>), job AS (INSERT INTO jobs ... SELECT ... WHERE every
    counter was bumped) SELECT <periods bumped>, <rows inserted>``, built once per number of
    counted periods (PostgreSQL: data-modifying CTEs)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    columns = Job.__table__.columns
    names = ", ".join(f'"{column.key}"' for column in columns)
    # Typed: INSERT ... SELECT takes a bare placeholder as text, which a UUID or JSON column refuses.
    casts = ", ".join(f"CAST(:{column.key} AS {column.type.compile(dialect=dialect)})" for column in columns)
    binds = [bindparam(column.key, type_=column.type) for column in columns]
    if periods:
        bumped = f"WITH bumped AS ({catalog.counter_upsert_sql(periods)}), "
        guard, counted = "WHERE (SELECT count(*) FROM bumped) = :periods", "ARRAY(SELECT period FROM bumped)"
        binds += [bindparam("user_id", type_=catalog.counter_user_id_type()), bindparam("periods", value=periods)]
    else:
        bumped, guard, counted = "WITH ", "", "ARRAY[]::varchar[]"
    # Only column names and the counter SQL's numbered placeholders are formatted in: every
    # value is a bound parameter.
    statement = text(
        f"{bumped}job AS (INSERT INTO jobs ({names}) SELECT {casts} {guard} RETURNING 1) "  # noqa: S608
        f"SELECT {counted} AS counted, (SELECT count(*) FROM job) AS inserted"
    )
    return statement.bindparams(*binds)


@lru_cache
def _insert_job() -> Insert:
    return insert(Job.__table__)


def _replay(request: Request, session: Session, job: Job, request_hash: str, prefer: str | None) -> JSONResponse:
    if job.request_hash != request_hash:
        raise HTTPException(status.HTTP_409_CONFLICT, "this Idempotency-Key was used with another request body")
    return _respond(request, session, job, status.HTTP_202_ACCEPTED, wait=wait_seconds(prefer))


def job_url(request: Request, job_id: uuid.UUID) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}/v1/jobs/{job_id}"


def _respond(
    request: Request, session: Session, job: Job | SimpleNamespace, status_code: int, *, wait: int = 0
) -> JSONResponse:
    """The job, presented with the request's own session (one connection is enough), which
    then ends its transaction so the connection goes back to the pool before any waiting."""
    body = present(session, get_storage(), job).model_dump(mode="json")
    if session.in_transaction():
        session.commit()
    headers = {"Location": job_url(request, job.id)}
    if wait > 0 and job.status not in JobStatus.FINISHED:
        return _WaitingJobResponse(job.id, seconds=wait, status_code=status_code, headers=headers)
    return JSONResponse(body, status_code=status_code, headers=headers)


class _WaitingJobResponse(JSONResponse):
    """``Prefer: wait``: polls the job from the event loop (asyncio.sleep, not a blocked
    threadpool thread) and sends it once it has finished or the time is up. Each look opens a
    short session in the threadpool; nothing is held between looks."""

    def __init__(self, job_id: uuid.UUID, *, seconds: int, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(None, status_code=status_code)
        self.job_id = job_id
        self.seconds = seconds
        self.extra_headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool

        deadline = time.monotonic() + self.seconds
        delay = 0.05
        while True:
            body, finished = await run_in_threadpool(_look, self.job_id)
            remaining = deadline - time.monotonic()
            if finished or remaining <= 0:
                break
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.5)
        await JSONResponse(body, status_code=self.status_code, headers=self.extra_headers)(scope, receive, send)


def _look(job_id: uuid.UUID) -> tuple[dict[str, Any], bool]:
    with new_session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return present(session, get_storage(), job).model_dump(mode="json"), job.status in JobStatus.FINISHED
