#!/usr/bin/env bash
# Run a PhysForge deployment from CI against a shared Prefect server and wait for it.
#
#   PREFECT_API_URL=https://prefect.example.org/api \
#   PREFECT_API_AUTH_STRING="$PREFECT_AUTH" \
#   deployments/ci-run.sh discover/discover dataset=s3://physforge/data/run1.nc \
#       'config={"discovery": {"criterion": "bic"}}'
#
# Arguments: the deployment (<flow>/<deployment>), then key=value parameters (values are
# JSON where they parse as JSON). The exit status is 0 only when the flow run Completed.
# The auth string is passed to prefect through the environment, never on a command line.
set -euo pipefail

usage() {
    echo "usage: $0 <flow>/<deployment> [key=value ...]" >&2
    echo "needs PREFECT_API_URL; PREFECT_API_AUTH_STRING for a server with basic auth" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
deployment=$1
shift
[[ $deployment == */* ]] || usage
: "${PREFECT_API_URL:?set PREFECT_API_URL, e.g. https://prefect.example.org/api}"
export PREFECT_API_URL
if [[ -n ${PREFECT_API_AUTH_STRING:-} ]]; then
    export PREFECT_API_AUTH_STRING
else
    echo "note: PREFECT_API_AUTH_STRING is not set; a server with basic auth will refuse" >&2
fi
export PREFECT_CLI_PROMPT=false

prefect_bin=${PREFECT_BIN:-prefect}
timeout_s=${PHYSFORGE_RUN_TIMEOUT:-3600}

args=(deployment run "$deployment" --watch --watch-interval 5 --watch-timeout "$timeout_s")
for param in "$@"; do
    [[ $param == *=* ]] || { echo "parameter '$param' is not key=value" >&2; exit 2; }
    args+=(--param "$param")
done
if [[ -n ${CI_COMMIT_SHA:-${GITHUB_SHA:-}} ]]; then
    args+=(--tag "commit:${CI_COMMIT_SHA:-${GITHUB_SHA:-}}")
fi

echo "running $deployment on $PREFECT_API_URL" >&2
exec "$prefect_bin" "${args[@]}"
