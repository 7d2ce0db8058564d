"""Job rows and their guarded transitions.

Every status change is a compare-and-set (``UPDATE ... WHERE status IN (...)``) checked by
its row count, so two workers can never both run a job and a finished job never runs again.
A running job carries a lease; a worker that dies leaves it to expire, and the next delivery
of the job's message takes the job over. The attempt number is the fencing token: a worker
whose lease was taken over can no longer finish the job.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs.lease import current_owner, owner_is_gone
from app.jobs.models import Job, JobStatus


def canonical_hash(value: Any) -> str:
    """sha256 of a canonical JSON form: stable across processes (unlike ``hash()``)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def get_owned_job(session: Session, *, owner_id: uuid.UUID, job_id: uuid.UUID) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner_id))


def get_by_idempotency_key(session: Session, *, owner_id: uuid.UUID, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key))


def _cas(session: Session, job_id: uuid.UUID, where: Any, **values: Any) -> bool:
    """Apply the transition if the row still matches; it commits with the session's pending
    writes, or everything rolls back together."""
    result = session.execute(update(Job).where(Job.id == job_id, where).values(**values))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    session.rollback()
    return False


def claim(
    session: Session, *, job_id: uuid.UUID, lease_seconds: int, max_attempts: int, owner: str | None = None
) -> int | None:
    """queued (or running with an expired lease) → running, leased to ``owner`` (default: this
    process). Returns the attempt number, or None."""
    now = utcnow()
    claimable = and_(
        Job.attempts < max_attempts,
        or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)),
    )
    claimed = _cas(
        session,
        job_id,
        claimable,
        status=JobStatus.RUNNING,
        attempts=Job.attempts + 1,
        started_at=func.coalesce(Job.started_at, now),
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        lease_owner=owner or current_owner(),
        status_message=None,
    )
    if not claimed:
        return None
    return session.scalar(select(Job.attempts).where(Job.id == job_id))


def give_up_if_exhausted(session: Session, *, job_id: uuid.UUID, max_attempts: int) -> bool:
    """A job whose attempts are spent and that nobody is running any more ends ``failed``."""
    now = utcnow()
    stranded = and_(
        Job.attempts >= max_attempts,
        or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)),
    )
    return _cas(session, job_id, stranded, **_gave_up(max_attempts, now))


def _gave_up(max_attempts: int, now: datetime) -> dict[str, Any]:
    """The final state of a job whose attempts were all spent by workers that never finished."""
    return {
        "status": JobStatus.FAILED,
        "completed_at": now,
        "lease_expires_at": None,
        "lease_owner": None,
        "status_message": None,
        "error_code": "max_attempts",
        "error_message": f"gave up after {max_attempts} attempts: the worker stopped without finishing "
        "(crash, out of memory, timeout or a lost database connection)",
    }


def _mine(attempt: int) -> Any:
    return and_(Job.status == JobStatus.RUNNING, Job.attempts == attempt)


def finish(session: Session, *, job_id: uuid.UUID, attempt: int, output: dict[str, Any]) -> bool:
    """running (this attempt) → succeeded. The caller's pending writes commit with it."""
    return _cas(
        session,
        job_id,
        _mine(attempt),
        status=JobStatus.SUCCEEDED,
        output=output,
        completed_at=utcnow(),
        lease_expires_at=None,
        lease_owner=None,
        status_message=None,
    )


def fail(
    session: Session,
    *,
    job_id: uuid.UUID,
    code: str,
    message: str,
    attempt: int | None = None,
    from_statuses: tuple[str, ...] = (JobStatus.QUEUED, JobStatus.RUNNING),
) -> bool:
    where = _mine(attempt) if attempt is not None else Job.status.in_(from_statuses)
    return _cas(
        session,
        job_id,
        where,
        status=JobStatus.FAILED,
        error_code=code,
        error_message=message[:2000],
        completed_at=utcnow(),
        lease_expires_at=None,
        lease_owner=None,
        status_message=None,
    )


def requeue(
    session: Session,
    *,
    job_id: uuid.UUID,
    attempt: int,
    message: str,
    count_attempt: bool,
    due_seconds: float = 0,
    grace_seconds: int = 120,
) -> bool:
    """running (this attempt) → queued, with a message the user can see while it waits.

    A queued job's ``lease_expires_at`` is the time by which something should have taken it
    (its retry delay plus a grace period); after that the reaper dispatches it again."""
    values: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "status_message": message[:2000],
        "lease_expires_at": utcnow() + timedelta(seconds=due_seconds + grace_seconds),
        "lease_owner": None,
        "requeues": Job.requeues + 1,
    }
    if not count_attempt:  # waiting for an endpoint to wake is not a failed attempt
        values["attempts"] = Job.attempts - 1
    return _cas(session, job_id, _mine(attempt), **values)


def cancel(session: Session, *, job_id: uuid.UUID) -> bool:
    return _cas(
        session,
        job_id,
        Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        status=JobStatus.CANCELED,
        completed_at=utcnow(),
        lease_expires_at=None,
        lease_owner=None,
        status_message="canceled by the user",
    )


def set_external_ref(session: Session, *, job_id: uuid.UUID, ref: str) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(external_ref=ref))
    session.commit()


def release_leases_of_gone_owners(session: Session) -> int:
    """Start-up: leases held by processes of this host that no longer run (this server's
    predecessor, killed) are expired now. Any other lease is left to expire on its own: a
    second server on the same database must not take over the first one's running jobs."""
    rows = session.execute(
        select(Job.id, Job.lease_owner).where(Job.status == JobStatus.RUNNING, Job.lease_expires_at >= utcnow())
    ).all()
    released = 0
    for job_id, owner in rows:
        if owner_is_gone(owner) and _cas(
            session,
            job_id,
            and_(Job.status == JobStatus.RUNNING, Job.lease_owner == owner),
            lease_expires_at=utcnow() - timedelta(seconds=1),
        ):
            released += 1
    session.commit()
    return released


def reap(
    session: Session,
    *,
    max_attempts: int,
    grace_seconds: int,
    orphaned_owner: str | None = None,
    active: frozenset[uuid.UUID] = frozenset(),
    limit: int = 200,
) -> list[uuid.UUID]:
    """Jobs nobody is running any more, made runnable again; returns the ids to dispatch.

    - running with an expired lease → queued (attempts spent → failed, ``max_attempts``);
    - running, leased to ``orphaned_owner`` (this process) but not in ``active`` → the same
      (the local runner that held it raised before it could finish);
    - queued past its due time (never taken: its dispatch or claim failed) → dispatched again.

    Each change is a compare-and-set, so two reapers never both requeue a job.
    """
    now = utcnow()
    due = now + timedelta(seconds=grace_seconds)
    expired_running = and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
    stale_queued = and_(
        Job.status == JobStatus.QUEUED,
        or_(
            Job.lease_expires_at < now,
            and_(Job.lease_expires_at.is_(None), Job.created_at < now - timedelta(seconds=grace_seconds)),
        ),
    )
    candidates = [expired_running, stale_queued]
    if orphaned_owner:
        candidates.append(and_(Job.status == JobStatus.RUNNING, Job.lease_owner == orphaned_owner))
    rows = session.execute(
        select(Job.id, Job.status, Job.attempts, Job.lease_owner)
        .where(or_(*candidates))
        .order_by(Job.created_at)
        .limit(limit)
    ).all()
    to_dispatch: list[uuid.UUID] = []
    for job_id, status_, attempts, owner in rows:
        if status_ == JobStatus.QUEUED:
            if _cas(session, job_id, stale_queued, lease_expires_at=due):
                to_dispatch.append(job_id)
            continue
        if job_id in active:
            continue
        still_held_by = and_(
            Job.status == JobStatus.RUNNING,
            Job.attempts == attempts,
            or_(Job.lease_expires_at < now, Job.lease_owner == owner) if owner else Job.lease_expires_at < now,
        )
        if attempts >= max_attempts:
            _cas(session, job_id, still_held_by, **_gave_up(max_attempts, now))
        elif _cas(
            session,
            job_id,
            still_held_by,
            status=JobStatus.QUEUED,
            lease_expires_at=due,
            lease_owner=None,
            status_message="its worker stopped without finishing; queued again",
        ):
            to_dispatch.append(job_id)
    return to_dispatch


def unfinished_job_ids(session: Session, *, kind: str | None = None, now: datetime | None = None) -> list[uuid.UUID]:
    """Jobs that nobody is running: queued, or running with an expired lease (oldest first)."""
    now = now or utcnow()
    query = select(Job.id).where(
        or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now))
    )
    if kind:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query.order_by(Job.created_at)))
