#!/usr/bin/env bash
# Build (or reuse) localhost/lambda-python-base:3.13: a local image that behaves like
# public.ecr.aws/lambda/python:3.13 for this project (runtime interface client,
# /lambda-entrypoint.sh, /var/runtime/bootstrap, RIE, LAMBDA_TASK_ROOT=/var/task),
# built from a debootstrapped Debian trixie rootfs (Python 3.13) because no registry can be
# pulled from here.
#
# Idempotent and cached:
#   $LAMBDA_BASE_CACHE/rootfs-<key>.tar   debootstrap output (key = suite+packages)
#   image label inpaint.lambda-base.key   hash of rootfs key + scripts/lambda-base/* + RIE
# A second run with nothing changed only checks the label (a few seconds).
# Env: LAMBDA_BASE_IMAGE, LAMBDA_BASE_CACHE (/var/cache/inpaint-lambda-base),
#      DEBIAN_MIRROR (http://deb.debian.org/debian), FORCE_REBUILD=1, PODMAN_STORAGE_DRIVER.
# Needs root (apt-get, debootstrap, rootful podman). Non-interactive.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lambda-base/common.sh
. "$(dirname "$0")/lambda-base/common.sh"

SUITE=trixie
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
INCLUDE="python3,python3-venv,ca-certificates"
ROOTFS_IMAGE="localhost/lambda-python-rootfs:$SUITE"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"

t0=$SECONDS
[ "$(id -u)" -eq 0 ] || die "run as root"
mkdir -p "$LAMBDA_BASE_CACHE"
ensure_container_tools
RIE="$(find_rie)"

rootfs_key="$(printf '%s|%s|minbase|%s' "$SUITE" "$INCLUDE" "v2" | sha256sum | cut -c1-16)"
image_key="$( { echo "$rootfs_key" "$AWSLAMBDARIC_VERSION"; cat "$LAMBDA_BASE_DIR"/Containerfile \
  "$LAMBDA_BASE_DIR"/lambda-entrypoint.sh "$LAMBDA_BASE_DIR"/bootstrap; sha256sum <"$RIE"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-16)"

if [ "${FORCE_REBUILD:-0}" != 1 ] && pm image exists "$LAMBDA_BASE_IMAGE" \
   && [ "$(pm image inspect --format '{{index .Labels "inpaint.lambda-base.key"}}' "$LAMBDA_BASE_IMAGE")" = "$image_key" ]; then
  log "$LAMBDA_BASE_IMAGE is current (key $image_key); nothing to do ($((SECONDS - t0))s)"
  exit 0
fi

# 1. rootfs tarball (cached) -> rootfs image
tarball="$LAMBDA_BASE_CACHE/rootfs-$SUITE-$rootfs_key.tar"
if [ ! -s "$tarball" ] || [ "${FORCE_REBUILD:-0}" = 1 ]; then
  work="$(mktemp -d "$LAMBDA_BASE_CACHE/debootstrap.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "debootstrap --variant=minbase $SUITE (+$INCLUDE) from $MIRROR"
  debootstrap --variant=minbase --include="$INCLUDE" --components=main \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$SUITE" "$work/rootfs" "$MIRROR" >"$LAMBDA_BASE_CACHE/debootstrap.log" 2>&1 \
    || { tail -30 "$LAMBDA_BASE_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  # slim it: package caches/lists, docs, man pages, locales, byte code
  chroot "$work/rootfs" apt-get clean
  rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/* \
         "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/info/* \
         "$work/rootfs"/usr/share/locale/* "$work/rootfs"/var/log/*.log "$work/rootfs"/var/log/apt/* \
         "$work/rootfs"/var/cache/debconf/*-old "$work/rootfs"/tmp/* "$work/rootfs"/root/.cache
  # (the stdlib's __pycache__ stays: Lambda's file system is read-only, so byte code that is
  # not in the image is recompiled on every cold start)
  # sources.list for anyone who apt-gets in a derived image
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" >"$work/rootfs/etc/apt/sources.list"
  tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  find "$LAMBDA_BASE_CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -path "$tarball" -delete  # stale keys
  rm -rf "$work"; trap - EXIT
  log "rootfs tarball $(du -h "$tarball" | cut -f1) cached at $tarball"
else
  log "reusing cached rootfs $tarball"
fi
if ! pm image exists "$ROOTFS_IMAGE" \
   || [ "$(pm image inspect --format '{{index .Labels "inpaint.rootfs.key"}}' "$ROOTFS_IMAGE" 2>/dev/null)" != "$rootfs_key" ]; then
  # `podman import` cannot set labels; wrap the import in a one-line build to label it
  pm import --quiet "$tarball" "$ROOTFS_IMAGE-unlabelled" >/dev/null
  printf 'FROM %s\nLABEL inpaint.rootfs.key=%s\nCMD ["/bin/bash"]\n' "$ROOTFS_IMAGE-unlabelled" "$rootfs_key" \
    | pm build --quiet -t "$ROOTFS_IMAGE" -f - "$LAMBDA_BASE_CACHE" >/dev/null
  pm rmi "$ROOTFS_IMAGE-unlabelled" >/dev/null 2>&1 || true
fi

# 2. the base image (pip install awslambdaric needs PyPI: build on the host network)
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$LAMBDA_BASE_DIR"/Containerfile "$LAMBDA_BASE_DIR"/lambda-entrypoint.sh "$LAMBDA_BASE_DIR"/bootstrap "$ctx"/
cp "$RIE" "$ctx/aws-lambda-rie"
mkdir -p "$ctx/local-ca"
cp /usr/local/share/ca-certificates/*.crt "$ctx/local-ca/" 2>/dev/null || true
log "podman build $LAMBDA_BASE_IMAGE"
pm build --network=host --pull=never \
  --build-arg ROOTFS_IMAGE="$ROOTFS_IMAGE" --build-arg AWSLAMBDARIC_VERSION="$AWSLAMBDARIC_VERSION" \
  --label inpaint.lambda-base.key="$image_key" \
  -t "$LAMBDA_BASE_IMAGE" -f "$ctx/Containerfile" "$ctx" >"$LAMBDA_BASE_CACHE/build.log" 2>&1 \
  || { tail -30 "$LAMBDA_BASE_CACHE/build.log" >&2; die "podman build failed"; }
# drop the image the tag pointed to before (dangling layers from earlier builds)
pm image prune -f >/dev/null 2>&1 || true
log "built $LAMBDA_BASE_IMAGE ($(pm image inspect --format '{{.Size}}' "$LAMBDA_BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')) in $((SECONDS - t0))s"
