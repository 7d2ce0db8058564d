#!/usr/bin/env bash
# Build Dockerfile.lambda with podman on the local Lambda base image and print its size.
#   scripts/build-lambda-image.sh [TAG]        (default localhost/inpaint-lambda:dev)
# Env: BASE_IMAGE (default localhost/lambda-python-base:3.13, built first if missing by
#      scripts/build-lambda-base.sh), PODMAN_BUILD_FLAGS (extra flags, e.g. --no-cache),
#      STRICT_AL2=1 (fail when requirements.txt has wheels AWS's Amazon Linux 2023 base can't take).
# With the real AWS base (elsewhere): BASE_IMAGE=public.ecr.aws/lambda/python:3.13.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lambda-base/common.sh
. "$(dirname "$0")/lambda-base/common.sh"

TAG="${1:-localhost/inpaint-lambda:dev}"
BASE_IMAGE="${BASE_IMAGE:-$LAMBDA_BASE_IMAGE}"
t0=$SECONDS
ensure_container_tools
if [ "$BASE_IMAGE" = "$LAMBDA_BASE_IMAGE" ]; then
  "$REPO_ROOT/scripts/build-lambda-base.sh"
fi
# the local base accepts newer wheels than AWS's Amazon Linux 2023 base: say so (STRICT_AL2=1: fail)
if ! "$REPO_ROOT/scripts/check-lambda-wheels.sh"; then
  [ "${STRICT_AL2:-0}" = 1 ] && die "requirements.txt would not install on the AWS base"
  log "WARNING: this image builds here, but the same Dockerfile.lambda would fail on public.ecr.aws/lambda/python:3.13"
fi
log "podman build -f Dockerfile.lambda --build-arg BASE_IMAGE=$BASE_IMAGE -t $TAG"
# --network=host: the pip step reaches PyPI the way the host does
# shellcheck disable=SC2086
pm build --network=host --pull=never --build-arg BASE_IMAGE="$BASE_IMAGE" \
  ${PODMAN_BUILD_FLAGS:-} -f "$REPO_ROOT/Dockerfile.lambda" -t "$TAG" "$REPO_ROOT"
pm image prune -f >/dev/null 2>&1 || true
size="$(pm image inspect --format '{{.Size}}' "$TAG")"
base_size="$(pm image inspect --format '{{.Size}}' "$BASE_IMAGE" 2>/dev/null || echo 0)"
log "built $TAG in $((SECONDS - t0))s"
awk -v t="$TAG" -v s="$size" -v b="$BASE_IMAGE" -v bs="$base_size" 'BEGIN {
  printf "image %s: %d bytes (%.0f MB; base %s: %.0f MB; app layers: %.0f MB)\n", t, s, s/1e6, b, bs/1e6, (s-bs)/1e6 }'
