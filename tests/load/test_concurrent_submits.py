"""200 clients submit at once to the local server (its own process), on SQLite and PostgreSQL.

Every request is answered within a few seconds (202, or 429/503 with Retry-After), /health
answers meanwhile, every accepted job ends final exactly once, and the database holds exactly
the accepted jobs: nothing is created for a client that was refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.factories import DEFAULT_PASSWORD, create_user, png_bytes

CLIENTS = 200
ANSWER_WITHIN_SECONDS = 10.0  # each request, on a shared 2-core CI machine
HEALTH_WITHIN_SECONDS = 8.0  # a sync route on a saturated CPU; it was 24.6 s+ (hung) before
ALL_FINAL_WITHIN_SECONDS = 180.0


def sign_in_and_upload(url: str, email: str) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=url, timeout=30) as client:
        token = client.post("/v1/auth/token", data={"username": email, "password": DEFAULT_PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        image = client.post("/v1/images", headers=headers, files={"file": ("p.png", png_bytes(64, 48), "image/png")})
        assert image.status_code == 201, image.text
        return headers, image.json()["id"]


async def _storm(url: str, headers: dict[str, str], image_id: str) -> tuple[list[dict], list[dict]]:
    body = {
        "image_id": image_id,
        "prompt": "a red bicycle",
        "mask": {"boxes": [[8, 8, 40, 30]]},
        "model": "opencv-telea",
    }
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10)
    results: list[dict] = []
    health: list[dict] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        start = asyncio.Event()

        async def submit() -> None:
            await start.wait()
            began = time.monotonic()
            try:
                response = await client.post("/v1/inpaintings", json=body, headers=headers)
                outcome = {"status": response.status_code, "retry_after": response.headers.get("retry-after")}
                if response.status_code == 202:
                    outcome["job_id"] = response.json()["id"]
            except httpx.HTTPError as exc:
                outcome = {"status": type(exc).__name__}
            outcome["seconds"] = time.monotonic() - began
            results.append(outcome)

        async def watch_health(done: asyncio.Event) -> None:
            await start.wait()
            while not done.is_set():
                began = time.monotonic()
                try:
                    status = (await client.get("/health")).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                health.append({"status": status, "seconds": time.monotonic() - began})
                await asyncio.sleep(0.2)

        done = asyncio.Event()
        watcher = asyncio.create_task(watch_health(done))
        tasks = [asyncio.create_task(submit()) for _ in range(CLIENTS)]
        await asyncio.sleep(0.2)  # every task is waiting at the gate: release them together
        start.set()
        await asyncio.gather(*tasks)
        done.set()
        await watcher
    return results, health


def _wait_all_final(db, accepted: set[str]) -> float:
    from sqlalchemy import select

    from app.jobs.models import Job, JobStatus

    began = time.monotonic()
    while time.monotonic() - began < ALL_FINAL_WITHIN_SECONDS:
        db.expire_all()
        db.rollback()
        statuses = db.execute(select(Job.status)).scalars().all()
        if all(status in JobStatus.FINISHED for status in statuses):
            return time.monotonic() - began
        time.sleep(0.5)
    raise AssertionError(f"jobs not final after {ALL_FINAL_WITHIN_SECONDS}s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_200_concurrent_submits(db, database_url, server_factory):
    from sqlalchemy import func, select

    from app.images.models import Image
    from app.jobs.models import Job

    user = create_user(db)
    server = server_factory()
    url = server.start()
    headers, image_id = sign_in_and_upload(url, user.email)

    storm_began = time.monotonic()
    # In a thread of its own: asyncio.run would leave this (main) thread without an event loop,
    # which Mangum-driven tests later in the session rely on.
    with ThreadPoolExecutor(max_workers=1) as runner:
        results, health = runner.submit(asyncio.run, _storm(url, headers, image_id)).result()
    storm_seconds = time.monotonic() - storm_began

    statuses = [r["status"] for r in results]
    accepted = {r["job_id"] for r in results if r["status"] == 202}
    refused = [r for r in results if r["status"] in (429, 503)]
    seconds = [r["seconds"] for r in results]
    assert len(results) == CLIENTS
    assert set(statuses) <= {202, 429, 503}, (
        f"unexpected answers: { {s: statuses.count(s) for s in set(statuses)} }\n{server.log_tail()}"
    )
    assert all(r["retry_after"] for r in refused), "a refusal without Retry-After"
    assert max(seconds) < ANSWER_WITHIN_SECONDS, f"slowest answer {max(seconds):.1f}s"
    assert accepted, "no client got a 202"
    assert health and all(h["status"] == 200 for h in health), health
    assert max(h["seconds"] for h in health) < HEALTH_WITHIN_SECONDS

    to_final = _wait_all_final(db, accepted)
    jobs = db.execute(select(Job.id, Job.status, Job.attempts)).all()
    assert {str(job_id) for job_id, _, _ in jobs} == accepted  # nothing for refused clients
    assert {(status, attempts) for _, status, attempts in jobs} == {("succeeded", 1)}  # each ran once
    outputs = db.scalar(select(func.count()).select_from(Image)) - 1  # minus the uploaded input
    assert outputs == len(accepted)

    figures = {
        "database": db.get_bind().dialect.name,
        "clients": CLIENTS,
        "accepted": len(accepted),
        "refused_503": statuses.count(503),
        "refused_429": statuses.count(429),
        "p50_s": round(statistics.median(seconds), 3),
        "p99_s": round(_percentile(seconds, 0.99), 3),
        "max_s": round(max(seconds), 3),
        "health_max_s": round(max(h["seconds"] for h in health), 3),
        "storm_s": round(storm_seconds, 2),
        "all_final_after_storm_s": round(to_final, 2),
    }
    print("LOAD", json.dumps(figures))
    if os.environ.get("LOAD_FIGURES_FILE"):
        with open(os.environ["LOAD_FIGURES_FILE"], "a") as out:
            out.write(json.dumps(figures) + "\n")
