#!/usr/bin/env bash
# The deployment tool chain, pinned, in a private venv under <repo>/.cache/venv-sam:
# cfn-lint and the AWS SAM CLI (for `sam validate --lint` and `sam build`), and cargo-lambda
# (with zig) for the arm64 builds that `sam build` runs.
#
# Usage: infra/sam/tools.sh install | lint | path
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$REPO_ROOT/.cache/venv-sam"
PINS=("aws-sam-cli==1.170.0" "cfn-lint==1.58.0" "cargo-lambda==1.9.2")
MARKER="$VENV/.stratus-installed"

export SAM_CLI_TELEMETRY=0

install() {
    local want
    want="$(printf '%s\n' "${PINS[@]}")"
    if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || { echo "tools: python3 (3.9+) is required" >&2; exit 1; }
    echo "tools: installing ${PINS[*]} into $VENV (first use only)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
    printf '%s\n' "$want" >"$MARKER"
}

lint() {
    install
    cd "$REPO_ROOT"
    # Warnings count as failures: a template that lints clean stays clean.
    "$VENV/bin/cfn-lint" --format parseable template.yaml
    "$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1
    echo "tools: template.yaml passes cfn-lint and sam validate --lint"
}

case "${1:-}" in
    install) install ;;
    lint) lint ;;
    path) install && echo "$VENV/bin" ;;
    *) echo "usage: infra/sam/tools.sh install|lint|path" >&2; exit 2 ;;
esac
