"""The handlers under the Lambda Runtime Interface Emulator (from the aws-sam-cli wheel),
run by awslambdaric as in the Lambda image, every listener on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.lambda_rie import INVOKE, RIE_CANDIDATES, free_port, rie_command, wait_until_listening
from tests.test_lambda_events import API_EVENTS, EXPECTED, load_event

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def rie_binary() -> Path:
    if not RIE_CANDIDATES:
        message = "the RIE comes with aws-sam-cli in .venv-sam: run scripts/sam-venv.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return RIE_CANDIDATES[0]


@contextmanager
def rie(handler: str, log_path: Path) -> Iterator[str]:
    """The RIE serving ``handler`` through awslambdaric; yields the invocation URL."""
    emulator, runtime_api = free_port(), free_port()
    rie_binary()  # skips (or fails in CI) without the RIE
    command = rie_command(handler, emulator, runtime_api)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_LAMBDA_FUNCTION_TIMEOUT": "60"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_listening(process, emulator, log_path, 20)
            yield f"http://127.0.0.1:{emulator}{INVOKE}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def invoke(url: str, event: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def init_duration_ms(log_path: Path) -> float | None:
    match = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", log_path.read_text(errors="replace"))
    return float(match.group(1)) if match else None


def test_api_handler_under_the_rie(db, settings, tmp_path, capsys):
    from app.seed.service import run_seed
    from tests.factories import token_for

    run_seed(db, settings)
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app()) as client:
        password = settings.admin_password.get_secret_value()
        token = token_for(client, settings.admin_email, password)
    log_path = tmp_path / "rie-api.log"
    with rie("functions.api.handler", log_path) as url:
        for path in API_EVENTS:
            response = invoke(url, load_event(path, token=token, admin_password=password))
            status, check = EXPECTED[path.name]
            body = response["body"]
            if response.get("isBase64Encoded"):
                body = base64.b64decode(body).decode()
            assert response["statusCode"] == status, (path.name, body)
            assert check(body), (path.name, body)
    init_ms = init_duration_ms(log_path)
    assert init_ms is not None, log_path.read_text(errors="replace")
    with capsys.disabled():
        print(f"\n[rie] functions.api.handler INIT duration: {init_ms:.0f} ms ({db.get_bind().dialect.name})")


def test_worker_handler_under_the_rie(db, tmp_path):
    event = json.loads((EVENTS / "sqs_job_batch.json").read_text())
    with rie("functions.worker.handler", tmp_path / "rie-worker.log") as url:
        # the sample's jobs do not exist here: each message is acknowledged as a no-op
        assert invoke(url, event) == {"batchItemFailures": []}
        broken = {"Records": [{**event["Records"][0], "body": "not json"}]}
        assert invoke(url, broken) == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_seeder_handler_under_the_rie(db, tmp_path):
    with rie("functions.seeder.handler", tmp_path / "rie-seeder.log") as url:
        first = invoke(url, json.loads((EVENTS / "seeder_migrate.json").read_text()))
        assert first["statusCode"] == 200, first
        assert first["body"]["models"]["created"] == 5
        again = invoke(url, json.loads((EVENTS / "seeder_seed_only.json").read_text()))
        assert all(counts["created"] == counts["updated"] == 0 for counts in again["body"].values()), again
