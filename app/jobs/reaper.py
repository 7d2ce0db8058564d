"""The reaper: makes jobs that nobody is running runnable again, and hands them over.

A job is stranded when its worker died or lost the database (lease expired), or when it was
queued but its dispatch or claim failed (a database blip, a queue error). Local mode runs this
as a periodic task in the server; in AWS a scheduled function (functions/reaper.py) does.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from app.core.config import Settings
from app.core.db import new_session
from app.jobs import service
from app.jobs.models import Job

logger = logging.getLogger(__name__)


def reap_and_dispatch(
    settings: Settings,
    *,
    orphaned_owner: str | None = None,
    active: frozenset[uuid.UUID] = frozenset(),
) -> list[uuid.UUID]:
    """One round: requeue what is stranded and dispatch it; returns the dispatched job ids."""
    from app.catalog.models import MLModel
    from app.jobs.dispatch import DispatchError, get_dispatcher

    with new_session() as session:
        job_ids = service.reap(
            session,
            max_attempts=settings.job_max_attempts,
            grace_seconds=settings.job_dispatch_grace_seconds,
            orphaned_owner=orphaned_owner,
            active=active,
        )
        if not job_ids:
            return []
        rows = session.execute(
            select(Job.id, MLModel.backend).outerjoin(MLModel, MLModel.name == Job.model).where(Job.id.in_(job_ids))
        )
        backends = {job_id: backend for job_id, backend in rows}
    dispatched = []
    for job_id in job_ids:
        try:
            get_dispatcher(backends.get(job_id) or "", settings).dispatch(job_id)
        except DispatchError:
            # Still queued past its due time: the next round tries again.
            logger.warning("reaper could not dispatch a job", extra={"job_id": str(job_id)})
            continue
        dispatched.append(job_id)
    logger.info("reaper requeued stranded jobs", extra={"count": len(dispatched)})
    return dispatched
