"""Issue 14 #3: nothing stays queued/running for ever after a transient database error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from app.core.db import utcnow
from app.jobs import service
from app.jobs.lease import current_owner
from app.jobs.reaper import reap_and_dispatch
from app.jobs.runner import Outcome, run_job
from tests.jobs import support


def _db_blip(monkeypatch, name: str, failures: int):
    """``service.<name>`` raises as a restarting PostgreSQL would, ``failures`` times."""
    real = getattr(service, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise OperationalError("UPDATE jobs ...", {}, Exception("server closed the connection unexpectedly"))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, name, flaky)
    return calls


@pytest.mark.parametrize("step", ["claim", "finish"])
def test_runner_retries_its_own_db_steps_through_a_blip(db, make_job, reload, monkeypatch, step):
    job = make_job()
    calls = _db_blip(monkeypatch, step, failures=2)
    assert run_job(job.id) == Outcome.SUCCEEDED
    assert calls["n"] == 3
    done = reload(job.id)
    assert (done.status, done.attempts) == ("succeeded", 1)


def test_runner_gives_up_after_its_retry_budget_and_the_reaper_finishes_the_job(
    db, make_job, reload, monkeypatch, settings
):
    monkeypatch.setattr(settings, "job_db_retry_seconds", 0.3)
    job = make_job()
    real_claim = service.claim
    _db_blip(monkeypatch, "claim", failures=100)
    with pytest.raises(OperationalError):
        run_job(job.id, settings=settings)
    monkeypatch.setattr(service, "claim", real_claim)  # the database is back
    # Still queued, never taken: once past its due time the reaper dispatches it again.
    db.execute(
        type(job).__table__.update().where(type(job).id == job.id).values(created_at=utcnow() - timedelta(hours=1))
    )
    db.commit()
    from app.jobs.dispatch import local_dispatcher

    assert reap_and_dispatch(settings) == [job.id]
    local_dispatcher(settings).wait_idle()
    assert reload(job.id).status == "succeeded"


def test_reaper_requeues_expired_and_orphaned_leases_and_fails_spent_ones(db, make_job, reload, settings):
    from app.jobs.dispatch import local_dispatcher

    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(minutes=10)
    expired = make_job(status="running", attempts=1, lease_expires_at=past, lease_owner="elsewhere:1:a")
    orphan = make_job(status="running", attempts=1, lease_expires_at=future, lease_owner=current_owner())
    active = make_job(status="running", attempts=1, lease_expires_at=future, lease_owner=current_owner())
    live_elsewhere = make_job(status="running", attempts=1, lease_expires_at=future, lease_owner="elsewhere:2:b")
    spent = make_job(status="running", attempts=settings.job_max_attempts, lease_expires_at=past)
    fresh_queued = make_job()  # just created: its dispatch is under way, not stranded

    dispatched = reap_and_dispatch(settings, orphaned_owner=current_owner(), active=frozenset({active.id}))
    assert set(dispatched) == {expired.id, orphan.id}
    local_dispatcher(settings).wait_idle()
    assert {job_id for job_id, _ in support.CALLS} == {expired.id, orphan.id}
    assert (reload(expired.id).status, reload(expired.id).attempts) == ("succeeded", 2)
    assert reload(orphan.id).status == "succeeded"
    for untouched in (active, live_elsewhere):
        assert reload(untouched.id).status == "running"
    assert (reload(spent.id).status, reload(spent.id).error_code) == ("failed", "max_attempts")
    assert reload(fresh_queued.id).status == "queued"
    assert reap_and_dispatch(settings) == []  # a second round finds nothing
