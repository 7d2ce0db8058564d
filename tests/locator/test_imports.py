"""Detectron2 and torch stay out of the API and the worker (a fresh interpreter checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import functions.api, functions.worker, functions.task_state
import app.locator.jobs, app.locator.router, app.locator.dispatch, app.locator.masks
import app.locator.predictors.detectron2  # the module itself imports nothing heavy
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "detectron2", "torchvision"})
print(json.dumps(heavy))
"""


def test_api_and_worker_never_import_detectron2_or_torch() -> None:
    env = {**os.environ, "ENV_PATH": "/nonexistent/test.env", "APP_MODE": "local"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_api_import_stays_light() -> None:
    probe = (
        "import json, sys, functions.api, functions.task_state, app.locator.masks; "
        "print(json.dumps(sorted(m for m in ('numpy', 'cv2', 'boto3') if m in sys.modules)))"
    )
    env = {**os.environ, "ENV_PATH": "/nonexistent/test.env", "APP_MODE": "local"}
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
