#!/usr/bin/env bash
# README command 2: install everything the tests need, then lint and run the whole suite
# on SQLite and PostgreSQL. Safe to re-run; CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# requirements.txt moved from opencv-python-headless to the contrib build (the same cv2
# package): a .venv made before must lose the old wheel first, or the two overwrite each other.
if .venv/bin/python -m pip show -q opencv-python-headless >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet -y opencv-python-headless opencv-contrib-python-headless
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

# aws-sam-cli in its own environment: it pins an old boto3 and cfn-lint.
bash scripts/sam-venv.sh

# PostgreSQL on this machine: start it if it is installed but stopped (tests need it; under
# CI=true an unreachable PostgreSQL fails the run instead of skipping).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ "${CI:-}" != "true" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
