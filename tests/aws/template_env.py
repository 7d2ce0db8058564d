"""template.yaml as deployed: translated by samtranslator, every function's environment resolved.

``translate()`` runs the SAM transform (in .venv-sam, like `sam deploy` would) and returns the
CloudFormation template. ``Resolver`` evaluates the intrinsic functions of one value for a
named parameter set and a map of resources to the physical ids/attributes the box created.
``runtimes()`` lists EVERY ``AWS::Lambda::Function`` and every ECS container definition with
its command and resolved environment, so a function added to the template later is picked up
(and started) without touching the box.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"

_TRANSLATE = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicyLookup:
    def load(self):
        return {}

tpl = yaml_parse(open(sys.argv[1]).read())
for res in tpl["Resources"].values():
    if res.get("Type") == "AWS::Serverless::Function" and res["Properties"].get("PackageType") == "Image":
        res["Properties"].setdefault("ImageUri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:box")
json.dump(transform(tpl, {}, NoManagedPolicyLookup()), sys.stdout, default=str)
"""


def translate() -> dict[str, Any]:
    if not SAM_PYTHON.exists():
        raise RuntimeError(f"{SAM_PYTHON} is missing: run scripts/sam-venv.sh")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    proc = subprocess.run(
        [str(SAM_PYTHON), "-c", _TRANSLATE, str(TEMPLATE)], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"samtranslator failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


class Unresolvable(Exception):
    pass


_NO_VALUE = object()


class Resolver:
    """CloudFormation intrinsics for one parameter set (what CloudFormation would do at deploy)."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        refs: dict[str, str],
        attributes: dict[str, str],
        *,
        region: str,
        account: str,
        stack_name: str,
        unchecked_patterns: frozenset[str] = frozenset(),
    ) -> None:
        self.template = template
        self.refs = refs  # by reference: the box adds resources as it creates them
        self.attributes = attributes
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = self._parameter_values(parameters, unchecked_patterns)

    def _parameter_values(self, given: dict[str, str], unchecked: frozenset[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise Unresolvable(f"parameter {name} has no default and no value in the parameter set")
            kind = spec.get("Type", "String")
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                raise Unresolvable(f"parameter {name}={value!r} is not one of {spec['AllowedValues']}")
            pattern = spec.get("AllowedPattern")
            if pattern and name not in unchecked and not re.fullmatch(pattern, value):
                raise Unresolvable(f"parameter {name}={value!r} does not match {pattern}")
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                values[name] = (
                    [item.strip() for item in value.split(",")] if value or kind.startswith("List<") else [""]
                )
            else:
                values[name] = value
        unknown = set(given) - set(values)
        if unknown:
            raise Unresolvable(f"the parameter set names unknown parameters {sorted(unknown)}")
        return values

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            method = {
                "Ref": self._ref,
                "Fn::GetAtt": self._get_att,
                "Fn::If": self._if,
                "Fn::Equals": lambda a: str(self.resolve(a[0])) == str(self.resolve(a[1])),
                "Fn::Not": lambda a: not self.resolve(a[0]),
                "Fn::And": lambda a: all(self.resolve(x) for x in a),
                "Fn::Or": lambda a: any(self.resolve(x) for x in a),
                "Condition": self.condition,
                "Fn::Join": lambda a: str(a[0]).join(str(x) for x in self.resolve(a[1])),
                "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
                "Fn::FindInMap": self._find_in_map,
                "Fn::Sub": self._sub,
                "Fn::Split": lambda a: str(self.resolve(a[1])).split(a[0]),
            }.get(key)
            if method is not None:
                return method(arg)
            if key.startswith("Fn::"):
                raise Unresolvable(f"the box cannot resolve {key}")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise Unresolvable(f"Ref {name}: the box created no equivalent")

    def _get_att(self, arg: Any) -> Any:
        resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        key = f"{resource}.{self.resolve(attribute)}"
        if key not in self.attributes:
            raise Unresolvable(f"GetAtt {key}: the box created no equivalent")
        return self.attributes[key]

    def _if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _find_in_map(self, arg: list[Any]) -> Any:
        table, first, second = (self.resolve(x) for x in arg)
        return self.template["Mappings"][table][str(first)][str(second)]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                return str(self._get_att(name))
            return str(self._ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", one, text)


@dataclass
class Runtime:
    """One deployed entry point: a Lambda function (handler) or an ECS container (command)."""

    logical_id: str
    kind: str  # "lambda" or "ecs"
    handler: str | None
    command: list[str] | None
    environment: dict[str, str]


def runtimes(template: dict[str, Any], resolver: Resolver) -> list[Runtime]:
    found: list[Runtime] = []
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            command = (props.get("ImageConfig") or {}).get("Command") or []
            variables = resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
            found.append(
                Runtime(logical_id, "lambda", command[0] if command else None, None, _strings(variables, logical_id))
            )
        elif resource["Type"] == "AWS::ECS::TaskDefinition":
            for container in props.get("ContainerDefinitions", []):
                variables = {item["Name"]: item["Value"] for item in resolver.resolve(container.get("Environment", []))}
                found.append(
                    Runtime(
                        f"{logical_id}/{container['Name']}",
                        "ecs",
                        None,
                        [str(part) for part in resolver.resolve(container.get("Command", []))],
                        _strings(variables, logical_id),
                    )
                )
    return found


def _strings(variables: dict[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, (dict, list)):
            raise Unresolvable(f"{where}: {name} resolved to {value!r}, not a string")
        out[name] = str(value)
    return out
