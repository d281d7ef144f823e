#!/usr/bin/env bash
# Stratus access tokens checked by an independent JOSE implementation (PyJWT with cryptography,
# pinned in $STRATUS_TOOLS/venv-jose) from the JWK Set local-api serves, across a signing-key rotation;
# then TOTP enrolment and the login's second step checked by an independent RFC 6238
# implementation (pyotp, pinned there too). Part of `make test`; needs `cargo build --release` first.
# Usage: tests/jose/run.sh [install]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=../../infra/local/venv.sh
source infra/local/venv.sh
TOOLS="$(venv_bin jose 'pyjwt==2.10.1' 'cryptography==46.0.3' 'pyotp==2.9.0')"
[[ "${1:-}" == install ]] && exit 0
"$TOOLS/python" tests/jose/verify_tokens.py
exec "$TOOLS/python" tests/jose/totp_flow.py
