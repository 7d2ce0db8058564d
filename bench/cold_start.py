"""Cold start of the API handler against a bare FastAPI + Mangum handler, in the same run.

Each sample is a fresh Python process (as a new Lambda container would be) that imports the
handler and serves one /health event; we time the import and the first invocation inside it.
Prints medians and the ratio to the baseline. Usage: ``python bench/cold_start.py [runs]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "events" / "apigw_v2_health.json"

PROBE = """
import json, sys, time
t0 = time.perf_counter()
module = __import__(sys.argv[1], fromlist=["handler"])
t1 = time.perf_counter()
response = module.handler(json.load(open(sys.argv[2])), None)
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
heavy = [m for m in ("boto3", "botocore", "alembic", "cv2", "numpy", "huggingface_hub") if m in sys.modules]
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_call_ms": (t2 - t1) * 1000, "heavy": heavy,
                  "modules": len(sys.modules)}))
"""


def sample(module: str, env: dict[str, str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, str(EVENT)], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "ENV_PATH": "/nonexistent",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, cwd=ROOT, check=True)
        results: dict[str, list[dict[str, float]]] = {
            "baseline_handler": [],
            "baseline_db_handler": [],
            "functions.api": [],
        }
        for _ in range(runs):  # interleaved so both see the same machine load
            for module in results:
                results[module].append(sample(module, env))
    base = {
        key: statistics.median(r[key] for r in results["baseline_handler"]) for key in ("import_ms", "first_call_ms")
    }
    print(f"cold start, median of {runs} fresh processes each (ms)")
    print(f"{'handler':<22}{'import':>10}{'1st call':>10}{'total':>10}{'x baseline':>12}  heavy modules loaded")
    for module, samples in results.items():
        imp = statistics.median(s["import_ms"] for s in samples)
        call = statistics.median(s["first_call_ms"] for s in samples)
        ratio = (imp + call) / (base["import_ms"] + base["first_call_ms"])
        print(
            f"{module:<22}{imp:>10.0f}{call:>10.0f}{imp + call:>10.0f}{ratio:>12.2f}  {samples[0]['heavy'] or 'none'}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
