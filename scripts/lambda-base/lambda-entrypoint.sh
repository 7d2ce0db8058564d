#!/bin/sh
# Entrypoint of localhost/lambda-python-base:3.13, modelled on the one in
# public.ecr.aws/lambda/python:3.13:
#   - outside Lambda (AWS_LAMBDA_RUNTIME_API unset, e.g. `podman run -p 127.0.0.1:9000:8080 IMAGE`)
#     the handler runs under the Runtime Interface Emulator, which serves the
#     invoke API on port 8080 *inside the container's own network namespace*;
#   - inside Lambda, or under an outer emulator (sam local mounts its own RIE at
#     /var/rapid and starts this script as the runtime), the runtime interface
#     client talks to AWS_LAMBDA_RUNTIME_API directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie "$RUNTIME_ENTRYPOINT" "$@"
else
  exec "$RUNTIME_ENTRYPOINT" "$@"
fi
