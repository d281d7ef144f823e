#!/usr/bin/env bash
# The deployment tool chain, pinned, in private venvs under $STRATUS_TOOLS (infra/local/paths.sh): cfn-lint and the AWS
# SAM CLI (for `sam validate --lint` and `sam build`), cargo-lambda with the zig it links with
# (the arm64 builds `sam build` runs; zig is pinned too, as a newer one has broken aws-lc-sys's
# cross builds), and checkov (template policy checks, in a venv of its own: it pins much).
#
# Usage: infra/sam/tools.sh install | lint | build | path
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PINS=("aws-sam-cli==1.170.0" "cfn-lint==1.58.0" "cargo-lambda==1.9.2" "ziglang==0.17.1")
CHECKOV_PINS=("checkov==3.3.30")
# shellcheck source=../local/venv.sh
source "$REPO_ROOT/infra/local/venv.sh"

export SAM_CLI_TELEMETRY=0
# The commit whose transformed template this one must equal (see lint); move it forward when a
# change means to alter the deployed resources, and say so in the commit. Empty: no comparison
# (tests/scaffold adds a function on purpose).
DEPLOYED_BASELINE="${STRATUS_DEPLOYED_BASELINE-0a5c335}"

install() {
    VENV="$(dirname "$(venv_bin sam "${PINS[@]}")")"
    CHECKOV="$(venv_bin checkov "${CHECKOV_PINS[@]}")/checkov"
}

lint() {
    install
    cd "$REPO_ROOT"
    # Warnings count as failures: a template that lints clean stays clean.
    "$VENV/bin/cfn-lint" --format parseable template.yaml infra/edge/waf.yaml
    "$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1
    "$VENV/bin/python" infra/sam/check_env_json.py template.yaml env.json
    "$VENV/bin/python" infra/sam/check_guided.py template.yaml samconfig.toml
    # The per-function blocks became generated (functions/*/function.toml) at this commit's child:
    # until a change means to alter what is deployed, the transformed template must stay the one
    # of the last hand-written template, so that a deployed stack updates in place.
    if [[ -n "$DEPLOYED_BASELINE" ]]; then
        "$VENV/bin/python" infra/sam/transformed.py --compare "$DEPLOYED_BASELINE" template.yaml
    fi
    checkov
    echo "tools: the templates pass cfn-lint, sam validate --lint and checkov; env.json fits template.yaml; a guided deploy needs no answer"
}

# Every check passes or is skipped in the resource's Metadata with its reason. checkov exits 0
# on a template it cannot parse, so the summary is read too.
checkov() {
    local report
    report="$(mktemp)"
    "$CHECKOV" --config-file infra/sam/checkov.yaml -f template.yaml -f infra/edge/waf.yaml --framework cloudformation --skip-download \
        --quiet --compact -o cli -o json --output-file-path console,"$report" >/dev/null || {
        "$CHECKOV" --config-file infra/sam/checkov.yaml -f template.yaml -f infra/edge/waf.yaml --framework cloudformation --skip-download --quiet --compact >&2 || true
        rm -f "$report"
        return 1
    }
    "$VENV/bin/python" - "$report" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
summary = (report if isinstance(report, dict) else report[0])["summary"]
print(f"tools: checkov: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped with a reason, {summary['resource_count']} resources")
sys.exit(0 if summary["failed"] == 0 and summary["parsing_errors"] == 0 and summary["resource_count"] > 0 else 1)
PY
    local status=$?
    rm -f "$report"
    return "$status"
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
