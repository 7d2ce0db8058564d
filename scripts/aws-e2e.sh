#!/usr/bin/env bash
# AWS in a box: every function of template.yaml started as deployed (fresh interpreter under the
# Lambda RIE, exactly its template environment, no dev.env) against a moto server on 127.0.0.1,
# the machine's PostgreSQL and the faithful HF endpoint fake. See tests/aws/test_aws_box.py.
# Needs .venv (scripts/test.sh) and .venv-sam (scripts/sam-venv.sh); CI runs it after them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "aws-e2e: .venv is missing: run scripts/test.sh first" >&2; exit 1; }
bash scripts/sam-venv.sh >/dev/null
set +e
AWS_E2E=1 .venv/bin/python -m pytest tests/aws -m aws_e2e -p no:cacheprovider -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "aws-e2e: no test ran: that is a failure here" >&2
  exit 1
fi
exit "$status"
