#!/usr/bin/env bash
# What a browser suite under tests/ needs before it runs: Debian's chromium (installed on first use
# when run as root), Node.js, and the suite's own pinned npm packages, installed again only when its
# package-lock.json changes. Concurrent runs wait for one another's install.
# Usage: infra/local/browser-suite.sh tests/SUITE
set -euo pipefail
suite="${1:?usage: infra/local/browser-suite.sh tests/SUITE}"
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
bash infra/local/system-packages.sh chromium=/usr/bin/chromium
command -v node >/dev/null || { echo "$suite: Node.js 20+ is required" >&2; exit 1; }
mkdir -p .cache
(
    flock 9
    if ! cmp -s "$suite/package-lock.json" "$suite/node_modules/.stratus-lock"; then
        (cd "$suite" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
        cp "$suite/package-lock.json" "$suite/node_modules/.stratus-lock"
    fi
) 9>".cache/.$(basename "$suite")-install.lock"
