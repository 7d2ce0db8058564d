"""Static checks of the SAM template, samconfig.toml, prod_env.json.example and events/.

- `sam validate --lint` (SAM CLI from its own venv, .venv-sam, made by scripts/sam-venv.sh) and cfn-lint.
- IAM: no statement allows a wildcard action on a wildcard resource (raw template and, when the SAM venv
  is there, the template as the SAM transform expands it, policy templates included).
- Every function: container image, `module.attr` handler that imports, at least one events file.
- Queue/worker/DLQ, locator GPU task, bucket, outputs, env vars vs prod_env.json.example.

Replaying the events through the handlers needs a database; that lives in the handlers' own tests, which
can reuse `handler_for_event_file` / `event_files_for_handler` from here.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template.yaml"
EVENTS_DIR = REPO / "events"
SAMCONFIG = REPO / "samconfig.toml"
PROD_ENV_EXAMPLE = REPO / "prod_env.json.example"
SAM_VENV = REPO / ".venv-sam"
SAM = SAM_VENV / "bin" / "sam"
IN_CI = os.environ.get("CI") == "true"

# handler -> prefix of its sample events in events/
HANDLER_EVENT_PREFIXES: dict[str, str] = {
    "functions.api.handler": "apigw_",
    "functions.worker.handler": "sqs_",
    "functions.seeder.handler": "seeder_",
    "functions.task_state.handler": "ecs_task_state_",
    "functions.reaper.handler": "scheduled_reaper",
}


def handler_for_event_file(path: str | os.PathLike[str]) -> str:
    """Dotted handler (as in the template's ImageConfig.Command) that a file in events/ is meant for."""
    name = Path(path).name
    if name.endswith(".json"):
        for handler, prefix in HANDLER_EVENT_PREFIXES.items():
            if name.startswith(prefix):
                return handler
    raise ValueError(
        f"{name}: no handler for this events file (expected one of {sorted(HANDLER_EVENT_PREFIXES.values())}*.json)"
    )


def event_files_for_handler(handler: str) -> list[Path]:
    """All events/*.json files that belong to `handler` (e.g. "functions.worker.handler")."""
    return sorted(p for p in EVENTS_DIR.glob("*.json") if _safe_handler(p) == handler)


def _safe_handler(path: Path) -> str | None:
    try:
        return handler_for_event_file(path)
    except ValueError:
        return None


def _required_tool_missing(message: str) -> None:
    """Skip locally, fail under CI=true: the tools are part of the suite there."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: this is required)")
    pytest.skip(message)


def _sam_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


# --------------------------------------------------------------------------- template loading


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    try:
        from cfnlint.decode import cfn_yaml  # understands !Ref / !Sub / !GetAtt / !If ...
    except ImportError:  # pragma: no cover - depends on the venv
        _required_tool_missing("cfn-lint is not installed in this venv (it is in requirements-dev.txt)")
    return cfn_yaml.load(str(TEMPLATE))


def _resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == rtype}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _resources(template, "AWS::Serverless::Function")


def _globals_fn(template: dict[str, Any]) -> dict[str, Any]:
    return template.get("Globals", {}).get("Function", {})


def _fn_prop(template: dict[str, Any], name: str, prop: str) -> Any:
    props = template["Resources"][name]["Properties"]
    return props[prop] if prop in props else _globals_fn(template).get(prop)


def _fn_env(template: dict[str, Any], name: str) -> dict[str, Any]:
    env = dict(_globals_fn(template).get("Environment", {}).get("Variables", {}))
    env.update(template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {}))
    return env


def _handler_of(template: dict[str, Any], name: str) -> str:
    command = template["Resources"][name]["Properties"]["ImageConfig"]["Command"]
    assert isinstance(command, list) and len(command) == 1, f'{name}: ImageConfig.Command must be ["module.attr"]'
    return str(command[0])


def _function_handlers() -> list[tuple[str, str]]:
    """(logical id, handler) pairs read without cfn-lint, for test parametrization."""
    pairs = re.findall(
        r"^  (\w+):\n    Type: AWS::Serverless::Function\n(?:.*\n)*?\s+Command: \[\"([\w.]+)\"\]",
        TEMPLATE.read_text(),
        flags=re.MULTILINE,
    )
    return pairs


# --------------------------------------------------------------------------- linters


def test_sam_validate_lint() -> None:
    if not SAM.exists():
        _required_tool_missing(f"{SAM} is missing: run scripts/sam-venv.sh")
    proc = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=REPO,
        env=_sam_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"sam validate --lint failed:\n{proc.stdout}\n{proc.stderr}"


def test_cfn_lint_clean() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.exists():
        _required_tool_missing(f"{cfn_lint} is missing (cfn-lint belongs in requirements-dev.txt)")
    proc = subprocess.run([str(cfn_lint), str(TEMPLATE)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"cfn-lint exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"


# --------------------------------------------------------------------------- IAM


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_statements(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement anywhere in the document (role policies, SAM inline policies, bucket policy, ...)."""
    if isinstance(node, dict):
        if "Statement" in node:
            for i, stmt in enumerate(_as_list(node["Statement"])):
                if isinstance(stmt, dict):
                    yield f"{path}/Statement/{i}", stmt
        for key, value in node.items():
            yield from _policy_statements(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _policy_statements(value, f"{path}/{i}")


def _is_wildcard_action(action: Any) -> bool:
    return isinstance(action, str) and (action == "*" or action.endswith(":*"))


def _wildcard_violations(document: dict[str, Any]) -> list[str]:
    bad = []
    for path, stmt in _policy_statements(document):
        if stmt.get("Effect") != "Allow":
            continue
        any_action = "NotAction" in stmt or any(_is_wildcard_action(a) for a in _as_list(stmt.get("Action", [])))
        any_resource = "NotResource" in stmt or any(r == "*" for r in _as_list(stmt.get("Resource", [])))
        if any_action and any_resource:
            bad.append(f"{path}: {json.dumps(stmt, default=str)}")
    return bad


def test_no_wildcard_action_on_wildcard_resource(template: dict[str, Any]) -> None:
    statements = list(_policy_statements(template))
    assert len(statements) > 10, "expected to find the template's IAM statements"
    assert _wildcard_violations(template) == []


# SAM policy templates and AWS managed policies the template may use; each is scoped (none is "*" on "*").
ALLOWED_POLICY_TEMPLATES = {
    "AWSSecretsManagerGetSecretValuePolicy",
    "S3CrudPolicy",
    "S3ReadPolicy",
    "S3WritePolicy",
    "SQSSendMessagePolicy",
    "SQSPollerPolicy",
}
FORBIDDEN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess")


def test_function_policies_are_scoped(template: dict[str, Any]) -> None:
    for name, fn in _functions(template).items():
        for policy in _as_list(fn["Properties"].get("Policies", [])):
            if isinstance(policy, str):
                pytest.fail(f"{name}: managed policy by name ({policy}); use a scoped statement instead")
            assert isinstance(policy, dict), f"{name}: unexpected policy entry {policy!r}"
            if "Statement" in policy:
                continue
            (key,) = policy.keys()
            assert key in ALLOWED_POLICY_TEMPLATES, f"{name}: policy template {key} is not on the reviewed list"
    for name, role in _resources(template, "AWS::IAM::Role").items():
        for arn in _as_list(role["Properties"].get("ManagedPolicyArns", [])):
            text = json.dumps(arn, default=str)
            assert not any(p in text for p in FORBIDDEN_MANAGED_POLICIES), f"{name}: {text}"


def test_each_function_gets_only_its_secrets(template: dict[str, Any]) -> None:
    def granted(name: str) -> set[str]:
        out = set()
        for policy in _as_list(template["Resources"][name]["Properties"].get("Policies", [])):
            if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy:
                out.add(json.dumps(policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"], default=str))
        return out

    db = json.dumps(
        {
            "Fn::If": [
                "CreateDatabase",
                {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]},
                {"Ref": "DbSecretArn"},
            ]
        }
    )
    jwt, admin, hf = (json.dumps({"Ref": r}) for r in ("JwtSecret", "AdminPasswordSecret", "HfTokenSecretArn"))
    assert granted("ApiFunction") == {db, jwt}
    assert granted("WorkerFunction") == {db, hf}
    assert granted("SeederFunction") == {db, admin}
    assert granted("TaskStateFunction") == {db}
    assert granted("ReaperFunction") == {db}


def test_transformed_template_has_no_wildcard_grants() -> None:
    from tests.aws.template_env import SAM_PYTHON, translate

    if not SAM_PYTHON.exists():
        _required_tool_missing(f"{SAM_PYTHON} is missing: run scripts/sam-venv.sh")
    translated = translate()
    assert _wildcard_violations(translated) == []
    roles = _resources(translated, "AWS::IAM::Role")
    for fn in ("ApiFunction", "WorkerFunction", "SeederFunction", "TaskStateFunction", "ReaperFunction"):
        assert f"{fn}Role" in roles, f"{fn} should have its own role"
    # Only the API and the reaper (which restarts stranded GPU jobs) may start locator tasks or pass roles.
    for role_name, role in roles.items():
        actions = {
            a for _, stmt in _policy_statements(role) for a in _as_list(stmt.get("Action", [])) if isinstance(a, str)
        }
        if role_name not in ("ApiFunctionRole", "ReaperFunctionRole"):
            assert not actions & {"ecs:RunTask", "iam:PassRole"}, f"{role_name}: {sorted(actions)}"


def test_api_runtask_and_passrole_are_scoped(template: dict[str, Any]) -> None:
    statements = [s for _, s in _policy_statements(template["Resources"]["ApiFunction"]["Properties"]["Policies"])]
    by_action = {a: s for s in statements for a in _as_list(s["Action"])}
    run_task = by_action["ecs:RunTask"]
    assert "task-definition/" in json.dumps(run_task["Resource"], default=str)
    assert "ecs:cluster" in json.dumps(run_task.get("Condition", {}))
    pass_role = by_action["iam:PassRole"]
    assert sorted(json.dumps(r, default=str) for r in pass_role["Resource"]) == sorted(
        json.dumps({"Fn::GetAtt": [r, "Arn"]}) for r in ("LocatorTaskRole", "LocatorExecutionRole")
    )
    assert pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"


# --------------------------------------------------------------------------- functions


def test_template_functions_are_the_expected_four(template: dict[str, Any]) -> None:
    handlers = {name: _handler_of(template, name) for name in _functions(template)}
    assert handlers == {
        "ApiFunction": "functions.api.handler",
        "WorkerFunction": "functions.worker.handler",
        "SeederFunction": "functions.seeder.handler",
        "TaskStateFunction": "functions.task_state.handler",
        "ReaperFunction": "functions.reaper.handler",
    }
    assert dict(_function_handlers()) == handlers  # the parametrization below sees the same ones


def test_functions_are_container_images_in_the_vpc(template: dict[str, Any]) -> None:
    for name, fn in _functions(template).items():
        props = fn["Properties"]
        assert props.get("PackageType") == "Image", name
        assert "Handler" not in props and "Runtime" not in props, name
        assert fn["Metadata"]["Dockerfile"] == "Dockerfile.lambda", name
        assert fn["Metadata"]["DockerContext"] == ".", name
        assert _fn_prop(template, name, "VpcConfig"), f"{name}: needs VpcConfig to reach RDS"
        assert _fn_prop(template, name, "Architectures") == ["x86_64"], name
    # One image: identical build metadata, so `sam build` builds it once.
    metadata = {json.dumps(fn["Metadata"], sort_keys=True) for fn in _functions(template).values()}
    assert len(metadata) == 1


@pytest.mark.parametrize(("function", "handler"), _function_handlers())
def test_handler_imports(function: str, handler: str) -> None:
    assert re.fullmatch(r"[a-z_][\w]*(\.[a-z_]\w*)+", handler), f"{function}: {handler} is not module.attr"
    module_name, attr = handler.rsplit(".", 1)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attr)), f"{function}: {handler} is not callable"


@pytest.mark.parametrize(("function", "handler"), _function_handlers())
def test_every_function_has_an_events_file(function: str, handler: str) -> None:
    assert event_files_for_handler(handler), (
        f"{function} ({handler}) has no events/{HANDLER_EVENT_PREFIXES[handler]}*.json"
    )


def test_no_secret_values_in_function_environment(template: dict[str, Any]) -> None:
    plain_secret_vars = {"JWT_SECRET", "PG_PASSWORD", "HF_TOKEN", "ADMIN_PASSWORD", "DATABASE_URL"}
    for name in _functions(template):
        env = _fn_env(template, name)
        assert not plain_secret_vars & set(env), f"{name}: secret values must come from Secrets Manager ARNs"
        assert env["APP_MODE"] == "aws"
    assert "JWT_SECRET_ARN" in _fn_env(template, "ApiFunction")
    assert "HF_TOKEN_SECRET_ARN" in _fn_env(template, "WorkerFunction")
    assert "ADMIN_PASSWORD_SECRET_ARN" in _fn_env(template, "SeederFunction")
    task_env = {
        e["Name"]
        for c in template["Resources"]["LocatorTaskDefinition"]["Properties"]["ContainerDefinitions"]
        for e in c.get("Environment", [])
    }
    assert not plain_secret_vars & task_env and "DB_SECRET_ARN" in task_env
    assert template["Parameters"]["HfTokenSecretArn"]["Type"] == "String"
    assert "secretsmanager" in template["Parameters"]["HfTokenSecretArn"]["AllowedPattern"]


# --------------------------------------------------------------------------- queue / worker


def test_queue_visibility_exceeds_worker_timeout(template: dict[str, Any]) -> None:
    queue = template["Resources"]["JobQueue"]["Properties"]
    timeout = int(_fn_prop(template, "WorkerFunction", "Timeout"))
    visibility = int(queue["VisibilityTimeout"])
    assert visibility > timeout
    assert visibility >= 6 * timeout, "AWS recommends a visibility timeout of 6x the function timeout"
    # A redelivery after a crash must find the job's lease expired, and a live job must keep its lease.
    lease = int(_fn_env(template, "WorkerFunction")["JOB_LEASE_SECONDS"])
    assert timeout < lease < visibility


def test_dead_letter_queue_and_attempts(template: dict[str, Any]) -> None:
    redrive = template["Resources"]["JobQueue"]["Properties"]["RedrivePolicy"]
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    assert redrive["maxReceiveCount"] == {"Ref": "JobMaxReceiveCount"}
    parameter = template["Parameters"]["JobMaxReceiveCount"]
    assert int(parameter["Default"]) == 5
    # The app's JOB_MAX_ATTEMPTS is maxReceiveCount - 1 (app/core/config.py): the worker fails the job
    # with a reason on the delivery after its last attempt, before SQS dead-letters the message.
    lookup = {"Fn::FindInMap": ["JobAttempts", {"Ref": "JobMaxReceiveCount"}, "MaxAttempts"]}
    assert _fn_env(template, "WorkerFunction")["JOB_MAX_ATTEMPTS"] == lookup
    table = template["Mappings"]["JobAttempts"]
    allowed = range(int(parameter["MinValue"]), int(parameter["MaxValue"]) + 1)
    assert sorted(int(k) for k in table) == list(allowed)
    assert all(int(v["MaxAttempts"]) == int(k) - 1 for k, v in table.items())


def test_worker_sqs_event(template: dict[str, Any]) -> None:
    worker = template["Resources"]["WorkerFunction"]["Properties"]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS"
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": ["JobQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= int(props["BatchSize"]) <= 10
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "WorkerReservedConcurrency"}


def test_task_state_rule(template: dict[str, Any]) -> None:
    (event,) = template["Resources"]["TaskStateFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]
    assert pattern["detail"]["clusterArn"] == [{"Fn::GetAtt": ["LocatorCluster", "Arn"]}]


# --------------------------------------------------------------------------- locator


def test_locator_task_definition_requests_a_gpu(template: dict[str, Any]) -> None:
    props = template["Resources"]["LocatorTaskDefinition"]["Properties"]
    assert props["RequiresCompatibilities"] == ["EC2"]
    assert props["NetworkMode"] == "awsvpc"
    (container,) = props["ContainerDefinitions"]
    gpus = [r for r in container["ResourceRequirements"] if r["Type"] == "GPU"]
    assert gpus and int(gpus[0]["Value"]) >= 1
    assert container["Command"] == ["python", "-m", "functions.locator_task"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert props["TaskRoleArn"] and props["ExecutionRoleArn"]


def test_locator_capacity_scales_from_zero(template: dict[str, Any]) -> None:
    asg = template["Resources"]["LocatorAutoScalingGroup"]["Properties"]
    assert str(asg["MinSize"]) == "0"
    assert str(asg.get("DesiredCapacity", "0")) == "0"
    provider = template["Resources"]["LocatorCapacityProvider"]["Properties"]["AutoScalingGroupProvider"]
    assert provider["ManagedScaling"]["Status"] == "ENABLED"
    assert provider["ManagedTerminationProtection"] == "DISABLED"
    ami = template["Parameters"]["LocatorAmiId"]
    assert ami["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert ami["Default"] == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"


# --------------------------------------------------------------------------- bucket / outputs / config


def test_bucket_is_private_encrypted_and_expires_uploads(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ImagesBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert {"GET", "PUT", "POST"} <= set(cors["AllowedMethods"])
    assert cors["AllowedOrigins"] == {"Ref": "AllowedOrigins"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any(r.get("Prefix") == "uploads/" and "ExpirationInDays" in r for r in rules)
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)


def test_outputs(template: dict[str, Any]) -> None:
    assert {"ApiUrl", "BucketName", "JobQueueUrl", "DeadLetterQueueUrl", "ClusterName"} <= set(template["Outputs"])


def test_samconfig_environments() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    assert str(config["version"]) == "0.1"
    stacks = set()
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} <= set(deploy["capabilities"].split())
        assert deploy["resolve_image_repos"] is True
        assert deploy["confirm_changeset"] is True
        assert "Stage=" in deploy["parameter_overrides"]
        stacks.add(config[env]["global"]["parameters"]["stack_name"])
    assert len(stacks) == 2


def test_prod_env_example_matches_template(template: dict[str, Any]) -> None:
    """SAM --env-vars only overrides variables the template declares, so every key must exist there."""
    data = json.loads(PROD_ENV_EXAMPLE.read_text())
    assert "Parameters" in data and "ApiFunction" in data
    global_env = set(_globals_fn(template)["Environment"]["Variables"])
    assert set(data["Parameters"]) <= global_env
    covered = set(data["Parameters"])
    for section, values in data.items():
        if section == "Parameters":
            continue
        assert section in _functions(template), f"{section} is not a function of the template"
        assert set(values) <= set(_fn_env(template, section)), section
        covered |= set(values)
        assert all(isinstance(v, str) for v in values.values()), section
    declared = set().union(*(_fn_env(template, name) for name in _functions(template)))
    assert declared == covered, f"not in prod_env.json.example: {sorted(declared - covered)}"


# --------------------------------------------------------------------------- events/


def _event_files() -> list[Path]:
    return sorted(EVENTS_DIR.glob("*.json"))


def test_every_events_file_belongs_to_a_handler() -> None:
    files = _event_files()
    assert files, "events/ is empty"
    for path in files:
        handler_for_event_file(path)  # raises for a file no handler claims


def _check_uuid(value: str) -> None:
    uuid.UUID(value)


def _check_apigw(event: dict[str, Any]) -> None:
    if event.get("version") == "2.0":
        assert event["requestContext"]["http"]["method"]
        assert "rawPath" in event
    else:
        assert event["httpMethod"] and event["path"] and "requestContext" in event


def _check_sqs(event: dict[str, Any]) -> None:
    records = event["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["messageId"] and record["receiptHandle"]
        assert record["eventSourceARN"].startswith("arn:aws:sqs:")
        body = json.loads(record["body"])
        assert set(body) == {"job_id"}
        _check_uuid(body["job_id"])


def _check_seeder(event: dict[str, Any]) -> None:
    assert set(event) <= {"migrate"}
    if "migrate" in event:
        assert isinstance(event["migrate"], bool)


def _check_ecs_task_state(event: dict[str, Any]) -> None:
    # Must match the template's EventBridge pattern.
    assert event["source"] == "aws.ecs"
    assert event["detail-type"] == "ECS Task State Change"
    detail = event["detail"]
    assert detail["lastStatus"] == "STOPPED"
    assert re.fullmatch(r"arn:aws:ecs:[a-z0-9-]+:\d{12}:cluster/.+", detail["clusterArn"])
    assert re.fullmatch(r"arn:aws:ecs:[a-z0-9-]+:\d{12}:task/.+", detail["taskArn"])
    assert detail["stoppedReason"]
    assert detail["containers"] and all("name" in c for c in detail["containers"])
    env = {
        e["name"]: e["value"]
        for override in detail["overrides"]["containerOverrides"]
        for e in override.get("environment", [])
    }
    for job_id in env["JOB_IDS"].split(","):
        _check_uuid(job_id)


def _check_scheduled(event: dict[str, Any]) -> None:
    assert event["source"] == "aws.events" and event["detail-type"] == "Scheduled Event"


_SHAPE_CHECKS = {
    "functions.api.handler": _check_apigw,
    "functions.worker.handler": _check_sqs,
    "functions.seeder.handler": _check_seeder,
    "functions.task_state.handler": _check_ecs_task_state,
    "functions.reaper.handler": _check_scheduled,
}


@pytest.mark.parametrize("path", _event_files(), ids=lambda p: p.name)
def test_events_file_shape(path: Path) -> None:
    event = json.loads(path.read_text())
    assert isinstance(event, dict)
    _SHAPE_CHECKS[handler_for_event_file(path)](event)
