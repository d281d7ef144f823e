#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis (pinned, in $STRATUS_TOOLS/venv-testtools) runs
# every check in every phase, stateful links included, against a release local-api on a free
# loopback port, authenticated (a fresh user's token; the admin's for admin routes), with the
# rate limits raised for the run. Part of `make test`; needs `cargo build --release` first.
#
# Usage: tests/contract/run.sh [extra schemathesis arguments] | install
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=../../infra/local/venv.sh
source infra/local/venv.sh
TOOLS="$(venv_bin testtools 'schemathesis==4.32.5')"
[[ "${1:-}" == install ]] && exit 0
exec "$TOOLS/python" tests/contract/schemathesis_run.py --tools "$TOOLS" "$@"
