#!/usr/bin/env bash
# Debian packages a suite needs that no language registry carries (chromium for the docs page's
# browser test, qemu-user for running the arm64 bootstraps). Installs the missing ones when run as
# root; otherwise stops and prints the exact command to run.
#
# Usage: infra/local/system-packages.sh PACKAGE[=CHECK_PATH] ...
#   e.g. infra/local/system-packages.sh chromium=/usr/bin/chromium
set -euo pipefail

missing=()
for spec in "$@"; do
    package="${spec%%=*}"
    check="${spec#*=}"
    [[ "$check" == "$spec" ]] && check=""
    if [[ -n "$check" && -e "$check" ]] || { [[ -z "$check" ]] && dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; }; then
        continue
    fi
    missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

command="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ "$(id -u)" != 0 ]]; then
    echo "system-packages: missing Debian packages: ${missing[*]}" >&2
    echo "system-packages: install them with:  sudo apt-get update && sudo $command" >&2
    exit 1
fi
echo "system-packages: installing ${missing[*]} (first use only)" >&2
export DEBIAN_FRONTEND=noninteractive
# Another install (a prefetch in the background) may hold dpkg's lock: wait for it.
apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
$command -o DPkg::Lock::Timeout=600 -qq >&2
