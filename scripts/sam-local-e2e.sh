#!/usr/bin/env bash
# End to end through `sam local start-api` with podman as the container engine (issue 6):
#   1. installs what it needs (Debian: podman, runc, debootstrap, ...; PyPI: aws-sam-cli in .venv-sam)
#   2. builds/reuses the local Lambda base image (scripts/build-lambda-base.sh, cached)
#   3. `sam build` of ApiFunction from Dockerfile.lambda with BASE_IMAGE=<local base>, then
#      `sam local start-api` on 127.0.0.1:<free port> with an env-vars file (APP_MODE=local,
#      SQLite and images in the container's /tmp)
#   4. drives the HTTP flow (scripts/lambda-base/e2e_flow.py): health, token, upload,
#      inpainting job on opencv-telea to succeeded, result PNG fetched
#   5. stops everything it started, by PID (trap), and removes the Lambda containers it made.
# Root, non-interactive, CI-safe. Every listener is on 127.0.0.1 (sam, the published container
# ports); the podman API is a unix socket in a private temp dir.
# Env: KEEP_WORKDIR=1 (keep logs), E2E_TIMEOUT (s, default 300 for start-api readiness),
#      E2E_SEED=auto|exec (see "seed" below),
#      SAM_FUNCTIONS (default "ApiFunction"; "" builds every function).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lambda-base/common.sh
. "$(dirname "$0")/lambda-base/common.sh"
cd "$REPO_ROOT"

T0=$SECONDS
WORK="$(mktemp -d /tmp/sam-local-e2e.XXXXXX)"
SERVICE_PID=""
SAM_PID=""
PRE_CONTAINERS=""

cleanup() {
  local rc=$?
  set +e
  if [ -n "$SAM_PID" ] && kill -0 "$SAM_PID" 2>/dev/null; then
    # SIGTERM, not SIGINT: a background job of a non-interactive shell ignores SIGINT.
    # On SIGTERM sam stops and removes its warm containers itself (~3 s).
    kill -TERM "$SAM_PID"
    for _ in $(seq 30); do kill -0 "$SAM_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$SAM_PID" 2>/dev/null && kill -KILL "$SAM_PID"
    wait "$SAM_PID" 2>/dev/null
  fi
  # Lambda containers that appeared during this run and are still there
  local c
  for c in $(pm ps -aq --filter label=sam.cli.container.type=lambda 2>/dev/null); do
    case " $PRE_CONTAINERS " in *" $c "*) ;; *) pm rm -f "$c" >/dev/null 2>&1 ;; esac
  done
  # earlier builds' images whose tags this run's `sam build` / rapid build moved on
  pm image prune -f >/dev/null 2>&1
  if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID"; wait "$SERVICE_PID" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ]; then
    log "FAILED (exit $rc) after $((SECONDS - T0))s; last lines of the sam log:"
    tail -40 "$WORK/sam-local.log" 2>/dev/null >&2
  fi
  if [ "${KEEP_WORKDIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- 1. tools
[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, rootful podman)"
ensure_container_tools
bash "$REPO_ROOT/scripts/sam-venv.sh" >&2
SAM="$SAM_VENV/bin/sam"
export SAM_CLI_TELEMETRY=0
log "tools ready ($((SECONDS - T0))s)"

# ---------------------------------------------------------------- 2. base image
"$REPO_ROOT/scripts/build-lambda-base.sh"
log "base image ready ($((SECONDS - T0))s)"

# ---------------------------------------------------------------- podman API for sam
podman_global_flags
sock="$WORK/podman.sock"
podman "${PODMAN_GLOBAL_FLAGS[@]}" system service --time=0 "unix://$sock" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "podman system service did not create $sock"
export DOCKER_HOST="unix://$sock"
PRE_CONTAINERS="$(pm ps -aq --filter label=sam.cli.container.type=lambda | tr '\n' ' ')"

# ---------------------------------------------------------------- 3. sam build + start-api
PORT="$(free_port)"
BASE_URL="http://127.0.0.1:$PORT"
ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
JWT_SECRET="e2e-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# sam local resolves the template's !Ref/!GetAtt of AWS resources to logical ids ("JwtSecret")
# and what it cannot resolve (!FindInMap with a !Ref) to "": every such variable is set here,
# so local mode never sees a fake ARN (it would call Secrets Manager) or an empty integer.
cat >"$WORK/env.json" <<JSON
{
  "Parameters": {
    "APP_MODE": "local",
    "STAGE": "e2e",
    "LOG_LEVEL": "INFO",
    "DATABASE_URL": "sqlite:////tmp/app.db",
    "STORAGE_DIR": "/tmp/images",
    "AUTO_MIGRATE_SEED": "true",
    "PUBLIC_BASE_URL": "$BASE_URL",
    "API_BASE_PATH": "",
    "CORS_ORIGINS": "",
    "JWT_SECRET": "$JWT_SECRET",
    "JWT_SECRET_ARN": "",
    "ADMIN_EMAIL": "$ADMIN_EMAIL",
    "ADMIN_PASSWORD": "$ADMIN_PASSWORD",
    "ADMIN_PASSWORD_SECRET_ARN": "",
    "PG_HOST": "",
    "PG_PORT": "5432",
    "PG_USER": "",
    "PG_DATABASE": "",
    "DB_SECRET_ARN": "",
    "S3_BUCKET": "",
    "JOB_QUEUE_URL": "",
    "JOB_MAX_ATTEMPTS": "4",
    "JOB_LEASE_SECONDS": "900",
    "ACCESS_TOKEN_MINUTES": "60",
    "MAX_UPLOAD_BYTES": "10485760",
    "MAX_IMAGE_PIXELS": "16777216",
    "HF_ENDPOINT_URL": "",
    "HF_ENDPOINT_NAME": "",
    "HF_ENDPOINT_NAMESPACE": "",
    "HF_TOKEN_SECRET_ARN": "",
    "LOCATOR_CLUSTER": "",
    "LOCATOR_TASK_DEFINITION": "",
    "LOCATOR_CAPACITY_PROVIDER": "",
    "LOCATOR_SUBNETS": "",
    "LOCATOR_SECURITY_GROUPS": "",
    "LOCATOR_CONTAINER_NAME": "locator"
  }
}
JSON
python3 "$LAMBDA_BASE_DIR/local_template.py" "$REPO_ROOT/template.yaml" "$WORK/template.yaml" \
  --base-image "$LAMBDA_BASE_IMAGE" --env-vars "$WORK/env.json"

log "sam build ${SAM_FUNCTIONS-ApiFunction}"
# shellcheck disable=SC2086
"$SAM" build ${SAM_FUNCTIONS-ApiFunction} --template-file "$WORK/template.yaml" --base-dir "$REPO_ROOT" \
  --build-dir "$WORK/build" --no-cached >"$WORK/sam-build.log" 2>&1 \
  || { tail -40 "$WORK/sam-build.log" >&2; die "sam build failed"; }
log "sam build done ($((SECONDS - T0))s)"

log "sam local start-api on $BASE_URL"
"$SAM" local start-api --template "$WORK/build/template.yaml" --host 127.0.0.1 --port "$PORT" \
  --container-host-interface 127.0.0.1 --env-vars "$WORK/env.json" --skip-pull-image \
  --warm-containers LAZY >"$WORK/sam-local.log" 2>&1 &
SAM_PID=$!

deadline=$((SECONDS + ${E2E_TIMEOUT:-300}))
# (a handler that fails at import still answers, with its error as the body: check the body)
until curl -fsS -m 60 "$BASE_URL/health" 2>/dev/null | grep -q '"status":"ok"'; do
  kill -0 "$SAM_PID" 2>/dev/null || die "sam local start-api exited"
  [ $SECONDS -lt $deadline ] || die "no healthy answer from $BASE_URL/health"
  sleep 1
done
log "API healthy ($((SECONDS - T0))s)"

# ---------------------------------------------------------------- seed
# The API's SQLite file and image folder live in the warm ApiFunction container's /tmp, so
# the seed must run in THAT container (a separate `sam local invoke SeederFunction` would get
# a container of its own). E2E_SEED=exec: run the seeder handler in the warm
# container with `podman exec` (it has the same env). E2E_SEED=auto (default): rely on the app's
# AUTO_MIGRATE_SEED=true (local mode: migrate + seed on cold start), nothing to do here.
if [ "${E2E_SEED:-auto}" = exec ]; then
  cid=""
  for c in $(pm ps -q --filter label=sam.cli.container.type=lambda --filter label=sam.cli.function.name=ApiFunction); do
    case " $PRE_CONTAINERS " in *" $c "*) ;; *) cid="$c" ;; esac
  done
  [ -n "$cid" ] || die "no warm ApiFunction container found (is --warm-containers set?)"
  pm exec "$cid" python3 -c 'import json; from functions.seeder import handler; print("seeder:", json.dumps(handler({"migrate": True}, None)))' >&2 \
    || die "seeder failed in container $cid"
  log "seeded in container ${cid:0:12} ($((SECONDS - T0))s)"
fi

# ---------------------------------------------------------------- 4. the flow
python3 "$LAMBDA_BASE_DIR/e2e_flow.py" "$BASE_URL" "$ADMIN_EMAIL" "$ADMIN_PASSWORD"
log "sam-local e2e passed in $((SECONDS - T0))s"
