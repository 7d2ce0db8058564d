"""The performance budget: one command, one table, every figure a ratio to a baseline measured
in the same run (median of >= 7 fresh processes, samples interleaved), local and aws mode.

    .venv/bin/python bench/budget.py            # 7 runs, 25 simulated containers
    .venv/bin/python bench/budget.py 9 100      # 9 runs, 100 simulated containers

Needs PostgreSQL on 127.0.0.1:5432 (trust auth; a database of its own is created and dropped)
and moto (aws mode: Secrets Manager, SQS and S3 through a moto server on 127.0.0.1). The
handlers run in ``.venv-bench``, made here with exactly the Lambda image's requirements.txt.
Figures 5 and 6 come from bench/submit_throughput.py and bench/opencv_job.py, run from here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
module = __import__(sys.argv[1], fromlist=["handler"])
t1 = time.perf_counter()
event = json.load(open(sys.argv[2]))
response = module.handler(event, None)
t2 = time.perf_counter()
assert response["statusCode"] in (200, 202), response
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
warm = []
for _ in range(int(sys.argv[3])):
    s = time.perf_counter()
    module.handler(event, None)
    warm.append(time.perf_counter() - s)
warm.sort()
print("PROBE", json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "rss_mb": rss_kb / 1024,
                           "warm_p50_ms": warm[len(warm) // 2] * 1000 if warm else None}))
if len(sys.argv) > 4:  # a simulated container: stay alive (pool open) until told to stop
    print("READY", flush=True)
    sys.stdin.read()
"""


def _event(tmp: Path, name: str, path: str, token: str | None, method: str = "GET", body: str | None = None) -> Path:
    event = json.loads((ROOT / "events" / "apigw_v2_health.json").read_text())
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if token:
        event["headers"]["authorization"] = f"Bearer {token}"
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = body
    out = tmp / f"{name}.json"
    out.write_text(json.dumps(event))
    return out


IMAGE_VENV = ROOT / ".venv-bench"


def image_python() -> str:
    """An interpreter with exactly the Lambda image's packages (requirements.txt), made once.

    The probes run there, not in the development venv: that one also holds moto, pytest and
    their dependencies, and some change what the app loads (PyJWT imports ``cryptography``
    when it is installed — 60 ms of a cold start the deployed function does not pay)."""
    python = IMAGE_VENV / "bin" / "python"
    wanted = (ROOT / "requirements.txt").read_text()
    marker = IMAGE_VENV / "requirements.txt"
    if not python.exists() or not marker.exists() or marker.read_text() != wanted:
        shutil.rmtree(IMAGE_VENV, ignore_errors=True)  # exactly the image's packages, none left over
        subprocess.run([sys.executable, "-m", "venv", str(IMAGE_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"],
            cwd=ROOT,
            check=True,
        )
        marker.write_text(wanted)
    return str(python)


def _probe(module: str, event: Path, env: dict[str, str], warm: int) -> dict[str, float]:
    proc = subprocess.run(
        [image_python(), "-c", PROBE, module, str(event), str(warm)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.split("PROBE", 1)[1].splitlines()[0])


def create_database(env: dict[str, str], prefix: str, admin_url: str = PG_ADMIN) -> str:
    """A new, migrated database of the bench's own; its URL (drop it with ``_drop_database``)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-m", "app", "migrate"], env={**env, "DATABASE_URL": url}, cwd=ROOT, check=True)
    return url


def _setup_database(env: dict[str, str], admin_url: str = PG_ADMIN) -> tuple[str, str, str]:
    """A migrated database with one user and one job; returns (url, user id, job id)."""
    url = create_database(env, "inpaint_bench", admin_url)
    local = {**env, "DATABASE_URL": url}
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, uuid\n"
            "from app.core.db import new_session\n"
            "from app.users.service import create_user\n"
            "from app.jobs.models import Job\n"
            "with new_session() as s:\n"
            "    u = create_user(s, email=f'bench-{uuid.uuid4().hex[:6]}@example.com', password='bench-password-123')\n"
            "    s.flush()\n"
            "    j = Job(owner_id=u.id, kind='inpaint', model='opencv-telea', status='succeeded', input={},\n"
            "            output={'note': 'bench'}, request_hash='0'*64)\n"
            "    s.add(j); s.commit()\n"
            "    print(json.dumps([str(u.id), str(j.id)]))\n",
        ],
        env=local,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    user_id, job_id = json.loads(made.stdout.strip().splitlines()[-1])
    return url, user_id, job_id


def _drop_database(url: str, admin_url: str = PG_ADMIN) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _aws_env(base: dict[str, str], url: str, moto: str, jwt_secret: str) -> dict[str, str]:
    import boto3
    from sqlalchemy.engine import make_url

    endpoint = {"endpoint_url": moto, "region_name": "us-east-1"}
    secrets = boto3.client("secretsmanager", **endpoint)
    suffix = uuid.uuid4().hex[:6]
    jwt_arn = secrets.create_secret(Name=f"bench-jwt-{suffix}", SecretString=jwt_secret)["ARN"]
    db_arn = secrets.create_secret(
        Name=f"bench-db-{suffix}", SecretString=json.dumps({"username": "postgres", "password": "trust"})
    )["ARN"]
    queue = boto3.client("sqs", **endpoint).create_queue(QueueName=f"bench-{suffix}")["QueueUrl"]
    bucket = f"bench-{suffix}"
    boto3.client("s3", **endpoint).create_bucket(Bucket=bucket)
    parsed = make_url(url)
    env = {k: v for k, v in base.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env.update(
        {
            "APP_MODE": "aws",
            "PG_HOST": parsed.host or "127.0.0.1",
            "PG_PORT": str(parsed.port or 5432),
            "PG_USER": parsed.username or "postgres",
            "PG_DATABASE": parsed.database or "",
            "DB_SECRET_ARN": db_arn,
            "JWT_SECRET_ARN": jwt_arn,
            "JOB_QUEUE_URL": queue,
            "S3_BUCKET": bucket,
            "AWS_ENDPOINT_URL": moto,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "CORS_ORIGINS": "https://example.com",
        }
    )
    return env


def _containers(env: dict[str, str], event: Path, url: str, count: int) -> dict[str, Any]:
    """``count`` simulated Lambda containers (processes), each after one request, pools open;
    the connections the server sees for their database, and its connection budget."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    procs = [
        subprocess.Popen(
            [image_python(), "-c", PROBE, "functions.api", str(event), "0", "hold"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            while "READY" not in (line := proc.stdout.readline()):
                if not line:
                    raise RuntimeError("a simulated container exited")
        admin = create_engine(make_url(url))
        with admin.connect() as connection:
            connections = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": make_url(url).database},
            ).scalar_one()
            budget = connection.execute(
                text(
                    "SELECT current_setting('max_connections')::int"
                    " - current_setting('superuser_reserved_connections')::int"
                )
            ).scalar_one()
        admin.dispose()
    finally:
        for proc in procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=60)
    return {"containers": count, "connections": int(connections), "budget": int(budget)}


def _figure7(base: dict[str, str], moto: str, jwt_secret: str, tmp: Path, count: int) -> dict[str, Any]:
    """``count`` containers against a PostgreSQL cluster of the bench's own, sized for them
    (the shared one on 5432 allows 100 connections in all, and is never touched)."""
    import tempfile

    from app.core.security import create_access_token
    from tests.pg_cluster import OwnCluster, pg_bin

    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("figure 7 needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    root = Path(tempfile.mkdtemp(prefix="inpaint-bench-pg-"))
    cluster = OwnCluster(bin_dir, root, settings={"max_connections": str(count + 20)})
    cluster.init()
    cluster.start()
    try:
        url, user_id, job_id = _setup_database(base, admin_url=cluster.url)
        token, _ = create_access_token(subject=user_id, secret=jwt_secret, minutes=60)
        event = _event(tmp, "get_job_fig7", f"/v1/jobs/{job_id}", token)
        return _containers(_aws_env(base, url, moto, jwt_secret), event, url, count)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(runs: int, containers: int) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line per call

    sys.path.insert(0, str(ROOT))
    # moto only: never real AWS
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ[key] = value
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ.pop("AWS_PROFILE", None)
    jwt_secret = "bench-jwt-secret-that-is-long-enough-0123456789"
    base = {
        **os.environ,
        "ENV_PATH": "/nonexistent",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}",
        "LOG_LEVEL": "WARNING",
        "APP_MODE": "local",
        "JWT_SECRET": jwt_secret,
    }
    for name in ("PG_HOST", "S3_BUCKET", "JOB_QUEUE_URL", "AWS_PROFILE"):
        base.pop(name, None)
    url, user_id, job_id = _setup_database(base)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        from app.core.security import create_access_token

        token, _ = create_access_token(subject=user_id, secret=jwt_secret, minutes=60)
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        health = _event(tmp, "health", "/health", None)
        get_job = _event(tmp, "get_job", f"/v1/jobs/{job_id}", token)
        envs = {"local": {**base, "DATABASE_URL": url}, "aws": _aws_env(base, url, f"http://{host}:{port}", jwt_secret)}
        samples: dict[str, list[dict[str, float]]] = {"baseline": [], "local": [], "aws": []}
        for _ in range(runs):  # interleaved: every kind sees the same machine load
            samples["baseline"].append(_probe("baseline_handler", health, envs["local"], 200))
            samples["local"].append(_probe("functions.api", get_job, envs["local"], 200))
            samples["aws"].append(_probe("functions.api", get_job, envs["aws"], 200))
        load = os.getloadavg()  # before figure 7's containers raise it
        pool = _figure7(base, f"http://{host}:{port}", jwt_secret, tmp, containers)
    finally:
        moto.stop()
        _drop_database(url)

    def med(kind: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[kind])

    rows = []
    b_import, b_cold, b_rss, b_warm = (
        med("baseline", "import_ms"),
        med("baseline", "import_ms") + med("baseline", "first_ms"),
        med("baseline", "rss_mb"),
        med("baseline", "warm_p50_ms"),
    )
    for mode in ("local", "aws"):
        rows.append((f"1 cold import, API handler ({mode})", med(mode, "import_ms") / b_import, "<= 1.8"))
    rows.append(
        (
            "2 cold first GET /v1/jobs/{id} (local)",
            (med("local", "import_ms") + med("local", "first_ms")) / b_cold,
            "<= 2.2",
        )
    )
    rows.append(
        ("2 cold first GET /v1/jobs/{id} (aws)", (med("aws", "import_ms") + med("aws", "first_ms")) / b_cold, "<= 2.5")
    )
    rows.append(("3 RSS after that response (local)", med("local", "rss_mb") / b_rss, "<= 1.6"))
    rows.append(("3 RSS after that response (aws)", med("aws", "rss_mb") / b_rss, "<= 2.0"))
    rows.append(("4 warm GET /v1/jobs/{id} p50 (local)", med("local", "warm_p50_ms") / b_warm, "<= 3"))
    rows.append(("4 warm GET /v1/jobs/{id} p50 (aws)", med("aws", "warm_p50_ms") / b_warm, "<= 3"))
    per = pool["connections"] / pool["containers"]
    rows.append(("7 connections per container (aws, PostgreSQL)", per, "<= 1"))
    rows.append(("7 all containers' connections / the server's budget", pool["connections"] / pool["budget"], "<= 1"))
    rows += _other_figures(runs)
    load_after = os.getloadavg()
    print(
        f"\nperformance budget: median of {runs} fresh processes, interleaved; "
        f"load average {load[0]:.2f} after figures 1-4, {load_after[0]:.2f} at the end"
    )
    print(
        f"baseline (bare FastAPI+Mangum, one route): import {b_import:.0f} ms, import+first /health {b_cold:.0f} ms, "
        f"RSS {b_rss:.0f} MB, warm /health p50 {b_warm:.3f} ms"
    )
    print(f"{'figure':<52}{'ratio':>8}  {'target':<8} met")
    for label, ratio, target in rows:
        print(f"{label:<52}{ratio:>8.2f}  {target:<8} {'yes' if _meets(ratio, target) else 'NO'}")
    print(
        f"  (7: {pool['connections']} connections for {pool['containers']} containers; the server's budget "
        f"{pool['budget']} (max_connections - superuser_reserved_connections))"
    )
    for mode in ("local", "aws"):
        print(
            f"  {mode}: import {med(mode, 'import_ms'):.0f} ms, first call {med(mode, 'first_ms'):.0f} ms, "
            f"RSS {med(mode, 'rss_mb'):.0f} MB, warm p50 {med(mode, 'warm_p50_ms'):.3f} ms"
        )


def _meets(ratio: float, target: str) -> bool:
    """``target`` is "<= x" or ">= x"."""
    op, bound = target.split()
    return ratio <= float(bound) if op == "<=" else ratio >= float(bound)


def _other_figures(runs: int) -> list[tuple[str, float, str]]:
    """Figures 5 (HTTP submit throughput) and 6 (a 4096² OpenCV job): their own benches, run
    here so that the table is whole; each prints its absolute figures as it goes."""
    rows: list[tuple[str, float, str]] = []
    for module, function in (("submit_throughput", "figure5"), ("opencv_job", "figure6")):
        try:
            figure = getattr(__import__(module), function)
        except (ImportError, AttributeError):
            print(f"bench/{module}.py: {function} not found; that figure is not in the table", file=sys.stderr)
            continue
        rows += figure(runs)
    return rows


PROFILE = r"""
import cProfile, json, pstats, sys
module = __import__("functions.api", fromlist=["handler"])
event = json.load(open(sys.argv[1]))
module.handler(event, None)
profile = cProfile.Profile()
profile.enable()
for _ in range(300):
    module.handler(event, None)
profile.disable()
stats = pstats.Stats(profile).sort_stats("cumulative")
stats.print_stats(35)
stats.print_callers("run_in_threadpool|run_sync")
"""


def profile_hot_request() -> None:
    """``bench/budget.py --profile``: cProfile of 300 warm GET /v1/jobs/{id} (local, PostgreSQL)."""
    jwt_secret = "bench-jwt-secret-that-is-long-enough-0123456789"
    base = {**os.environ, "ENV_PATH": "/nonexistent", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    base.update({"APP_MODE": "local", "JWT_SECRET": jwt_secret})
    url, user_id, job_id = _setup_database(base)
    try:
        sys.path.insert(0, str(ROOT))
        from app.core.security import create_access_token

        token, _ = create_access_token(subject=user_id, secret=jwt_secret, minutes=60)
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        event = _event(tmp, "get_job", f"/v1/jobs/{job_id}", token)
        subprocess.run(
            [sys.executable, "-c", PROFILE, str(event)], env={**base, "DATABASE_URL": url}, cwd=ROOT, check=True
        )
    finally:
        _drop_database(url)


if __name__ == "__main__" and "--profile" in sys.argv:
    profile_hot_request()
elif __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7, int(sys.argv[2]) if len(sys.argv) > 2 else 25)
