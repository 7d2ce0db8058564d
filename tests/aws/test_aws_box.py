"""AWS in a box: every function of template.yaml, as deployed, against moto + PostgreSQL.

Run by ``scripts/aws-e2e.sh`` (``AWS_E2E=1``); skipped in the plain suite, which the script's
run does not repeat. What it does:

- translates template.yaml with samtranslator (.venv-sam) and, for the parameter set
  ``BOX_PARAMETERS``, resolves the environment of EVERY ``AWS::Lambda::Function`` and of the
  ECS task definition's container (tests/aws/template_env.py); a function the template adds
  later is started too (``test_every_function_starts_with_its_template_environment``);
- creates in a moto server on 127.0.0.1 what the stack would: the bucket with its CORS and
  lifecycle, queue + DLQ with the redrive policy, the generated secrets, the RDS-style DB secret
  (username/password only), VPC subnets and security group, the ECS cluster and task definition;
  PostgreSQL is the machine's (a database of its own); the endpoint is the faithful fake;
- runs each Lambda function under the Lambda Runtime Interface Emulator (awslambdaric, a fresh
  interpreter per function) and the locator task as ``python -m functions.locator_task``, each
  from a copy of what Dockerfile.lambda copies (so no dev.env), with exactly its template
  environment plus the moto endpoint and credentials. Nothing AWS runs in the test process.

Two things moto cannot do are stood in for, and said so: ECS RunTask of a GPU task is answered
by a recorder (``AWS_ENDPOINT_URL_ECS`` of the API only) whose request is asserted; Detectron2 is
not installed here, so before the locator task runs the model registry row points the
``detectron2-mask-rcnn`` model at the OpenCV predictor (configuration, not code).
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.aws.template_env import ROOT, Resolver, Runtime, runtimes, translate
from tests.lambda_rie import INVOKE, RIE_CANDIDATES, free_port, rie_command, wait_until_listening

pytestmark = [
    pytest.mark.aws_e2e,
    pytest.mark.skipif(os.environ.get("AWS_E2E") != "1", reason="AWS in a box: run scripts/aws-e2e.sh"),
]

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "inpaint-box"
ORIGIN = "https://app.example.com"
# What Dockerfile.lambda copies into the task root (checked against it below).
IMAGE_CONTENT = ("app", "functions", "migrations", "alembic.ini")


# --------------------------------------------------------------------------- RunTask recorder


class RunTaskRecorder:
    """Answers ECS RunTask like ECS does when it accepts a task (PROVISIONING), and records it."""

    def __init__(self, cluster_arn: str) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                if not target.endswith(".RunTask"):
                    self._send(400, {"__type": "InvalidAction", "message": f"the recorder only runs tasks: {target}"})
                    return
                recorder.requests.append(body)
                task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{STACK}-locator/{uuid.uuid4().hex}"
                task = {
                    "taskArn": task_arn,
                    "clusterArn": cluster_arn,
                    "lastStatus": "PROVISIONING",
                    "desiredStatus": "RUNNING",
                    "overrides": body.get("overrides", {}),
                    "startedBy": body.get("startedBy"),
                }
                self._send(200, {"tasks": [task], "failures": []})

            def _send(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- the box


class Box:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.task_root = tmp / "task"
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- processes ----------------------------------------------------------------------------

    def base_env(self, runtime: Runtime) -> dict[str, str]:
        """Exactly the template's environment, plus the moto endpoint and credentials (and what
        the Lambda service / ECS agent itself sets: region, PATH, the task root)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.tmp),
            "PYTHONPATH": str(self.task_root),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "box-access-key",
            "AWS_SECRET_ACCESS_KEY": "box-secret-key",
            "AWS_ENDPOINT_URL": self.moto_url,
        }
        env.update(runtime.environment)
        return env

    @contextmanager
    def lambda_function(self, runtime: Runtime, *, extra: dict[str, str] | None = None) -> Iterator[LambdaProcess]:
        assert RIE_CANDIDATES, "the RIE comes with aws-sam-cli in .venv-sam: run scripts/sam-venv.sh"
        emulator, runtime_api = free_port(), free_port()
        timeout = self.template["Resources"][runtime.logical_id]["Properties"].get("Timeout", 3)
        env = {**self.base_env(runtime), **(extra or {}), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout)}
        log_path = self.logs / f"{runtime.logical_id}-{len(self.processes)}.log"
        command = rie_command(str(runtime.handler), emulator, runtime_api)
        log = log_path.open("wb")
        process = subprocess.Popen(
            command, cwd=self.task_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        wait_until_listening(process, emulator, log_path, 30)
        try:
            yield LambdaProcess(f"http://127.0.0.1:{emulator}{INVOKE}", process, log_path)
        finally:
            _stop(process)
            log.close()

    def run_container(self, runtime: Runtime, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        env = {**self.base_env(runtime), **extra}
        command = list(runtime.command or [])
        assert command[:1] == ["python"], command
        return subprocess.run(
            [sys.executable, *command[1:]],
            cwd=self.task_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


class LambdaProcess:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path

    def invoke(self, event: dict[str, Any], timeout: float = 300) -> Any:
        import httpx

        response = httpx.post(self.url, content=json.dumps(event), timeout=timeout)
        return response.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _cfn_cors(rules: list[dict[str, Any]]) -> dict[str, Any]:
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds", "Id": "ID"}
    return {"CORSRules": [{renamed.get(k, k): (int(v) if k == "MaxAge" else v) for k, v in r.items()} for r in rules]}


def _cfn_lifecycle(rules: list[dict[str, Any]]) -> dict[str, Any]:
    converted = []
    for rule in rules:
        item: dict[str, Any] = {
            "ID": rule["Id"],
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            item["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            item["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        converted.append(item)
    return {"Rules": converted}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.fakes.hf_endpoint import TOKEN, FakeHFEndpoint

    tmp = tmp_path_factory.mktemp("aws-box")
    b = Box(tmp)
    # The image's task root: what Dockerfile.lambda copies, and nothing else (no dev.env).
    dockerfile = (ROOT / "Dockerfile.lambda").read_text()
    b.task_root.mkdir()
    for name in IMAGE_CONTENT:
        assert f"COPY {name}" in dockerfile, f"Dockerfile.lambda no longer copies {name}"
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, b.task_root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, b.task_root / name)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    b.moto_url = f"http://{host}:{port}"
    session = boto3.session.Session(
        aws_access_key_id="box-access-key",
        aws_secret_access_key="box-secret-key",
        region_name=REGION,
    )
    b.aws = lambda service: session.client(service, endpoint_url=b.moto_url)  # type: ignore[attr-defined]
    fake = FakeHFEndpoint().start()
    fake.hold_scale = 0.01
    b.fake = fake
    from sqlalchemy.engine import make_url

    from tests.conftest import _create_pg_database, _drop_pg_database

    db_url = _create_pg_database()
    db_name = make_url(db_url).database
    b.db_url = db_url
    try:
        _build_stack(b, db_name, TOKEN)
        yield b
    finally:
        for process in b.processes:
            _stop(process)
        if hasattr(b, "recorder"):
            b.recorder.stop()
        fake.stop()
        moto.stop()
        _drop_pg_database(db_url)


def _build_stack(b: Box, db_name: str, hf_token: str) -> None:
    template = translate()
    b.template = template
    res = template["Resources"]
    sm, s3, sqs, ec2, ecs = (b.aws(s) for s in ("secretsmanager", "s3", "sqs", "ec2", "ecs"))

    # Secrets: generated ones (like GenerateSecretString), the HF token (a parameter's ARN), and the
    # RDS-managed master secret, which holds only username and password.
    jwt_arn = sm.create_secret(Name=f"{STACK}-JwtSecret", SecretString=secrets.token_urlsafe(48))["ARN"]
    b.admin_password = secrets.token_urlsafe(24)
    admin_arn = sm.create_secret(Name=f"{STACK}-AdminPasswordSecret", SecretString=b.admin_password)["ARN"]
    hf_arn = sm.create_secret(Name="hf-token", SecretString=hf_token)["ARN"]
    db_secret = json.dumps({"username": "postgres", "password": "box-trust-auth-ignores-it"})
    db_arn = sm.create_secret(Name=f"rds!db-{uuid.uuid4()}", SecretString=db_secret)["ARN"]

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="box-app", Description="box", VpcId=vpc)["GroupId"]

    b.parameters = {
        "Stage": "box",
        "AllowedOrigins": ORIGIN,
        "VpcId": vpc,
        "SubnetIds": ",".join(subnets),
        "SecurityGroupIds": group,
        "DbName": db_name,
        "DbUser": "postgres",
        "HfEndpointUrl": b.fake.url,
        "HfTokenSecretArn": hf_arn,
        "JobMaxReceiveCount": "2",
        "LocatorImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/inpaint-locator:box",
        "LocatorAmiId": "ami-0123456789abcdef0",
    }
    refs: dict[str, str] = {"JwtSecret": jwt_arn, "AdminPasswordSecret": admin_arn}
    attributes: dict[str, str] = {
        "Database.Endpoint.Address": "127.0.0.1",
        "Database.MasterUserSecret.SecretArn": db_arn,
    }
    # HfEndpointUrl must match ^https://: the fake on loopback speaks http (the one exception).
    resolver = Resolver(
        template,
        b.parameters,
        refs,
        attributes,
        region=REGION,
        account=ACCOUNT,
        stack_name=STACK,
        unchecked_patterns=frozenset({"HfEndpointUrl"}),
    )

    bucket = f"{STACK}-images-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    props = resolver.resolve(res["ImagesBucket"]["Properties"])
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=_cfn_cors(props["CorsConfiguration"]["CorsRules"]))
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration=_cfn_lifecycle(props["LifecycleConfiguration"]["Rules"])
    )
    refs["ImagesBucket"] = bucket
    attributes["ImagesBucket.Arn"] = f"arn:aws:s3:::{bucket}"

    dlq = sqs.create_queue(QueueName=f"{STACK}-JobDeadLetterQueue")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    refs["JobDeadLetterQueue"], attributes["JobDeadLetterQueue.Arn"] = dlq, dlq_arn
    queue_props = resolver.resolve(res["JobQueue"]["Properties"])
    queue = sqs.create_queue(
        QueueName=f"{STACK}-JobQueue",
        Attributes={
            "VisibilityTimeout": str(queue_props["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(queue_props["RedrivePolicy"]),
        },
    )["QueueUrl"]
    refs["JobQueue"] = queue
    attributes["JobQueue.Arn"] = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes["JobQueue.QueueName"] = f"{STACK}-JobQueue"
    b.queue, b.dlq = queue, dlq

    cluster = ecs.create_cluster(clusterName=f"{STACK}-locator")["cluster"]
    refs["LocatorCluster"], attributes["LocatorCluster.Arn"] = cluster["clusterName"], cluster["clusterArn"]
    refs["LocatorCapacityProvider"] = f"{STACK}-LocatorCapacityProvider"
    refs["LocatorLogGroup"] = f"/ecs/{STACK}/locator"
    attributes["LocatorTaskRole.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-LocatorTaskRole"
    attributes["LocatorExecutionRole.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-LocatorExecutionRole"
    task = resolver.resolve(res["LocatorTaskDefinition"]["Properties"])
    containers = [
        {
            "name": c["Name"],
            "image": c["Image"],
            "essential": c["Essential"],
            "command": c["Command"],
            "cpu": int(c["Cpu"]),
            "memory": int(c["Memory"]),
            "resourceRequirements": [{"type": r["Type"], "value": r["Value"]} for r in c["ResourceRequirements"]],
            "environment": [{"name": e["Name"], "value": str(e["Value"])} for e in c["Environment"]],
        }
        for c in task["ContainerDefinitions"]
    ]
    registered = ecs.register_task_definition(
        family=task["Family"],
        requiresCompatibilities=task["RequiresCompatibilities"],
        networkMode=task["NetworkMode"],
        taskRoleArn=task["TaskRoleArn"],
        executionRoleArn=task["ExecutionRoleArn"],
        containerDefinitions=containers,
    )["taskDefinition"]
    refs["LocatorTaskDefinition"] = registered["taskDefinitionArn"]
    b.cluster_arn = cluster["clusterArn"]
    b.task_definition_arn = registered["taskDefinitionArn"]
    b.recorder = RunTaskRecorder(cluster["clusterArn"])

    b.resolver = resolver  # it holds refs and attributes by reference: it sees every resource made since
    b.runtimes = {r.logical_id: r for r in runtimes(template, b.resolver)}
    b.by_handler = {r.handler: r for r in b.runtimes.values() if r.kind == "lambda"}


# --------------------------------------------------------------------------- helpers


def api_event(
    method: str, path: str, *, body: Any = None, token: str | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"}
    raw = b""
    if form is not None:
        raw = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        raw = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    path_only, _, query = path.partition("?")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path_only,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path_only, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10"},
            "requestId": f"box-{uuid.uuid4().hex[:12]}",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795348800000,
        },
        "isBase64Encoded": bool(raw),
        "body": base64.b64encode(raw).decode() if raw else None,
    }


def call(api: LambdaProcess, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = api.invoke(api_event(method, path, **kwargs))
    assert "statusCode" in response, (response, api.log()[-3000:])
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = body
    return response["statusCode"], document


def sqs_event(box: Box, message: dict[str, Any]) -> dict[str, Any]:
    """The event the SQS event source mapping builds from a received message."""
    attributes = message.get("Attributes", {})
    queue_arn = box.resolver.attributes["JobQueue.Arn"]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", "0"),
                    "SenderId": attributes.get("SenderId", ACCOUNT),
                    "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        ]
    }


def receive(box: Box, job_id: str, *, wait: float = 10) -> dict[str, Any]:
    sqs = box.aws("sqs")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=box.queue, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            if json.loads(message["Body"]).get("job_id") == job_id:
                return message
            sqs.change_message_visibility(
                QueueUrl=box.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    raise AssertionError(f"no message for job {job_id}")


def deliver(box: Box, worker: LambdaProcess, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One delivery as the event source mapping makes it; a success deletes the message."""
    message = receive(box, job_id)
    response = worker.invoke(sqs_event(box, message))
    assert isinstance(response, dict) and "batchItemFailures" in response, (response, worker.log()[-3000:])
    if not response["batchItemFailures"]:
        box.aws("sqs").delete_message(QueueUrl=box.queue, ReceiptHandle=message["ReceiptHandle"])
    return message, response


def png_bytes(width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def db_execute(box: Box, sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(box.db_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the run


def test_every_function_starts_with_its_template_environment(box: Box) -> None:
    """Each Lambda function and the locator container: a fresh interpreter, its template
    environment, no dev.env; its handler module imports and its Settings validate."""
    lambdas = [r for r in box.runtimes.values() if r.kind == "lambda"]
    assert {r.handler for r in lambdas} >= {
        "functions.api.handler",
        "functions.worker.handler",
        "functions.seeder.handler",
        "functions.task_state.handler",
        "functions.reaper.handler",
    }
    assert any(r.kind == "ecs" for r in box.runtimes.values())
    assert not (box.task_root / "dev.env").exists()
    for runtime in box.runtimes.values():
        target = runtime.handler or "functions.locator_task.main"
        module, attr = target.rsplit(".", 1)
        probe = (
            f"import importlib; from app.core.config import get_settings; s = get_settings(); "
            f"assert s.is_aws, s.app_mode; getattr(importlib.import_module({module!r}), {attr!r}); print('ok')"
        )
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=box.task_root,
            env=box.base_env(runtime),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", (runtime.logical_id, proc.stderr[-3000:])


def test_the_stack_end_to_end(box: Box) -> None:
    import httpx
    from PIL import Image

    seeder_rt = box.by_handler["functions.seeder.handler"]
    with box.lambda_function(seeder_rt) as seeder:
        seeded = seeder.invoke({"migrate": True})
        assert seeded.get("statusCode") == 200, (seeded, seeder.log()[-3000:])
        assert seeded["body"]["models"]["created"] == 5

    api_rt = box.by_handler["functions.api.handler"]
    with (
        box.lambda_function(api_rt, extra={"AWS_ENDPOINT_URL_ECS": box.recorder.url}) as api,
        box.lambda_function(box.by_handler["functions.worker.handler"]) as worker,
    ):
        admin_email = box.parameters.get("AdminEmail", "admin@example.com")
        status, token_doc = call(
            api, "POST", "/v1/auth/token", form={"username": admin_email, "password": box.admin_password}
        )
        assert status == 200, token_doc
        token = token_doc["access_token"]

        # --- direct upload through the presigned POST (SigV4) ------------------------------------
        data = png_bytes(640, 360)
        status, started = call(
            api, "POST", "/v1/images/uploads", token=token, body={"content_type": "image/png", "bytes": len(data)}
        )
        assert status == 201, started
        fields = started["upload"]["fields"]
        assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256", fields
        assert {"x-amz-credential", "x-amz-date", "x-amz-signature", "policy"} <= set(fields), fields
        assert "AWSAccessKeyId" not in fields and "signature" not in fields  # SigV2's fields
        policy = json.loads(base64.b64decode(fields["policy"]))
        assert ["content-length-range", 1, 50 * 1024 * 1024] in policy["conditions"], policy
        uploaded = httpx.post(started["upload"]["url"], data=fields, files={"file": ("a.png", data, "image/png")})
        assert uploaded.status_code in (200, 204), uploaded.text
        image_id = started["image"]["id"]
        status, image = call(api, "POST", f"/v1/images/{image_id}/complete", token=token)
        assert status == 200 and image["status"] == "ready", image

        # --- inpainting: API → SQS → worker → endpoint → succeeded -------------------------------
        body = {"image_id": image_id, "prompt": "a red vintage bicycle", "mask": {"boxes": [[100, 80, 300, 260]]}}
        status, job = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "seed": 42})
        assert status == 202, job
        _, response = deliver(box, worker, job["id"])
        assert response == {"batchItemFailures": []}, worker.log()[-3000:]
        status, job = call(api, "GET", f"/v1/jobs/{job['id']}", token=token)
        assert job["status"] == "succeeded", (job, worker.log()[-4000:])
        [request] = [r for r in box.fake.requests if r.answered == "ok"]
        assert request.problems == []
        assert "seed" not in (request.body or {})  # the handler ignores it: not sent
        assert (request.body["width"], request.body["height"]) == request.image.size  # type: ignore[index,union-attr]
        url = job["output"]["url"]
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Signature=" in url, url
        fetched = httpx.get(url)
        assert fetched.status_code == 200
        assert Image.open(io.BytesIO(fetched.content)).size == (640, 360)
        # The endpoint ignores the seed: the same request again is a new job, not the cache.
        status, again = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "seed": 42})
        assert status == 202 and again["id"] != job["id"] and again["status"] == "queued", again
        deliver(box, worker, again["id"])

        # --- a Detectron2 locate job: RunTask → the locator task → detections → task state -------
        status, locate = call(api, "POST", "/v1/detections", token=token, body={"image_id": image_id})
        assert status == 202, locate
        [run_task] = box.recorder.requests
        assert run_task["cluster"] == f"{STACK}-locator"
        assert run_task["taskDefinition"] == box.task_definition_arn
        assert run_task["capacityProviderStrategy"] == [
            {"capacityProvider": f"{STACK}-LocatorCapacityProvider", "weight": 1, "base": 0}
        ]
        assert "launchType" not in run_task
        vpc = run_task["networkConfiguration"]["awsvpcConfiguration"]
        assert vpc["subnets"] == box.parameters["SubnetIds"].split(",") and vpc["assignPublicIp"] == "DISABLED"
        assert vpc["securityGroups"] == [box.parameters["SecurityGroupIds"]]
        [override] = run_task["overrides"]["containerOverrides"]
        assert override == {"name": "locator", "environment": [{"name": "JOB_IDS", "value": locate["id"]}]}
        assert run_task["clientToken"] == locate["id"]
        [(task_arn,)] = db_execute(box, "SELECT external_ref FROM jobs WHERE id = :id", id=uuid.UUID(locate["id"]))
        assert task_arn and task_arn.startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/")
        # No Detectron2 here: the registry points the model at the OpenCV predictor.
        db_execute(box, "UPDATE models SET backend = 'opencv-locator' WHERE name = 'detectron2-mask-rcnn'")
        locator_rt = next(r for r in box.runtimes.values() if r.kind == "ecs")
        done = box.run_container(locator_rt, {"JOB_IDS": locate["id"]})
        assert done.returncode == 0, done.stderr[-4000:]
        db_execute(box, "UPDATE models SET backend = 'detectron2' WHERE name = 'detectron2-mask-rcnn'")
        status, located = call(api, "GET", f"/v1/jobs/{locate['id']}", token=token)
        assert located["status"] == "succeeded", (located, done.stderr[-4000:])
        status, detections = call(api, "GET", f"/v1/images/{image_id}/detections", token=token)
        assert status == 200, detections
        [(stored,)] = db_execute(box, "SELECT count(*) FROM detections WHERE job_id = :id", id=uuid.UUID(locate["id"]))
        assert stored == len(detections["detections"])

        # A second locate job whose task never started: the STOPPED event fails it.
        status, lost = call(
            api, "POST", "/v1/detections", token=token, body={"image_id": image_id, "score_threshold": 0.9}
        )
        assert status == 202, lost
        assert len(box.recorder.requests) == 2, (lost, box.recorder.requests)
        lost_run = box.recorder.requests[-1]
        [(lost_arn,)] = db_execute(box, "SELECT external_ref FROM jobs WHERE id = :id", id=uuid.UUID(lost["id"]))
        with box.lambda_function(box.by_handler["functions.task_state.handler"]) as task_state:
            for arn, overrides, exit_code, reason in (
                (
                    task_arn,
                    {
                        "containerOverrides": [
                            {"name": "locator", "environment": [{"name": "JOB_IDS", "value": locate["id"]}]}
                        ]
                    },
                    0,
                    "Essential container in task exited",
                ),
                (lost_arn, lost_run["overrides"], None, "CannotPullContainerError: pull access denied"),
            ):
                event = {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "ECS Task State Change",
                    "source": "aws.ecs",
                    "account": ACCOUNT,
                    "region": REGION,
                    "resources": [arn],
                    "detail": {
                        "clusterArn": box.cluster_arn,
                        "taskArn": arn,
                        "lastStatus": "STOPPED",
                        "desiredStatus": "STOPPED",
                        "stoppedReason": reason,
                        "stopCode": "EssentialContainerExited" if exit_code is not None else "TaskFailedToStart",
                        "containers": [
                            {"name": "locator", "exitCode": exit_code} if exit_code is not None else {"name": "locator"}
                        ],
                        "overrides": overrides,
                    },
                }
                result = task_state.invoke(event)
                assert "failed" in result, (result, task_state.log()[-3000:])
            assert result["failed"] == [lost["id"]], result
        status, lost_job = call(api, "GET", f"/v1/jobs/{lost['id']}", token=token)
        assert lost_job["status"] == "failed" and "CannotPullContainerError" in lost_job["error"]["message"], lost_job
        status, located = call(api, "GET", f"/v1/jobs/{locate['id']}", token=token)
        assert located["status"] == "succeeded"  # the first task's stop left its finished job alone

        # --- faults --------------------------------------------------------------------------------
        # Endpoint scaled to zero: held by X-Scale-Up-Timeout, still 503 → back in the queue, delayed.
        box.fake.initialise(3600)
        status, waking = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "prompt": "a wooden bench"})
        assert status == 202, waking
        _, response = deliver(box, worker, waking["id"])
        assert response == {"batchItemFailures": []}
        status, waking = call(api, "GET", f"/v1/jobs/{waking['id']}", token=token)
        assert waking["status"] == "queued", waking
        delayed = box.aws("sqs").get_queue_attributes(
            QueueUrl=box.queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )
        assert int(delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"]) == 1, delayed
        assert all(r.answered == "503-initialising" for r in box.fake.requests[-3:])
        box.fake.initialise(0)
        box.aws("sqs").purge_queue(QueueUrl=box.queue)  # its delayed redelivery is not waited for here
        status, canceled = call(api, "POST", f"/v1/jobs/{waking['id']}/cancel", token=token)
        assert status == 200 and canceled["status"] == "canceled", canceled

        # The handler runs out of GPU memory (a 400 like every handler exception): retried, then failed.
        box.fake.default = "oom"
        status, oom = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "prompt": "a blue door"})
        _, response = deliver(box, worker, oom["id"])
        box.fake.default = "ok"
        assert response == {"batchItemFailures": []}
        status, oom = call(api, "GET", f"/v1/jobs/{oom['id']}", token=token)
        assert oom["status"] == "failed" and "CUDA out of memory" in oom["error"]["message"], oom
        assert [r.answered for r in box.fake.requests[-3:]] == ["oom", "oom", "oom"]

        # The scheduled reaper. A job whose message never reached the worker (a lost dispatch) is
        # sent again; a job whose worker died holding its last attempt's lease is failed with a
        # reason (this parameter set allows one attempt) instead of waiting for ever.
        status, lost_dispatch = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "prompt": "a kite"})
        status, dead_worker = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "prompt": "a cart"})
        for stranded in (lost_dispatch, dead_worker):
            message = receive(box, stranded["id"])
            box.aws("sqs").delete_message(QueueUrl=box.queue, ReceiptHandle=message["ReceiptHandle"])
        db_execute(
            box,
            "UPDATE jobs SET created_at = now() - interval '1 hour' WHERE id = :id",
            id=uuid.UUID(lost_dispatch["id"]),
        )
        db_execute(
            box,
            "UPDATE jobs SET status = 'running', attempts = :attempts, lease_expires_at = now() - interval '1 second' "
            "WHERE id = :id",
            id=uuid.UUID(dead_worker["id"]),
            attempts=int(box.by_handler["functions.reaper.handler"].environment["JOB_MAX_ATTEMPTS"]),
        )
        with box.lambda_function(box.by_handler["functions.reaper.handler"]) as reaper:
            reaped = reaper.invoke({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
            assert reaped == {"dispatched": [lost_dispatch["id"]]}, (reaped, reaper.log()[-3000:])
        _, response = deliver(box, worker, lost_dispatch["id"])
        assert response == {"batchItemFailures": []}, worker.log()[-3000:]
        status, lost_dispatch = call(api, "GET", f"/v1/jobs/{lost_dispatch['id']}", token=token)
        assert lost_dispatch["status"] == "succeeded", lost_dispatch
        status, dead_worker = call(api, "GET", f"/v1/jobs/{dead_worker['id']}", token=token)
        assert dead_worker["status"] == "failed" and "stopped without finishing" in dead_worker["error"]["message"]

        # The worker dies mid-call: redelivered (after the lease), given up, dead-lettered, no result.
        box.fake.default, box.fake.slow_seconds = "slow", 60
        status, crash = call(api, "POST", "/v1/inpaintings", token=token, body={**body, "prompt": "a green lamp"})
        seen = len(box.fake.requests)
        message = receive(box, crash["id"])
        invocation = threading.Thread(target=lambda: _ignore(worker.invoke, sqs_event(box, message), 30), daemon=True)
        invocation.start()
        deadline = time.monotonic() + 30
        while len(box.fake.requests) == seen:
            assert time.monotonic() < deadline, "the worker never called the endpoint"
            time.sleep(0.05)
        worker.kill()
        invocation.join(timeout=30)
        box.fake.default = "ok"
    # the crashed delivery's lease runs out (JOB_LEASE_SECONDS) and its message becomes visible
    db_execute(
        box, "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = :id", id=uuid.UUID(crash["id"])
    )
    box.aws("sqs").change_message_visibility(
        QueueUrl=box.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    with (
        box.lambda_function(box.by_handler["functions.worker.handler"]) as worker,
        box.lambda_function(api_rt, extra={"AWS_ENDPOINT_URL_ECS": box.recorder.url}) as api,
    ):
        second, response = deliver(box, worker, crash["id"])
        assert second["Attributes"]["ApproximateReceiveCount"] == "2"
        assert response == {"batchItemFailures": [{"itemIdentifier": second["MessageId"]}]}, worker.log()[-3000:]
        assert "failed after its attempts were spent" in worker.log()  # logged, not only reported
        status, crashed = call(api, "GET", f"/v1/jobs/{crash['id']}", token=token)
        assert crashed["status"] == "failed" and crashed["error"]["message"], crashed
        assert crashed["output"] is None
        sqs = box.aws("sqs")
        sqs.change_message_visibility(QueueUrl=box.queue, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
        assert sqs.receive_message(QueueUrl=box.queue, WaitTimeSeconds=1).get("Messages", []) == []
        dead = sqs.receive_message(QueueUrl=box.dlq, WaitTimeSeconds=1).get("Messages", [])
        assert [json.loads(m["Body"])["job_id"] for m in dead] == [crash["id"]]
    [(outputs,)] = db_execute(
        box, "SELECT count(*) FROM images WHERE id = :id", id=uuid.uuid5(uuid.UUID(crash["id"]), "inpaint-output")
    )
    assert outputs == 0


def _ignore(function: Any, *args: Any) -> None:
    import contextlib

    with contextlib.suppress(Exception):  # the invocation dies with the killed worker, as intended
        function(*args)
