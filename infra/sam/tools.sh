#!/usr/bin/env bash
# The deployment tool chain, pinned, in a private venv under <repo>/.cache/venv-sam:
# cfn-lint and the AWS SAM CLI (for `sam validate --lint` and `sam build`), and cargo-lambda
# (with zig) for the arm64 builds that `sam build` runs.
#
# Usage: infra/sam/tools.sh install | lint | build | path
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PINS=("aws-sam-cli==1.170.0" "cfn-lint==1.58.0" "cargo-lambda==1.9.2")
# shellcheck source=../local/venv.sh
source "$REPO_ROOT/infra/local/venv.sh"

export SAM_CLI_TELEMETRY=0

install() {
    VENV="$(dirname "$(venv_bin sam "${PINS[@]}")")"
}

lint() {
    install
    cd "$REPO_ROOT"
    # Warnings count as failures: a template that lints clean stays clean.
    "$VENV/bin/cfn-lint" --format parseable template.yaml
    "$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1
    "$VENV/bin/python" infra/sam/check_env_json.py template.yaml env.json
    echo "tools: template.yaml passes cfn-lint and sam validate --lint; env.json fits it"
}

# sam build as a user runs it: cargo lambda cross-compiles every function for arm64 with zig.
# Then every function must have an aarch64 ELF `bootstrap`.
build() {
    install
    cd "$REPO_ROOT"
    export PATH="$VENV/bin:$PATH"
    local started=$SECONDS
    sam build --no-cached --template template.yaml --build-dir .aws-sam/build
    echo "tools: sam build took $((SECONDS - started)) s"
    local function failed=0 functions
    functions="$(sed -n 's/^  \([A-Za-z][A-Za-z]*Function\):$/\1/p' template.yaml)"
    if [[ "$(wc -w <<<"$functions")" != "$(grep -c 'Type: AWS::Serverless::Function$' template.yaml)" ]]; then
        echo "tools: could not tell every function's logical id from template.yaml" >&2
        return 1
    fi
    for function in $functions; do
        local bootstrap=".aws-sam/build/$function/bootstrap"
        if [[ ! -f "$bootstrap" ]]; then
            echo "tools: $function has no bootstrap" >&2
            failed=1
        # ELF magic, and e_machine (offset 18) 183 = EM_AARCH64.
        elif [[ "$(head -c 4 "$bootstrap" | od -An -c | tr -d ' ')" != '177ELF' ||
                "$(od -An -t u2 -j 18 -N 2 "$bootstrap" | tr -d ' ')" != 183 ]]; then
            echo "tools: $function/bootstrap is not an arm64 ELF executable" >&2
            failed=1
        else
            printf 'tools: %-24s %8d bytes  arm64 bootstrap\n' "$function" "$(stat -c %s "$bootstrap")"
        fi
    done
    return "$failed"
}

case "${1:-}" in
    install) install ;;
    lint) lint ;;
    build) build ;;
    path) install && echo "$VENV/bin" ;;
    *) echo "usage: infra/sam/tools.sh install|lint|build|path" >&2; exit 2 ;;
esac
