#!/usr/bin/env bash
# Pinned Python tools in private venvs under $STRATUS_TOOLS (infra/local/paths.sh: outside the
# clone, shared by every clone on the machine), installed on first use and again only when the
# pins change. Source it, then: venv_bin NAME PIN... prints the venv's bin directory.
#   e.g.  PATH="$(venv_bin testtools 'schemathesis==4.32.5'):$PATH"
# Concurrent first uses (a prefetch in the background, a suite in the foreground) install once:
# the second waits for the first.

_VENV_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=paths.sh
source "$_VENV_REPO_ROOT/infra/local/paths.sh"

_venv_install() {
    local venv="$1" marker="$2" want="$3"
    shift 3
    if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || { echo "venv: python3 is required" >&2; return 1; }
    echo "venv: installing $* into $venv (first use only)" >&2
    local started=$SECONDS
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "$@" >&2
    printf '%s\n' "$want" >"$marker"
    echo "venv: $venv ready in $((SECONDS - started)) s" >&2
}

venv_bin() {
    local name="$1"
    shift
    local venv="$STRATUS_TOOLS/venv-$name" want
    # The marker names the venv's own path and interpreter beside the pins: a venv's scripts
    # carry its absolute path in their #! lines, so one moved or copied elsewhere, or built by
    # another Python, is installed afresh rather than trusted.
    want="$(printf '%s\n' "path $venv" "python $(python3 -c 'import sys; print(sys.version)' 2>/dev/null)" "$@")"
    if [[ ! -f "$venv/.stratus-installed" || "$(cat "$venv/.stratus-installed")" != "$want" ]]; then
        mkdir -p "$STRATUS_TOOLS"
        (
            flock 9
            _venv_install "$venv" "$venv/.stratus-installed" "$want" "$@"
        ) 9>"$STRATUS_TOOLS/.venv-$name.lock" || return 1
    fi
    echo "$venv/bin"
}
