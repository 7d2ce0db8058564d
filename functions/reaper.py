"""Scheduled reaper Lambda (EventBridge schedule, every minute): jobs nobody is running any
more are made runnable again and handed to their dispatcher (SQS, or the locator's ECS task).

Stranded jobs are those whose worker died or lost the database mid-run (lease expired) and
those queued whose dispatch or claim failed (a database blip, a queue error). Without this
they would wait for SQS's visibility timeout (30 minutes), or for ever. Idempotent: every
change is a compare-and-set, and a duplicate delivery of a job is skipped by its claim.
"""

from __future__ import annotations

from typing import Any

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.jobs.reaper import reap_and_dispatch


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings.log_level)
    dispatched = reap_and_dispatch(settings)
    return {"dispatched": [str(job_id) for job_id in dispatched]}
