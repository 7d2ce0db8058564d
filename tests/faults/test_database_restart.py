"""PostgreSQL stopped and started under a running local server (a cluster of this test's own,
on its own port: the shared one is never touched). While it is down /health answers 503 and
the API 503 with Retry-After, never 500; once it is back /health answers 200 and every job ends
final without a restart of the server (runner retries, then the reaper)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.support import (
    FINAL,
    job_states,
    sign_in,
    submit_jobs,
    upload_busy_image,
    wait_all_final,
    wait_until,
)
from tests.pg_cluster import OwnCluster, pg_bin

IN_CI = os.environ.get("CI", "").lower() == "true"
OUTAGE_SECONDS = 8
FILL_SECONDS = 1.5  # six jobs on two job threads: fills start and end on both sides of the outage


@pytest.fixture
def own_cluster() -> Iterator[OwnCluster]:
    bin_dir = pg_bin()
    if bin_dir is None:
        if IN_CI:
            pytest.fail("CI=true: no /usr/lib/postgresql/*/bin/pg_ctl for the database-restart test")
        pytest.skip("PostgreSQL server binaries are not installed")
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="inpaint-own-pg-"))
    cluster = OwnCluster(bin_dir, root)
    cluster.init()
    cluster.start()
    yield cluster
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_postgres_stopped_and_started_during_a_run(own_cluster, server_factory, tmp_path):
    server = server_factory(
        fill_seconds=FILL_SECONDS,
        DATABASE_URL=own_cluster.url,
        STORAGE_DIR=str(tmp_path / "images"),
        REAPER_INTERVAL_SECONDS="2",
        JOB_DISPATCH_GRACE_SECONDS="5",
        JOB_DB_RETRY_SECONDS="3",  # shorter than the outage: the reaper must finish the rest
        DB_POOL_TIMEOUT="3",
    )
    url = server.start()
    with httpx.Client(base_url=url, timeout=30) as client:
        sign_in(client, "admin@example.com", os.environ["ADMIN_PASSWORD"])
        image_id = upload_busy_image(client)
        job_ids = submit_jobs(client, image_id, 6)
        wait_until(lambda: any(s == "running" for s, _ in job_states(client).values()), 30, 0.1)
        before = job_states(client)
        assert sum(s not in FINAL for s, _ in before.values()) >= 3, before  # the outage meets work in flight

        own_cluster.stop()
        down_since = time.monotonic()
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["database"] == "unreachable"
        for response in (
            client.get(f"/v1/jobs/{job_ids[0]}"),
            client.get("/v1/jobs"),
            client.post(
                "/v1/inpaintings",
                json={"image_id": image_id, "prompt": "x", "mask": {"boxes": [[1, 1, 9, 9]]}, "model": "opencv-telea"},
            ),
        ):
            assert response.status_code == 503, (response.status_code, response.text, server.log_tail())
            assert int(response.headers["retry-after"]) > 0
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
        own_cluster.start()

        wait_until(lambda: client.get("/health").status_code == 200, 30, message="health did not recover")
        states = wait_all_final(client, 180, message=f"jobs not final\n{server.log_tail()}")
    assert set(states) == set(job_ids)
    assert {s for s, _ in states.values()} == {"succeeded"}, states
