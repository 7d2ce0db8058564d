"""The API handler's import loads only what every request needs."""

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["boto3", "botocore", "alembic", "cv2", "numpy", "huggingface_hub", "detectron2", "torch", "PIL"]


def loaded_after_import(module: str) -> list[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_api_handler_import_loads_no_heavy_module():
    assert loaded_after_import("functions.api") == []


def test_worker_import_loads_no_model_framework():
    loaded = loaded_after_import("functions.worker")
    assert "detectron2" not in loaded and "torch" not in loaded and "cv2" not in loaded
