"""Write a copy of template.yaml for `sam build` / `sam local` on this machine.

    python3 local_template.py TEMPLATE OUT --base-image IMAGE [--env-vars FILE.json]

Three text edits (stdlib only; the template's CloudFormation tags stay untouched):

1. every function built from Dockerfile.lambda gets
   `DockerBuildArgs: {BASE_IMAGE: IMAGE}` in its Metadata, so the image builds on the local
   base instead of public.ecr.aws/lambda/python:3.13 (the template itself must keep the AWS
   default: Metadata cannot take a parameter and `sam build` has no --build-arg);
2. every name in the env-vars file's "Parameters" that the template does not declare yet is
   declared in Globals.Function.Environment.Variables with an empty value: `sam local`
   passes a function ONLY the variables its template declares; --env-vars can override
   them but never add new ones (samcli/local/lambdafn/env_vars.py);
3. every AWS::Serverless::HttpApi without a DefinitionBody gets a minimal OpenAPI body whose
   only content is `x-amazon-apigateway-binary-media-types`. A real HTTP API base64-encodes
   binary request bodies by itself, but `sam local start-api` only does so for media types
   it was told about, and an HttpApi has no BinaryMediaTypes property; without this every
   multipart upload of a PNG fails locally with "UnicodeDecodeError while processing HTTP
   request" and a 502 (aws/aws-sam-cli issues 3110 and 7927).

Use the output with `sam build --template-file OUT --base-dir <repo>`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def add_build_args(text: str, base_image: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    count = 0
    for line in lines:
        out.append(line)
        match = re.match(r"^(\s+)Dockerfile:\s*['\"]?Dockerfile\.lambda['\"]?\s*$", line)
        if match:
            out.append(f'{match.group(1)}DockerBuildArgs: {{BASE_IMAGE: "{base_image}"}}\n')
            count += 1
    return "".join(out), count


BINARY_MEDIA_TYPES = ["multipart/form-data", "image/png", "image/jpeg", "image/webp", "application/octet-stream"]


def add_binary_media_types(text: str) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    count = 0
    pending: str | None = None  # indentation of the HttpApi's Type: line
    for line in lines:
        match = re.match(r"^(\s+)Type:\s*AWS::Serverless::HttpApi\s*$", line)
        if match:
            pending = match.group(1)
        out.append(line)
        if pending is not None and re.match(rf"^{pending}Properties:\s*$", line):
            inner = pending + "  "
            types = ", ".join(f'"{t}"' for t in BINARY_MEDIA_TYPES)
            out.append(
                f"{inner}DefinitionBody:  # added by scripts/lambda-base/local_template.py (sam local only)\n"
                f'{inner}  openapi: "3.0.1"\n'
                f"{inner}  info: {{title: sam-local, version: '1'}}\n"
                f"{inner}  paths: {{}}\n"
                f"{inner}  x-amazon-apigateway-binary-media-types: [{types}]\n"
            )
            count += 1
            pending = None
    return "".join(out), count


def declare_variables(text: str, names: list[str]) -> tuple[str, list[str]]:
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if re.match(r"^Globals:\s*$", line))
    except StopIteration:
        raise SystemExit("local_template: the template has no Globals section") from None
    variables_at = None
    for i in range(start + 1, len(lines)):
        if re.match(r"^\S", lines[i]):  # next top-level section
            break
        if re.match(r"^\s+Variables:\s*$", lines[i]):
            variables_at = i
            break
    if variables_at is None:
        raise SystemExit("local_template: no Globals.Function.Environment.Variables in the template")
    declared = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):", text, flags=re.MULTILINE))
    missing = [name for name in names if name not in declared]
    indent = re.match(r"^(\s+)", lines[variables_at + 1]).group(1)
    new = [f'{indent}{name}: ""\n' for name in missing]
    return "".join(lines[: variables_at + 1] + new + lines[variables_at + 1 :]), missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("template", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base-image", required=True)
    parser.add_argument("--env-vars", type=Path)
    args = parser.parse_args()

    text = args.template.read_text()
    if "DockerBuildArgs" in text:
        print("local_template: the template already has DockerBuildArgs; not adding BASE_IMAGE", file=sys.stderr)
        count = 0
    else:
        text, count = add_build_args(text, args.base_image)
    apis = 0
    if "DefinitionBody" not in text:
        text, apis = add_binary_media_types(text)
    missing: list[str] = []
    if args.env_vars:
        names = list(json.loads(args.env_vars.read_text()).get("Parameters", {}))
        text, missing = declare_variables(text, names)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(
        f"local_template: BASE_IMAGE={args.base_image} for {count} function(s); "
        f"binary media types for {apis} HttpApi(s); "
        f"declared for sam local: {', '.join(missing) or 'nothing new'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
