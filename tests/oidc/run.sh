#!/usr/bin/env bash
# Stratus as an OAuth 2.1 / OpenID Connect provider, seen from outside: openid-client (a certified
# relying party) through discovery, the code flow with PKCE, refresh, revocation, introspection and
# client credentials; Debian's chromium through the hosted login, TOTP, consent and logout pages;
# and a stdlib-Python negative suite. All against one release local-api on a free loopback port.
# Part of `make test`; needs `cargo build --release` first.
# Usage: tests/oidc/run.sh [install]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
bash infra/local/browser-suite.sh tests/oidc
[[ "${1:-}" == install ]] && exit 0
exec python3 tests/oidc/run_oidc.py
