#!/usr/bin/env bash
# README command 1: install, migrate, seed the demo user and serve the API on 127.0.0.1:8000
# (local mode: SQLite file, images in data/, jobs in-process, OpenCV models). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-local.txt

exec .venv/bin/python -m app serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
