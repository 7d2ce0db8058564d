"""The job engine: guarded transitions, leases, retries, and the outcomes of each fault."""

from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.images.models import Image
from app.jobs import service
from app.jobs.errors import JobFailed, RetryLater
from app.jobs.models import Job
from app.jobs.runner import Outcome, run_job
from tests.jobs import support


def no_redispatch_calls():
    calls = []
    return calls, lambda job, settings, delay: calls.append((job.id, delay))


def test_claim_is_exclusive(db, make_job, settings):
    job = make_job()
    first = service.claim(db, job_id=job.id, lease_seconds=60, max_attempts=3)
    second = service.claim(db, job_id=job.id, lease_seconds=60, max_attempts=3)
    assert (first, second) == (1, None)


def test_job_succeeds_with_one_output_and_metrics(db, make_job, reload, client, user_headers):
    job = make_job()
    assert run_job(job.id) == Outcome.SUCCEEDED
    done = reload(job.id)
    assert done.status == "succeeded" and done.attempts == 1 and done.lease_expires_at is None
    assert db.query(Image).count() == 1
    body = client.get(f"/v1/jobs/{job.id}", headers=user_headers).json()
    assert body["output"]["image_id"] == str(support.output_image_id(job.id))
    assert body["output"]["url"]  # presented with a fresh link
    assert body["metrics"]["queue_seconds"] >= 0 and body["metrics"]["run_seconds"] >= 0


def test_finished_job_never_runs_again(db, make_job, reload):
    job = make_job()
    assert run_job(job.id) == Outcome.SUCCEEDED
    assert run_job(job.id) == Outcome.SKIPPED  # duplicate delivery
    assert len(support.CALLS) == 1
    assert reload(job.id).attempts == 1
    assert db.query(Image).count() == 1


def test_worker_killed_mid_job_then_redelivered_succeeds_exactly_once(db, make_job, reload, settings):
    job = make_job()
    # A worker claims the job and dies: nothing finishes it, its lease runs out.
    assert service.claim(db, job_id=job.id, lease_seconds=settings.job_lease_seconds, max_attempts=4) == 1
    assert run_job(job.id) == Outcome.SKIPPED  # while the lease holds, a redelivery keeps off
    db.execute(Job.__table__.update().where(Job.id == job.id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert run_job(job.id) == Outcome.SUCCEEDED
    done = reload(job.id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert db.query(Image).count() == 1
    assert run_job(job.id) == Outcome.SKIPPED


def test_stale_worker_cannot_finish_after_takeover(db, make_job, reload):
    job = make_job()
    stale = service.claim(db, job_id=job.id, lease_seconds=0, max_attempts=4)
    fresh = service.claim(db, job_id=job.id, lease_seconds=60, max_attempts=4)
    assert (stale, fresh) == (1, 2)
    assert not service.finish(db, job_id=job.id, attempt=stale, output={"x": 1})
    assert service.finish(db, job_id=job.id, attempt=fresh, output={"x": 2})
    assert reload(job.id).output == {"x": 2}


def test_job_failed_ends_failed_with_reason(make_job, reload):
    job = make_job()

    def reject(ctx):
        raise JobFailed("endpoint_rejected", "prompt refused by the safety checker")

    support.BEHAVIOUR["run"] = reject
    assert run_job(job.id) == Outcome.FAILED
    failed = reload(job.id)
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        "endpoint_rejected",
        "prompt refused by the safety checker",
    )


def test_retry_later_requeues_with_visible_message_and_no_attempt_spent(make_job, reload):
    job = make_job()

    def waking(ctx):
        raise RetryLater("inpainting endpoint is starting up", delay_seconds=45)

    support.BEHAVIOUR["run"] = waking
    calls, redispatch = no_redispatch_calls()
    assert run_job(job.id, redispatch=redispatch) == Outcome.REQUEUED
    queued = reload(job.id)
    assert (queued.status, queued.status_message, queued.attempts) == (
        "queued",
        "inpainting endpoint is starting up",
        0,
    )
    assert calls == [(job.id, 45)]


def test_retry_later_gives_up_after_max_requeues(make_job, reload, settings):
    job = make_job(requeues=settings.job_max_requeues)

    def waking(ctx):
        raise RetryLater("inpainting endpoint is starting up", delay_seconds=45)

    support.BEHAVIOUR["run"] = waking
    assert run_job(job.id, redispatch=lambda *a: None) == Outcome.FAILED
    assert reload(job.id).error_code == "backend_unavailable"


def test_unexpected_error_is_retried_then_fails_with_reason(make_job, reload, settings):
    job = make_job()

    def broken(ctx):
        raise RuntimeError("disk on fire")

    support.BEHAVIOUR["run"] = broken
    calls, redispatch = no_redispatch_calls()
    for attempt in range(1, settings.job_max_attempts):
        assert run_job(job.id, redispatch=redispatch) == Outcome.REQUEUED
        assert "disk on fire" in reload(job.id).status_message
    assert run_job(job.id, redispatch=redispatch) == Outcome.FAILED
    failed = reload(job.id)
    assert failed.error_code == "internal_error" and "disk on fire" in failed.error_message
    assert failed.attempts == settings.job_max_attempts
    assert len(calls) == settings.job_max_attempts - 1


def test_attempts_spent_by_crashes_gives_up(db, make_job, reload, settings):
    job = make_job(
        attempts=settings.job_max_attempts, status="running", lease_expires_at=utcnow() - timedelta(seconds=1)
    )
    assert run_job(job.id) == Outcome.GAVE_UP
    failed = reload(job.id)
    assert failed.status == "failed" and failed.error_code == "max_attempts"
    assert support.CALLS == []


def test_cancel_then_worker_result_is_discarded(db, make_job, reload):
    job = make_job()

    def cancel_meanwhile(ctx):
        from app.core.db import new_session

        with new_session() as other:
            assert service.cancel(other, job_id=ctx.job.id)
        return support.default_run(ctx)

    support.BEHAVIOUR["run"] = cancel_meanwhile
    assert run_job(job.id) == Outcome.DISCARDED
    assert reload(job.id).status == "canceled"
    assert db.query(Image).count() == 0  # the output row rolled back with the lost race


def test_cancel_route(client, user_headers, make_job, db):
    job = make_job()
    response = client.post(f"/v1/jobs/{job.id}/cancel", headers=user_headers)
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    again = client.post(f"/v1/jobs/{job.id}/cancel", headers=user_headers)
    assert again.status_code == 409


def test_jobs_are_private_and_listed_with_filters(client, db, user_headers, make_job):
    from tests.factories import auth_headers, create_user

    first, second = make_job(), make_job(status="failed")
    listed = client.get("/v1/jobs?limit=1", headers=user_headers).json()
    assert [item["id"] for item in listed["items"]] == [str(second.id)] and listed["next_cursor"]
    rest = client.get(f"/v1/jobs?limit=1&cursor={listed['next_cursor']}", headers=user_headers).json()
    assert [item["id"] for item in rest["items"]] == [str(first.id)]
    failed = client.get("/v1/jobs?status=failed", headers=user_headers).json()["items"]
    assert [item["id"] for item in failed] == [str(second.id)]
    assert client.get("/v1/jobs?status=bogus", headers=user_headers).status_code == 422
    other = auth_headers(client, create_user(db))
    assert client.get(f"/v1/jobs/{first.id}", headers=other).status_code == 404
    assert client.post(f"/v1/jobs/{first.id}/cancel", headers=other).status_code == 404
    assert client.get("/v1/jobs", headers=other).json()["items"] == []


@pytest.mark.parametrize("statuses", [("queued",), ("running",)])
def test_unfinished_jobs_are_found_for_recovery(db, make_job, statuses):
    expired = utcnow() - timedelta(seconds=1)
    job = make_job(status=statuses[0], lease_expires_at=expired if statuses[0] == "running" else None)
    make_job(status="running", lease_expires_at=utcnow() + timedelta(minutes=5))
    make_job(status="succeeded")
    assert service.unfinished_job_ids(db) == [job.id]


def test_local_server_restart_resumes_unfinished_jobs(db, make_job, reload, settings):
    import socket
    import subprocess

    from fastapi.testclient import TestClient

    from app.jobs.dispatch import local_dispatcher
    from app.main import create_app

    dead = subprocess.Popen(["true"])  # a predecessor server on this host, gone now
    dead.wait()
    queued = make_job()
    orphan = make_job(
        status="running",
        attempts=1,
        lease_expires_at=utcnow() + timedelta(minutes=10),
        lease_owner=f"{socket.gethostname()}:{dead.pid}:0123456789ab",
    )
    with TestClient(create_app()):  # start-up runs the recovery
        local_dispatcher(settings).wait_idle()
    assert reload(queued.id).status == "succeeded"
    resumed = reload(orphan.id)
    assert (resumed.status, resumed.attempts) == ("succeeded", 2)


def test_second_server_leaves_a_live_servers_running_jobs_alone(db, make_job, reload, settings):
    """Issue 14 #6: start-up takes over only leases that expired or whose owner is gone."""
    import os
    import socket

    from fastapi.testclient import TestClient

    from app.jobs.dispatch import local_dispatcher
    from app.main import create_app

    live_here = make_job(
        status="running",
        attempts=1,
        lease_expires_at=utcnow() + timedelta(minutes=10),
        lease_owner=f"{socket.gethostname()}:{os.getppid()}:0123456789ab",  # a live process
    )
    elsewhere = make_job(
        status="running", attempts=1, lease_expires_at=utcnow() + timedelta(minutes=10), lease_owner="other-host:7:ab"
    )
    expired = make_job(status="running", attempts=1, lease_expires_at=utcnow() - timedelta(seconds=1))
    with TestClient(create_app()):
        local_dispatcher(settings).wait_idle()
    for job in (live_here, elsewhere):
        untouched = reload(job.id)
        assert (untouched.status, untouched.attempts) == ("running", 1)
    assert [(expired.id, 2)] == support.CALLS
    assert reload(expired.id).status == "succeeded"
