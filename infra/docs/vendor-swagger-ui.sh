#!/usr/bin/env bash
# Vendors the Swagger UI files the docs function embeds, from npm's swagger-ui-dist, pinned by
# version and by the registry's own integrity hash. Run it to move to another version (change the
# two pins), then commit what it writes; builds never download anything.
#
# Usage: infra/docs/vendor-swagger-ui.sh
set -euo pipefail

VERSION="5.35.0"
INTEGRITY="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png favicon-16x16.png LICENSE NOTICE)

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="$REPO_ROOT/functions/docs/assets/swagger-ui"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

cd "$SCRATCH"
npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null
TARBALL="swagger-ui-dist-$VERSION.tgz"
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [[ "$ACTUAL" != "$INTEGRITY" ]]; then
    echo "vendor-swagger-ui: $TARBALL has integrity $ACTUAL, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$TARBALL"

rm -rf "$DEST"
mkdir -p "$DEST"
for file in "${FILES[@]}"; do
    if [[ -f "package/$file" ]]; then
        cp "package/$file" "$DEST/$file"
    fi
done
{
    echo "# swagger-ui-dist $VERSION from the npm registry, $INTEGRITY"
    (cd "$DEST" && sha256sum -- $(ls | grep -v '^SHA256SUMS$' | sort))
} >"$DEST/SHA256SUMS"
echo "vendor-swagger-ui: swagger-ui-dist $VERSION in ${DEST#"$REPO_ROOT/"}" >&2
