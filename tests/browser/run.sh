#!/usr/bin/env bash
# The /docs page in headless chromium (Debian's package, installed on first use when run as
# root) against a release local-api on a free loopback port. Part of `make test`.
# Usage: tests/browser/run.sh [install]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
bash infra/local/system-packages.sh chromium=/usr/bin/chromium
command -v node >/dev/null || { echo "browser: Node.js 20+ is required" >&2; exit 1; }
mkdir -p .cache
(
    flock 9
    if ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.stratus-lock; then
        (cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
        cp tests/browser/package-lock.json tests/browser/node_modules/.stratus-lock
    fi
) 9>.cache/.browser-install.lock
[[ "${1:-}" == install ]] && exit 0
exec python3 tests/browser/run_docs.py
