"""``app.main:app``, accept-only: submits create their jobs, but no job runs in this process.

Figure 5 measures what accepting a job costs; a local job thread running OpenCV fills on the
same cores would measure the fills instead. The app has no setting for this (LOCAL_WORKERS must
be at least 1: a server whose jobs never run is not a product), so the bench puts a dispatcher that only records
the job ids where ``app.jobs.dispatch.local_dispatcher`` finds its singleton. Everything else,
middleware, routes, lifespan, pool sizing, is the served app's own.
"""

from __future__ import annotations

import uuid

from app.jobs import dispatch
from app.main import app

__all__ = ["app"]


class AcceptOnlyDispatcher(dispatch.LocalDispatcher):
    """Keeps the jobs queued: the reaper of a later server (or nobody, in the bench) runs them."""

    def __init__(self) -> None:
        super().__init__(workers=1)  # never used; shutdown() still has an executor to stop
        self.dispatched = 0

    def dispatch(self, job_id: uuid.UUID, *, delay_seconds: int = 0) -> str | None:
        self.dispatched += 1
        return None


dispatch._local = AcceptOnlyDispatcher()
