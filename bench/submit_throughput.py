"""Figure 5 of the performance budget: submit throughput over HTTP.

    .venv/bin/python bench/submit_throughput.py          # 7 runs
    .venv/bin/python bench/submit_throughput.py 9        # 9 runs
    .venv/bin/python bench/submit_throughput.py --profile  # cProfile of the served app under load

The served app is ``app.main:app`` under uvicorn (one worker, 127.0.0.1, PostgreSQL), accept-only
(``bench/accept_only_app.py``: jobs are created but none runs, so no fill competes for the
cores). The baseline is ``bench/baseline_submit_app.py``: a bare FastAPI app whose POST decodes
the same JWT and inserts one row into the same database. Both get the same load from the same
generator, a separate process (asyncio, ``CONCURRENCY`` keep-alive connections, raw HTTP/1.1),
for ``SECONDS`` after a warm-up; each run starts fresh servers, the two kinds interleaved. Each
request is a new job: POST /v1/inpaintings, a box mask on a READY 1024x768 image, its own prompt,
no Idempotency-Key, a quota of a billion a day (so the quota upsert runs but never refuses).

Server CPU per request: utime+stime of the uvicorn process (/proc/<pid>/stat) over the measured
window, divided by the responses in that window. Every response must be a 202; others are
counted and the first few printed.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); a database of its own is created and dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.budget import _drop_database, create_database  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
JWT_SECRET = "bench-jwt-secret-that-is-long-enough-0123456789"
CONCURRENCY = int(os.environ.get("FIG5_CONCURRENCY", "16"))  # keep-alive connections
WARMUP_SECONDS = 1.0
SECONDS = 4.0
TARGET = 0.5  # the app's req/s over the baseline's, at least
IMAGE_SIZE = (1024, 768)
BOX = [200, 150, 520, 430]

SETUP = r"""
import io, json, sys, uuid
from PIL import Image as PILImage
from app.catalog.models import AccessPolicy
from app.core.config import get_settings
from app.core.db import new_session
from app.images.service import check_image, store_image
from app.seed.service import run_seed, load_seed_file
from app.storage import get_storage
from app.users.service import create_user

width, height = json.loads(sys.argv[1])
with new_session() as s:
    document = load_seed_file(get_settings())
    document["users"] = []  # no admin: the bench user is an ordinary one
    run_seed(s, get_settings(), document)
    user = create_user(s, email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password="bench-password-123")
    s.flush()
    # The user's own policy wins over everyone's: a quota that is counted but never reached.
    s.add(AccessPolicy(principal=user.email, model_name="opencv-telea", daily_quota=10**9, monthly_quota=10**9))
    s.commit()
    buffer = io.BytesIO()
    PILImage.radial_gradient("L").resize((width, height)).convert("RGB").save(buffer, format="JPEG", quality=90)
    checked = check_image(buffer.getvalue(), max_bytes=10**8, max_pixels=10**8)
    image = store_image(s, get_storage(), owner_id=user.id, checked=checked)
    print(json.dumps([str(user.id), str(image.id)]))
"""

LOAD = r"""
import asyncio, json, sys, time

async def main(port, concurrency, warmup, seconds, template, token, tag):
    counts, bad, done = {}, [], [0]
    state = {"measuring": False}

    async def connection(index):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        while not state.get("stop"):
            n += 1
            body = template.replace("@PROMPT@", f"bench {tag} {index} {n}").encode()
            writer.write(
                b"POST /v1/inpaintings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + token + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            if state["measuring"]:
                done[0] += 1
                counts[status] = counts.get(status, 0) + 1
                if status != 202 and len(bad) < 5:
                    bad.append([status, payload[:300].decode(errors="replace")])
        writer.close()

    tasks = [asyncio.create_task(connection(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    print("MEASURE", flush=True)
    sys.stdin.readline()  # the parent has read the server's CPU time
    state["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed = time.perf_counter() - started
    print("DONE " + json.dumps({"requests": done[0], "seconds": elapsed, "statuses": counts, "bad": bad}), flush=True)
    sys.stdin.readline()
    state["stop"] = True
    await asyncio.gather(*tasks, return_exceptions=True)

spec = json.load(open(sys.argv[6]))
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]),
                 spec["template"], spec["token"].encode(), sys.argv[5]))
"""


def _setup_database(env: dict[str, str]) -> tuple[str, str, str]:
    """A migrated, seeded database with one user (own quota on opencv-telea) and one READY
    image; returns (url, user id, image id)."""
    url = create_database(env, "inpaint_fig5", PG_ADMIN)
    local = {**env, "DATABASE_URL": url}
    made = subprocess.run(
        [sys.executable, "-c", SETUP, json.dumps(IMAGE_SIZE)],
        env=local,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    user_id, image_id = json.loads(made.stdout.strip().splitlines()[-1])
    return url, user_id, image_id


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(app: str, env: dict[str, str], extra: list[str] | None = None) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    command = [sys.executable, *(extra or []), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "1", "--no-access-log", "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{app} exited: {server.stderr.read() if server.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"{app} did not start")


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _measure(app: str, env: dict[str, str], spec_path: Path, tag: str) -> dict[str, Any]:
    """One fresh server, warmed up, then SECONDS of load; its req/s and CPU ms per request."""
    server, port = _start_server(app, env)
    try:
        load = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LOAD,
                str(port),
                str(CONCURRENCY),
                str(WARMUP_SECONDS),
                str(SECONDS),
                tag,
                str(spec_path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert load.stdin is not None and load.stdout is not None
        if load.stdout.readline().strip() != "MEASURE":
            raise RuntimeError("the load generator failed")
        cpu_before = _cpu_seconds(server.pid)
        load.stdin.write("go\n")
        load.stdin.flush()
        line = load.stdout.readline()
        cpu_after = _cpu_seconds(server.pid)
        load.stdin.write("stop\n")
        load.stdin.flush()
        load.wait(timeout=30)
        if not line.startswith("DONE "):
            raise RuntimeError("the load generator failed")
        result: dict[str, Any] = json.loads(line[5:])
    finally:
        _stop(server)
    requests = max(result["requests"], 1)
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_ms"] = (cpu_after - cpu_before) * 1000 / requests
    return result


def _environment() -> dict[str, str]:
    env = {
        **os.environ,
        "ENV_PATH": "/nonexistent",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
        "APP_MODE": "local",
        "JWT_SECRET": JWT_SECRET,
        "REAPER_INTERVAL_SECONDS": "3600",  # no reaper round inside a measured window
    }
    for name in ("PG_HOST", "S3_BUCKET", "JOB_QUEUE_URL", "AWS_PROFILE", "HF_ENDPOINT_URL", "HF_ENDPOINT_NAME"):
        env.pop(name, None)
    return env


def _spec(tmp: Path, user_id: str, image_id: str) -> Path:
    from app.core.security import create_access_token

    token, _ = create_access_token(subject=user_id, secret=JWT_SECRET, minutes=120)
    body = {"image_id": image_id, "prompt": "@PROMPT@", "mask": {"boxes": [BOX]}, "model": "opencv-telea"}
    path = tmp / "spec.json"
    path.write_text(json.dumps({"template": json.dumps(body), "token": token}))
    return path


def _prepare() -> tuple[dict[str, str], Path, str, str, str]:
    """The servers' environment, a scratch folder, and a database of the bench's own (its URL,
    the user's id, the READY image's id)."""
    env = _environment()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"fig5-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    env["STORAGE_DIR"] = str(tmp / "images")
    url, user_id, image_id = _setup_database(env)
    env["DATABASE_URL"] = url
    return env, tmp, url, user_id, image_id


def _collect(runs: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    env, tmp, url, user_id, image_id = _prepare()
    samples: dict[str, list[dict[str, Any]]] = {"baseline": [], "app": []}
    try:
        spec = _spec(tmp, user_id, image_id)
        for run in range(runs):  # interleaved: both see the same machine load
            samples["baseline"].append(_measure("baseline_submit_app:app", env, spec, f"b{run}"))
            samples["app"].append(_measure("accept_only_app:app", env, spec, f"a{run}"))
        jobs = _count_jobs(url)
    finally:
        _drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)
    return samples, {"jobs": jobs}


def _count_jobs(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).all()
    engine.dispose()
    return {str(status): int(count) for status, count in rows}


def figure5(runs: int = 7) -> list[tuple[str, float, str]]:
    """Rows (label, ratio, target): the app's submit req/s over the baseline's; the target is
    ">= 0.5" (higher is better). Also prints the absolute figures."""
    samples, extra = _collect(runs)
    _print_details(samples, extra)
    ratio = statistics.median(s["rps"] for s in samples["app"]) / statistics.median(
        s["rps"] for s in samples["baseline"]
    )
    return [("5 HTTP submit throughput (uvicorn, 1 worker)", ratio, f">= {TARGET}")]


def _print_details(samples: dict[str, list[dict[str, Any]]], extra: dict[str, Any]) -> None:
    runs = len(samples["app"])
    print(
        f"\nfigure 5: median of {runs} interleaved runs, fresh servers; {CONCURRENCY} keep-alive connections, "
        f"{WARMUP_SECONDS:.0f} s warm-up + {SECONDS:.0f} s measured each; load average "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )
    print(f"{'server':<34}{'req/s':>9}{'CPU ms/req':>12}{'non-202':>9}   req/s of each run")
    for kind, label in (("baseline", "baseline (bare FastAPI, JWT+insert)"), ("app", "app (accept-only)")):
        rows = samples[kind]
        rps = statistics.median(s["rps"] for s in rows)
        cpu = statistics.median(s["cpu_ms"] for s in rows)
        bad = sum(n for s in rows for code, n in s["statuses"].items() if code != "202")
        each = " ".join(f"{s['rps']:.0f}" for s in rows)
        print(f"{label:<34}{rps:>9.0f}{cpu:>12.2f}{bad:>9}   {each}")
        for s in rows:
            for status, body in s["bad"]:
                print(f"  non-202 from {kind}: {status} {body}")
    print(f"jobs in the database at the end (none may run: accept-only): {extra['jobs']}")


def main(runs: int) -> None:
    rows = figure5(runs)
    print(f"\n{'figure':<48}{'ratio':>8}  {'target':<8} met")
    for label, ratio, target in rows:
        bound = float(target.split()[-1])
        print(f"{label:<48}{ratio:>8.2f}  {target:<8} {'yes' if ratio >= bound else 'NO'}")


PROFILE = r"""
import cProfile, os, pstats, signal, sys, threading, time, uvicorn
sys.path.insert(0, "bench")
profiles, lock = [], threading.Lock()

def per_thread(frame, event, arg):  # a thread's first event: give it a profiler of its own
    profile = cProfile.Profile(time.thread_time)  # CPU time: waiting on the database is not a cost here
    with lock:
        profiles.append(profile)
    profile.enable()

def stop(*_):
    with open(sys.argv[3], "w") as out:
        stats = pstats.Stats(*profiles, stream=out)
        stats.sort_stats(sys.argv[2]).print_stats(45)
        stats.sort_stats("cumulative").print_stats(70)
    os._exit(0)

signal.signal(signal.SIGUSR1, stop)
from accept_only_app import app
threading.setprofile(per_thread)
main = cProfile.Profile(time.thread_time)
profiles.append(main)
main.enable()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def profile(sort: str = "tottime") -> None:
    """``--profile [sort]``: cProfile of the served app in its uvicorn process under the same load;
    the event loop's thread and every threadpool thread each get a profiler, merged at the end."""
    import signal

    env, tmp, url, user_id, image_id = _prepare()
    try:
        spec = _spec(tmp, user_id, image_id)
        port = _free_port()
        report = tmp / "profile.txt"
        server = subprocess.Popen(
            [sys.executable, "-c", PROFILE, str(port), sort, str(report)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
        )
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        load = subprocess.Popen(
            [sys.executable, "-c", LOAD, str(port), str(CONCURRENCY), "0.5", str(SECONDS), "p", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = load.communicate("go\nstop\n", timeout=120)
        print(out.splitlines()[-1][:300])
        server.send_signal(signal.SIGUSR1)
        server.wait(timeout=120)
        print(report.read_text())
    finally:
        _drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__" and "--profile" in sys.argv:
    profile(sys.argv[sys.argv.index("--profile") + 1] if len(sys.argv) > sys.argv.index("--profile") + 1 else "tottime")
elif __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
