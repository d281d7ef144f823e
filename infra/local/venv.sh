#!/usr/bin/env bash
# Pinned Python tools in private venvs under <repo>/.cache, installed on first use and again only
# when the pins change. Source it, then: venv_bin NAME PIN... prints the venv's bin directory.
#   e.g.  PATH="$(venv_bin schemathesis 'schemathesis==4.32.5'):$PATH"

_VENV_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

venv_bin() {
    local name="$1"
    shift
    local venv="$_VENV_REPO_ROOT/.cache/venv-$name" marker want
    marker="$venv/.stratus-installed"
    want="$(printf '%s\n' "$@")"
    if [[ ! -f "$marker" || "$(cat "$marker")" != "$want" ]]; then
        command -v python3 >/dev/null || { echo "venv: python3 is required" >&2; return 1; }
        echo "venv: installing $* into ${venv#"$_VENV_REPO_ROOT/"} (first use only)" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
        printf '%s\n' "$want" >"$marker"
    fi
    echo "$venv/bin"
}
