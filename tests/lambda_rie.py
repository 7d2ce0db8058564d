"""The Lambda Runtime Interface Emulator (shipped in aws-sam-cli's wheel) for tests that run a
handler the way Lambda does: the RIE in front of ``python -m awslambdaric <handler>``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RIE_CANDIDATES = sorted(
    (ROOT / ".venv-sam").glob("lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64")
)
INVOKE = "/2015-03-31/functions/function/invocations"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rie_command(handler: str, emulator: int, runtime_api: int) -> list[str]:
    """The RIE on 127.0.0.1 (invocations on ``emulator``) running ``handler`` via awslambdaric."""
    return [
        str(RIE_CANDIDATES[0]),
        "--log-level",
        "info",
        "--runtime-interface-emulator-address",
        f"127.0.0.1:{emulator}",
        "--runtime-api-address",
        f"127.0.0.1:{runtime_api}",
        sys.executable,
        "-m",
        "awslambdaric",
        handler,
    ]


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path, seconds: float) -> None:
    """Until the RIE accepts connections; its log in the failure if it exits first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the RIE did not start"
            time.sleep(0.05)
