# shellcheck shell=bash
# Shared by scripts/build-lambda-base.sh, build-lambda-image.sh and sam-local-e2e.sh.
# Source it; it defines helpers and exports the podman configuration.

LAMBDA_BASE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LAMBDA_BASE_DIR/../.." && pwd)"

: "${LAMBDA_BASE_IMAGE:=localhost/lambda-python-base:3.13}"
: "${LAMBDA_BASE_CACHE:=/var/cache/inpaint-lambda-base}"
: "${SAM_VENV:=$REPO_ROOT/.venv-sam}"
: "${SAM_CLI_VERSION:=1.170.0}"

# podman reads this instead of /etc/containers/containers.conf + ~/.config
export CONTAINERS_CONF="$LAMBDA_BASE_DIR/containers.conf"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

_apt_updated=0
# ensure_debs PKG... : install the Debian packages that are not installed yet
ensure_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"
  if [ "$_apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    _apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# podman, runc (cgroupfs, no systemd), CNI networking for port publishing, debootstrap
ensure_container_tools() {
  ensure_debs podman runc conmon containernetworking-plugins golang-github-containernetworking-plugin-dnsname \
    iptables slirp4netns uidmap fuse-overlayfs catatonit debootstrap debian-archive-keyring \
    ca-certificates curl unzip
  _pick_storage_driver
}

# Storage: podman's default (overlay on this machine: ext4 root, "Native Overlay Diff:
# true"). If that does not work, or PODMAN_STORAGE_DRIVER=vfs is set, use vfs in a
# separate graph root: podman 4.3 refuses --storage-driver X on a store created
# without one ("database storage graph driver "" does not match ...").
_pick_storage_driver() {
  if [ -z "${PODMAN_STORAGE_DRIVER:-}" ]; then
    if podman --cgroup-manager=cgroupfs info >/dev/null 2>&1; then
      PODMAN_STORAGE_DRIVER=default
    else
      PODMAN_STORAGE_DRIVER=vfs
    fi
  fi
  export PODMAN_STORAGE_DRIVER
}

# PODMAN_GLOBAL_FLAGS: flags every podman call (and `podman system service`) gets
podman_global_flags() {
  PODMAN_GLOBAL_FLAGS=(--cgroup-manager=cgroupfs)
  if [ "${PODMAN_STORAGE_DRIVER:-default}" != default ]; then
    PODMAN_GLOBAL_FLAGS+=(--storage-driver "$PODMAN_STORAGE_DRIVER"
      --root "/var/lib/containers/storage-$PODMAN_STORAGE_DRIVER")
  fi
}

# pm ARGS... : podman with our global flags
pm() {
  podman_global_flags
  podman "${PODMAN_GLOBAL_FLAGS[@]}" "$@"
}

# The Lambda Runtime Interface Emulator ships inside the aws-sam-cli wheel.
# Prints its path: from $SAM_VENV if installed, else from a cached wheel download.
find_rie() {
  local rie
  if [ -x "$SAM_VENV/bin/python" ]; then
    rie="$("$SAM_VENV/bin/python" -c 'import samcli, os; print(os.path.join(os.path.dirname(samcli.__file__), "local", "rapid", "aws-lambda-rie-x86_64"))' 2>/dev/null || true)"
    if [ -n "$rie" ] && [ -x "$rie" ]; then echo "$rie"; return 0; fi
  fi
  rie="$LAMBDA_BASE_CACHE/aws-lambda-rie-x86_64-sam$SAM_CLI_VERSION"
  if [ ! -x "$rie" ]; then
    log "fetching aws-sam-cli==$SAM_CLI_VERSION wheel from PyPI for its RIE"
    local d; d="$(mktemp -d)"
    python3 -m pip download -q --no-deps --only-binary=:all: "aws-sam-cli==$SAM_CLI_VERSION" -d "$d" >&2
    unzip -q -o -j "$d"/aws_sam_cli-*.whl 'samcli/local/rapid/aws-lambda-rie-x86_64' -d "$d"
    install -m 0755 "$d/aws-lambda-rie-x86_64" "$rie"
    rm -rf "$d"
  fi
  echo "$rie"
}
