#!/usr/bin/env bash
# Does requirements.txt install from wheels on the REAL Lambda base?
# public.ecr.aws/lambda/python:3.13 is Amazon Linux 2023 with glibc 2.34, so only wheels tagged
# manylinux1/2010/2014 or manylinux_2_17 .. manylinux_2_34 (and CPython 3.13 or abi3) can install
# there; the local Debian trixie base (glibc 2.41) also takes newer manylinux wheels, so a local
# image build alone does not prove the AWS build works. This resolves the whole dependency set
# (with dependencies) for that platform without installing anything.
#   scripts/check-lambda-wheels.sh [requirements file]      exit 0 = all wheels found
set -euo pipefail
REQ="${1:-$(cd "$(dirname "$0")/.." && pwd)/requirements.txt}"
plat=()
for v in $(seq 17 34); do plat+=(--platform "manylinux_2_${v}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
dest="$(mktemp -d)"
trap 'rm -rf "$dest"' EXIT
if python3 -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.13 \
     --implementation cp "${plat[@]}" -d "$dest" -r "$REQ" 2>"$dest/err"; then
  echo "check-lambda-wheels: $(find "$dest" -name '*.whl' | wc -l) wheels, all installable on Amazon Linux 2023 (glibc 2.34, Python 3.13)"
else
  grep -E '^ERROR' "$dest/err" >&2 || tail -5 "$dest/err" >&2
  echo "check-lambda-wheels: $REQ does NOT install on public.ecr.aws/lambda/python:3.13 (glibc 2.34)" >&2
  exit 1
fi
