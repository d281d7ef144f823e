#!/usr/bin/env bash
# The /docs page in headless chromium (Debian's package, installed on first use when run as
# root) against a release local-api on a free loopback port. Part of `make test`.
# Usage: tests/browser/run.sh [install]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
bash infra/local/browser-suite.sh tests/browser
[[ "${1:-}" == install ]] && exit 0
exec python3 tests/browser/run_docs.py
