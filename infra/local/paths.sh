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
# another clone built after this clone's last edit would pass for this clone's own. So the target
# directory remembers which clone built in it last, and the first build of another clone marks
# every file of that clone changed: its workspace crates are rebuilt from its own sources, while
# the dependencies (most of the build) stay shared. A tree that is a copy of the clone that built
# last, file times kept (the scaffold test's scratch copy), says so with STRATUS_SAME_SOURCES=1.
# Two clones building at the same time need a STRATUS_CACHE (or CARGO_TARGET_DIR) each.
STRATUS_CACHE="${STRATUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stratus}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STRATUS_CACHE/target}"
export STRATUS_TOOLS="${STRATUS_TOOLS:-$STRATUS_CACHE/tools}"

_stratus_claim_target() {
    local root stamp
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
    stamp="$CARGO_TARGET_DIR/.stratus-last-clone"
    [[ "${STRATUS_SAME_SOURCES:-}" == 1 || "$(cat "$stamp" 2>/dev/null)" == "$root" ]] && return 0
    mkdir -p "$CARGO_TARGET_DIR"
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$root" ls-files -z --cached --others --exclude-standard
    else
        (cd "$root" && find . -path ./target -prune -o -path ./.cache -prune -o -type f -print0)
    fi | (cd "$root" && xargs -0 -r touch -c --)
    printf '%s\n' "$root" >"$stamp"
}
_stratus_claim_target

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    printf 'CARGO_TARGET_DIR=%s\nSTRATUS_TOOLS=%s\n' "$CARGO_TARGET_DIR" "$STRATUS_TOOLS"
fi
