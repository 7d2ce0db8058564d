"""Issue 14 #2, #4, #8 (canceled output), #9: one connection per request, waits off the
threadpool, no output left by a discarded run, a job page in a constant number of statements."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.jobs import support
from tests.test_jobs_http import upload_noise


def test_one_connection_is_enough_for_submit_replay_and_wait(http, monkeypatch):
    """#2: with pool_size=1, max_overflow=0 an Idempotency-Key replay of a finished job, with
    or without Prefer: wait, answers at once (it used to need a second connection)."""
    from tests.conftest import reset_app_state

    monkeypatch.setenv("DB_POOL_SIZE", "1")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "3")
    reset_app_state()
    image_id, _ = upload_noise(http, 64, 64)
    body = {"image_id": image_id, "prompt": "x", "mask": {"boxes": [[8, 8, 24, 24]]}}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post("/v1/inpaintings", json=body, headers={**key, "Prefer": "wait=10"})
    assert first.status_code == 202 and first.json()["status"] == "succeeded", first.text
    for prefer in ({"Prefer": "wait=5"}, {}):
        began = time.monotonic()
        replay = http.post("/v1/inpaintings", json=body, headers={**key, **prefer})
        assert replay.status_code == 202, replay.text
        assert replay.json()["id"] == first.json()["id"] and replay.json()["status"] == "succeeded"
        assert time.monotonic() - began < 2.5
    assert http.get(first.headers["location"]).status_code == 200
    assert http.get("/v1/jobs").json()["items"][0]["id"] == first.json()["id"]


def test_prefer_wait_holds_no_threadpool_thread(http, app, monkeypatch):
    """#4: requests waiting for a job sleep on the event loop, not in threadpool threads."""
    import app.jobs.submit as submit

    class Nowhere:  # the job is queued and nothing runs it: every request waits the full time
        def dispatch(self, job_id, *, delay_seconds=0):
            return None

    monkeypatch.setattr(submit, "get_dispatcher", lambda backend, settings: Nowhere())
    image_id, _ = upload_noise(http, 64, 64)
    waiters = 6
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        time.sleep(1.0)  # all requests are past their short DB work and waiting
        while not stop.is_set():
            samples.append(app.state.threadpool.borrowed_tokens)
            time.sleep(0.05)

    def submit_and_wait(n: int):
        body = {"image_id": image_id, "prompt": f"p{n}", "mask": {"boxes": [[8, 8, 24, 24]]}}
        return http.post("/v1/inpaintings", json=body, headers={"Prefer": "wait=3"})

    sampler = threading.Thread(target=sample)
    sampler.start()
    with ThreadPoolExecutor(max_workers=waiters) as pool:
        responses = list(pool.map(submit_and_wait, range(waiters)))
        stop.set()
    sampler.join()
    assert [r.status_code for r in responses] == [202] * waiters
    assert all(r.json()["status"] == "queued" for r in responses)
    assert samples and sorted(samples)[len(samples) // 2] <= 1, samples  # median: ~no thread held


def test_canceled_while_running_leaves_no_output(db, make_job, reload, images_dir):
    """#8: a run whose job was canceled meanwhile removes what it wrote."""
    from app.core.db import new_session
    from app.images.models import Image
    from app.jobs import service
    from app.jobs.runner import Outcome, run_job

    job = make_job()

    def cancel_midway(ctx):
        result = support.default_run(ctx)  # writes the output file
        with new_session() as other:
            assert service.cancel(other, job_id=ctx.job.id)
        return result

    support.BEHAVIOUR["run"] = cancel_midway
    assert run_job(job.id) == Outcome.DISCARDED
    assert reload(job.id).status == "canceled"
    assert db.query(Image).count() == 0
    assert [p for p in images_dir.rglob("*") if p.is_file()] == []


def test_job_page_is_a_constant_number_of_statements(db, client, user, user_headers, make_job):
    """#9: a page of jobs with outputs costs the same few statements for 5 jobs or 50."""
    from sqlalchemy import event

    from app.core.db import get_engine
    from app.images.models import Image

    def page_statements(count: int) -> int:
        for _ in range(count):
            job = make_job(status="succeeded")
            image = Image(
                id=uuid.uuid4(),
                owner_id=user.id,
                storage_key=f"images/{user.id}/{uuid.uuid4()}.png",
                format="PNG",
                width=1,
                height=1,
                bytes=1,
                sha256="0" * 64,
            )
            db.add(image)
            job.output = {"image_id": str(image.id)}
            db.commit()
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(get_engine(), "before_cursor_execute", listener)
        try:
            page = client.get(f"/v1/jobs?limit={count}", headers=user_headers).json()
        finally:
            event.remove(get_engine(), "before_cursor_execute", listener)
        assert len(page["items"]) == count and all(item["output"]["url"] for item in page["items"])
        db.query(Image).delete()
        from app.jobs.models import Job

        db.query(Job).delete()
        db.commit()
        return len(statements)

    small, large = page_statements(5), page_statements(50)
    assert small == large, (small, large)
