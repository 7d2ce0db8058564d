#!/usr/bin/env bash
# CI step (.ci/run): the locator on the real Detectron2, on the CPU, in its own venv .venv-d2
# (about 6 GB; reused when present). torch and torchvision from pip, then detectron2 built with
# FORCE_CUDA=0 at the Dockerfile.locator pin: from ../shared/vendor's archive when it exists,
# else from GitHub. Then tests/detectron2 (real photos, SQLite and PostgreSQL) and the locator
# task's own tests, which must also pass with detectron2 installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON_D2:-python3.11}
VENV=.venv-d2
REF=$(sed -n 's/^ARG DETECTRON2_REF=//p' Dockerfile.locator)
[ -n "$REF" ] || { echo "no DETECTRON2_REF in Dockerfile.locator" >&2; exit 1; }
ARCHIVE=../shared/vendor/detectron2-${REF:0:7}.tar.gz

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install --upgrade pip
pip_install -r requirements-dev.txt -r requirements-detectron2.txt

# Built once per venv and pin (the marker names the commit it was built from).
if [ "$(cat "$VENV/.detectron2-ref" 2>/dev/null)" != "$REF" ] || ! "$VENV/bin/python" -c "import detectron2" 2>/dev/null; then
  if [ -f "$ARCHIVE" ]; then source=$ARCHIVE; else source="git+https://github.com/facebookresearch/detectron2.git@$REF"; fi
  # Another commit already there (same version number): replace it, keep its dependencies.
  replace=()
  if "$VENV/bin/python" -c "import detectron2" 2>/dev/null; then replace=(--force-reinstall --no-deps); fi
  echo "building detectron2 ${REF:0:7} on the CPU from $source" >&2
  FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} pip_install --no-build-isolation "${replace[@]}" "$source"
  echo "$REF" > "$VENV/.detectron2-ref"
fi
"$VENV/bin/python" -c "import detectron2, skimage, torch; print('detectron2', detectron2.__version__, 'torch', torch.__version__)"

# PostgreSQL: as scripts/test.sh (under CI=true an unreachable one fails the tests).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ "${CI:-}" != "true" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
fi

set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider \
  -W "ignore:pkg_resources is deprecated:UserWarning" -W "ignore::FutureWarning:torch" \
  tests/detectron2 tests/locator/test_locator_task.py tests/locator/test_imports.py "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
