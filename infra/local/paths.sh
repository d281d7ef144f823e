#!/usr/bin/env bash
# Where builds and installed tools live: outside the clone, in one place per machine that every
# clone (CI's fresh ones included) shares, so a new clone compiles and installs only what changed.
# Source it (a no-op for what the environment already sets), or run it to print the two paths.
# A cold run: STRATUS_CACHE=$(mktemp -d) make test.
#   CARGO_TARGET_DIR  cargo's target directory: the x86_64 builds and `sam build`'s arm64 one
#   STRATUS_TOOLS     the pinned Python venvs and DynamoDB Local (what `make tools` installs)
# Per-run state (engines' data, logs, reports) stays in the clone, under .cache/ and target/.
STRATUS_CACHE="${STRATUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stratus}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$STRATUS_CACHE/target}"
export STRATUS_TOOLS="${STRATUS_TOOLS:-$STRATUS_CACHE/tools}"
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    printf 'CARGO_TARGET_DIR=%s\nSTRATUS_TOOLS=%s\n' "$CARGO_TARGET_DIR" "$STRATUS_TOOLS"
fi
