"""A real local server (``python -m app serve --port 0``) in its own process, on the test
database, for load and fault tests that need real concurrency, kill -9 and restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class ServerProcess:
    def __init__(self, log_path: Path, env: dict[str, str], module: str = "app") -> None:
        self.log_path = log_path
        self.env = env
        self.module = module
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 90) -> str:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            for line in text.splitlines():
                if line.strip().startswith("listening:"):
                    self.url = line.split("listening:", 1)[1].strip()
                    if self._ready():
                        return self.url
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{text[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-4000:]}")

    def _ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@pytest.fixture
def server_factory(tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Makes server processes with this environment plus ``env`` (e.g. the test database's
    DATABASE_URL); every one is stopped at the end, before the database fixtures clean up.
    ``fill_seconds`` holds each OpenCV Telea fill that long (tests.paced_server), so a fault
    can hit jobs mid-run however fast the fill is on this machine."""
    servers: list[ServerProcess] = []

    def make(*, fill_seconds: float | None = None, **env: str) -> ServerProcess:
        log_path = tmp_path / f"server-{len(servers)}.log"
        if fill_seconds is None:
            server = ServerProcess(log_path, {**os.environ, **env})
        else:
            paced_env = {**os.environ, **env, "TEST_FILL_SECONDS": str(fill_seconds)}
            server = ServerProcess(log_path, paced_env, module="tests.paced_server")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
