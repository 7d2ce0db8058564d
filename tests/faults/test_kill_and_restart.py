"""kill -9 of the local server mid-run, then a restart: every job ends final exactly once."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, create_user
from tests.faults.support import sign_in, submit_jobs, upload_busy_image, wait_all_final, wait_until

JOBS = 6
HELD_FILL_SECONDS = 300  # the first server's fills outlast the test: the kill always lands mid-fill


def test_kill_9_mid_run_then_restart(db, database_url, server_factory):
    from app.images.models import Image
    from app.jobs.models import Job

    def statuses() -> dict[str, int]:
        db.expire_all()
        db.rollback()
        return dict(db.execute(select(Job.status, func.count()).group_by(Job.status)).all())

    user = create_user(db)
    server = server_factory(fill_seconds=HELD_FILL_SECONDS)
    url = server.start()
    with httpx.Client(base_url=url, timeout=30) as client:
        sign_in(client, user.email, DEFAULT_PASSWORD)
        job_ids = submit_jobs(client, upload_busy_image(client), JOBS)
    wait_until(
        lambda: statuses().get("running", 0) >= 1,
        30,
        0.1,
        message=f"no job started: {statuses()}\n{server.log_tail()}",
    )
    time.sleep(0.5)  # into the fill, past the claim
    server.kill()  # SIGKILL: no shutdown, leases left held by a dead process

    left = statuses()
    assert left.get("running", 0) >= 1, left  # the kill really hit jobs mid-run

    url = server_factory().start()  # same database, same storage
    with httpx.Client(base_url=url, timeout=30) as client:
        sign_in(client, user.email, DEFAULT_PASSWORD)
        states = wait_all_final(client, 240)
    assert set(states) == set(job_ids)
    assert {s for s, _ in states.values()} == {"succeeded"}, states
    assert all(1 <= attempts <= 2 for _, attempts in states.values())
    db.expire_all()
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Image)) == JOBS + 1  # one output each, plus the input
