#!/usr/bin/env bash
# Create (idempotently) the SAM CLI virtual environment at .venv-sam.
#
# aws-sam-cli pins its own boto3/botocore/cfn-lint/aws-sam-translator versions, so it lives in its own
# venv and never in the app venv (.venv). Used by tests/test_template.py (`sam validate --lint`) and by
# anyone deploying (`.venv-sam/bin/sam build`, ...).
#
# Usage: scripts/sam-venv.sh            # from anywhere; the venv goes to <repo>/.venv-sam
#        SAM_VENV=/path PYTHON=python3.11 scripts/sam-venv.sh
set -euo pipefail

SAM_CLI_VERSION="1.170.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAM_VENV="${SAM_VENV:-$REPO_ROOT/.venv-sam}"
PYTHON="${PYTHON:-python3}"

installed_version() {
  "$SAM_VENV/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
print(version("aws-sam-cli"))
PY
}

if [[ -x "$SAM_VENV/bin/sam" && "$(installed_version)" == "$SAM_CLI_VERSION" ]]; then
  echo "sam-venv: $SAM_VENV already has aws-sam-cli $SAM_CLI_VERSION"
  exit 0
fi

if [[ ! -x "$SAM_VENV/bin/python" ]]; then
  echo "sam-venv: creating $SAM_VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$SAM_VENV"
fi

echo "sam-venv: installing aws-sam-cli==$SAM_CLI_VERSION into $SAM_VENV"
"$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"

SAM_CLI_TELEMETRY=0 "$SAM_VENV/bin/sam" --version
