"""The scheduled reaper Lambda, started in a fresh interpreter with the template's environment
(APP_MODE=aws, PG_* and DB_SECRET_ARN, JOB_QUEUE_URL), against moto (Secrets Manager, SQS) and
PostgreSQL: a job stranded by a worker that died is requeued and its id sent to the queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]


def test_reaper_function_as_deployed(db, database_url, moto_server, make_job, reload):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the function runs against PostgreSQL, as deployed")
    import boto3

    from app.core.db import utcnow

    endpoint = {"endpoint_url": moto_server, "region_name": "us-east-1"}
    queue_url = boto3.client("sqs", **endpoint).create_queue(QueueName="reaper-test-jobs")["QueueUrl"]
    secret_arn = boto3.client("secretsmanager", **endpoint).create_secret(
        Name="reaper-test-db", SecretString=json.dumps({"username": "postgres", "password": "unused-trust-auth"})
    )["ARN"]
    stranded = make_job(status="running", attempts=1, lease_expires_at=utcnow() - timedelta(seconds=5))
    live = make_job(status="running", attempts=1, lease_expires_at=utcnow() + timedelta(minutes=5))

    url = make_url(database_url)
    env = {
        "PATH": os.environ["PATH"],
        "ENV_PATH": "/nonexistent/no-dev.env",  # as in the image: no dev.env
        # template.yaml Globals
        "APP_MODE": "aws",
        "STAGE": "test",
        "LOG_LEVEL": "INFO",
        "PG_HOST": url.host,
        "PG_PORT": str(url.port or 5432),
        "PG_USER": url.username,
        "PG_DATABASE": url.database,
        "DB_SECRET_ARN": secret_arn,
        "S3_BUCKET": "unused-images",
        "JOB_QUEUE_URL": queue_url,
        "JOB_MAX_ATTEMPTS": "4",
        "JOB_LEASE_SECONDS": "900",
        # AWS through moto on loopback
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    script = (
        "import json; from functions.reaper import handler; "
        "print('RESULT', json.dumps(handler({'source': 'aws.events'}, None)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result == {"dispatched": [str(stranded.id)]}
    assert reload(stranded.id).status == "queued"
    assert reload(live.id).status == "running"
    messages = boto3.client("sqs", **endpoint).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]) for m in messages["Messages"]] == [{"job_id": str(stranded.id)}]
