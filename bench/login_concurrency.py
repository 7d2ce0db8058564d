"""Many logins at once: peak server memory and latency, hashing bounded vs unbounded.

Runs the real app under uvicorn (127.0.0.1, a free port) twice in one run, on a fresh SQLite
database: once with PASSWORD_HASH_CONCURRENCY=64 (effectively unbounded: the baseline), once
with the default bound. Fires N concurrent correct logins (distinct accounts, so the throttle
stays out of it) and samples the server's RSS. Prints both and their ratio.

    .venv/bin/python bench/login_concurrency.py [N]
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(concurrency_setting: int, logins: int, workdir: Path) -> tuple[float, float, float, dict[int, int]]:
    env = {
        **os.environ,
        "ENV_PATH": "/nonexistent",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "STORAGE_DIR": str(workdir / "images"),
        "JWT_SECRET": "bench-secret-that-is-long-enough-for-hs256",
        "PASSWORD_HASH_CONCURRENCY": str(concurrency_setting),
        "PASSWORD_HASH_WAIT_SECONDS": "60",
        "LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        baseline_rss = _rss_mib(server.pid)
        peak = [baseline_rss]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_mib(server.pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()

        def login(index: int) -> tuple[int, float]:
            started = time.perf_counter()
            response = httpx.post(
                f"{base}/v1/auth/token",
                data={"username": f"bench-{index}@example.com", "password": PASSWORD},
                timeout=120,
            )
            return response.status_code, time.perf_counter() - started

        with concurrent.futures.ThreadPoolExecutor(logins) as pool:
            results = list(pool.map(login, range(logins)))
        done.set()
        sampler.join()
        statuses: dict[int, int] = {}
        for code, _ in results:
            statuses[code] = statuses.get(code, 0) + 1
        latencies = sorted(seconds for _, seconds in results)
        return peak[0] - baseline_rss, latencies[len(latencies) // 2], latencies[-1], statuses
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    logins = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "ENV_PATH": "/nonexistent", "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}"}
        setup = (
            "from app.core.migrate import upgrade; upgrade()\n"
            "from app.core.db import new_session\n"
            "from app.users.service import create_user\n"
            "with new_session() as s:\n"
            f"    for i in range({logins}): create_user(s, email=f'bench-{{i}}@example.com', password={PASSWORD!r})\n"
            "    s.commit()\n"
        )
        subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env=env, check=True)
        unbounded = run(64, logins, workdir)
        bounded = run(2, logins, workdir)
    for name, (growth, p50, worst, statuses) in (("unbounded (64)", unbounded), ("bounded (2)", bounded)):
        print(f"{name:15} RSS growth {growth:7.1f} MiB  p50 {p50:5.2f} s  max {worst:5.2f} s  statuses {statuses}")
    print(f"memory ratio bounded/unbounded: {bounded[0] / max(unbounded[0], 0.1):.2f}")


if __name__ == "__main__":
    main()
