"""Static checks for what CloudFormation and Lambda refuse or cap, which cfn-lint and
`sam validate --lint` do not see (issue 9's defects 1, 6, 7, 8)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_template import REPO, _policy_statements

# Inside Rules CloudFormation accepts only Ref and these ("Template format error: Following
# functions are not supported in the Rules block"); Fn::Join, Fn::Sub, Fn::If, Fn::Select... fail
# change-set creation. https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html
RULE_FUNCTIONS = {
    "Ref",
    "Condition",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
    "Fn::RefAll",
}

LAMBDA_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invoke request payload quota
MULTIPART_AND_EVENT_OVERHEAD = 64 * 1024  # multipart boundaries, form fields, the event's other keys


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(REPO / "template.yaml"))


def _functions_used(node: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                found.append((path, key))
            found.extend(_functions_used(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_functions_used(value, f"{path}[{index}]"))
    return found


def rules_violations(template: dict[str, Any]) -> list[str]:
    return [
        f"Rules{path}: {function}"
        for path, function in _functions_used(template.get("Rules", {}))
        if function not in RULE_FUNCTIONS
    ]


def test_rules_use_only_functions_cloudformation_accepts_there(template: dict[str, Any]) -> None:
    assert template.get("Rules"), "the template's Rules are gone"
    assert rules_violations(template) == []


def test_the_rules_check_catches_a_join() -> None:
    broken = {"Rules": {"R": {"Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", []]}, ""]}]}}]}}}
    assert rules_violations(broken) == ["Rules/R/Assertions[0]/Assert/Fn::Not[0]/Fn::Equals[0]: Fn::Join"]


def test_gateway_endpoint_rule_refuses_the_empty_route_table_list(template: dict[str, Any]) -> None:
    """RouteTableIds defaults to "" (the list [""]): the assertion must fail on it, pass on ids."""
    [assertion] = template["Rules"]["GatewayEndpointNeedsRouteTables"]["Assertions"]

    def holds(route_tables: list[str]) -> bool:
        node = assertion["Assert"]
        assert list(node) == ["Fn::Not"]
        [contains] = node["Fn::Not"]
        values, needle = contains["Fn::Contains"]
        assert values == {"Ref": "RouteTableIds"}
        return needle not in route_tables

    assert not holds([""])
    assert holds(["rtb-0123456789abcdef0", "rtb-0fedcba9876543210"])


def test_worker_batch_fits_its_timeout(template: dict[str, Any]) -> None:
    """Each job may spend HF_CALL_BUDGET_SECONDS on the endpoint; a batch runs its jobs one after
    the other inside one invocation, so batch size x budget must stay under the timeout."""
    from app.core.config import Settings

    worker = template["Resources"]["WorkerFunction"]["Properties"]
    [event] = worker["Events"].values()
    batch = int(event["Properties"]["BatchSize"])
    budget = Settings().hf_call_budget_seconds
    assert batch * budget < int(worker["Timeout"]), (batch, budget, worker["Timeout"])


def test_upload_limit_fits_the_lambda_invoke_payload(template: dict[str, Any]) -> None:
    """HTTP API hands a multipart body to Lambda base64-encoded, inside a 6 MB invoke payload."""
    spec = template["Parameters"]["MaxUploadBytes"]
    for limit in (int(spec["Default"]), int(spec["MaxValue"])):
        encoded = 4 * math.ceil((limit + MULTIPART_AND_EVENT_OVERHEAD) / 3)
        assert encoded <= LAMBDA_INVOKE_PAYLOAD_BYTES, (limit, encoded)


def test_api_role_has_no_unused_ecs_actions(template: dict[str, Any]) -> None:
    """Nothing in the API calls DescribeTasks or StopTask (grep app/): the role must not allow them."""
    actions = {
        action
        for _, statement in _policy_statements(template["Resources"]["ApiFunction"]["Properties"]["Policies"])
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert actions & {"ecs:DescribeTasks", "ecs:StopTask"} == set()
    called = {
        name
        for path in (REPO / "app").rglob("*.py")
        for name in re.findall(r"\.(describe_tasks|stop_task)\(", path.read_text())
    }
    assert called == set()


def test_task_state_rule_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    [event] = template["Resources"]["TaskStateFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["DeadLetterConfig"]["Type"] == "SQS"


def test_prod_database_has_deletion_protection(template: dict[str, Any]) -> None:
    database = template["Resources"]["Database"]["Properties"]
    assert database["DeletionProtection"] == {"Fn::If": ["IsProd", True, False]}
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_locator_ami_is_amazon_linux_2023(template: dict[str, Any]) -> None:
    default = template["Parameters"]["LocatorAmiId"]["Default"]
    assert default == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"


def test_readme_deploy_guide_is_corrected() -> None:
    readme = (REPO / "README.md").read_text()
    assert re.search(r"100 unreserved", readme), "reserved concurrency must leave 100 unreserved"
    assert "resolve_image_repos" in readme and "one ECR repository per function" in readme
    assert "has no authentication. Is this okay?" in readme and "answer **y**" in readme


def test_docs_have_the_endpoint_fake_table() -> None:
    text = Path(REPO / "docs" / "hf-endpoint-fake.md").read_text()
    for behaviour in ("width", "seed", "400", "Content-Type", "X-Scale-Up-Timeout", "one request at a time"):
        assert behaviour in text, behaviour
