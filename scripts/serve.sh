#!/usr/bin/env bash
# README command 1: install, migrate, seed the demo user and serve the API on 127.0.0.1:8000
# (local mode: SQLite file, images in data/, jobs in-process, OpenCV models). Safe to re-run.
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
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-local.txt

exec .venv/bin/python -m app serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
