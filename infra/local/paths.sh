#!/usr/bin/env bash
# Where builds and installed tools live: outside the clone, in one place per machine that every
# clone (CI's fresh ones included) shares, so a new clone compiles and installs only what changed.
# Source it (a no-op for what the environment already sets), or run it to print the two paths.
# A cold run: STRATUS_CACHE=$(mktemp -d) make test.
#   CARGO_TARGET_DIR  cargo's target directory: the x86_64 builds and `sam build`'s arm64 one
#   STRATUS_TOOLS     the pinned Python venvs and DynamoDB Local (what `make tools` installs)
# Per-run state (engines' data, logs, reports) stays in the clone, under .cache/ and target/.
#
# One clone at a time. Cargo names a workspace crate's outputs by its path inside the workspace,
# not by the clone, and judges them fresh when they are newer than *this* clone's files. Outputs
# another clone built would pass for this clone's own. So the target directory remembers which
# clone claimed it last, and the first build of another clone claims it (claim_target.py): every
# file the same as in that clone takes that file's times, so cargo judges it as it did there, and
# every other file is marked changed. A fresh clone of the commit just built compiles nothing.
# Two clones building at the same time need a STRATUS_CACHE (or CARGO_TARGET_DIR) each.
STRATUS_CACHE="${STRATUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stratus}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STRATUS_CACHE/target}"
export STRATUS_TOOLS="${STRATUS_TOOLS:-$STRATUS_CACHE/tools}"

_stratus_claim_target() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
    [[ "$(cat "$CARGO_TARGET_DIR/.stratus-last-clone" 2>/dev/null)" == "$root" ]] && return 0
    python3 "$root/infra/local/claim_target.py" "$root" "$CARGO_TARGET_DIR/.stratus-last-clone"
}
_stratus_claim_target

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    printf 'CARGO_TARGET_DIR=%s\nSTRATUS_TOOLS=%s\n' "$CARGO_TARGET_DIR" "$STRATUS_TOOLS"
fi
