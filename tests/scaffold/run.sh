#!/usr/bin/env bash
# What adding an endpoint costs, shown on a scratch copy of the repository: `make new-function`
# scaffolds one, and the test asserts that
#   - the hand-written files it touched are its own four (code, main, Cargo.toml, description):
#     everything else that changed is written by the generators;
#   - it compiles (local-api, the OpenAPI document's source, with it), and the route table, local-api's registry,
#     template.yaml and the OpenAPI document have it;
#   - the template with it still passes cfn-lint, sam validate --lint and checkov.
# Part of `make test`. The copy builds in the shared target directory (infra/local/paths.sh): only
# the workspace's own crates compile again, in the profile `make test` built.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
NAME=scaffold-probe
ROUTE="GET /scaffold-probe/{item}"
# Written by the generators (make generate, make openapi) or by cargo, never by hand.
GENERATED='^(template\.yaml|Cargo\.lock|crates/routes/src/table\.rs|infra/local-api/src/registry\.rs|infra/local-api/Cargo\.toml|functions/docs/openapi\.json)$'

scratch="$(mktemp -d)"
# The copy claims the shared target directory (infra/local/paths.sh); on the way out the clone
# takes it back, so the crates the new function changed compile again from the clone's sources.
eval "$(bash "$REPO_ROOT/infra/local/paths.sh")"
trap 'python3 "$REPO_ROOT/infra/local/claim_target.py" "$REPO_ROOT" "$CARGO_TARGET_DIR/.stratus-last-clone"; rm -rf "$scratch"' EXIT
# The working tree's tracked files, as a repository of their own: its status is the change.
(cd "$REPO_ROOT" && git ls-files -z --cached | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$scratch"
cd "$scratch"
git init -q && git add -A && git -c user.name=scaffold -c user.email=scaffold@localhost commit -qm base

# The copy builds in the profile the clone was built in: cargo reuses what the clone built for
# every crate the new function does not change (the claim gives the copy's files the clone's
# times), and compiles the function, the route table, fallback and local-api. That build is the
# type check.
make --no-print-directory new-function NAME="$NAME" ROUTE="$ROUTE"

changed="$(git status --porcelain --untracked-files=all | cut -c4-)"
hand_written="$(grep -Ev "$GENERATED" <<<"$changed" || true)"
echo "scaffold: changed files:"
sed 's/^/scaffold:   /' <<<"$changed"
outside="$(grep -v "^functions/$NAME/" <<<"$hand_written" || true)"
if [[ -n "$outside" ]]; then
    echo "scaffold: a new function needed hand edits outside its own directory:" >&2
    echo "$outside" >&2
    exit 1
fi
count="$(grep -c . <<<"$hand_written")"
echo "scaffold: $count hand-written files (its own), $(grep -cE "$GENERATED" <<<"$changed") generated"
[[ "$count" -le 4 ]] || { echo "scaffold: more than 4 hand-written files" >&2; exit 1; }

fail() { echo "scaffold: $*" >&2; exit 1; }
grep -qF 'Route { method: "GET", path: "/scaffold-probe/{item}", function: "scaffold-probe" }' \
    crates/routes/src/table.rs || fail "the route table lacks the route"
grep -qF '"scaffold-probe" => scaffold_probe::build(wiring).await' infra/local-api/src/registry.rs ||
    fail "local-api's registry lacks the function"
grep -qF 'ScaffoldProbeFunction:' template.yaml || fail "template.yaml lacks the function"
grep -qF 'Path: "/scaffold-probe/{item}"' template.yaml || fail "template.yaml lacks the route"
python3 - <<'PY' || fail "the OpenAPI document lacks the operation"
import json
doc = json.load(open("functions/docs/openapi.json"))
assert doc["paths"]["/scaffold-probe/{item}"]["get"]["operationId"] == "scaffold_probe"
PY
make --no-print-directory generate >/dev/null
[[ -z "$(git status --porcelain --untracked-files=all | cut -c4- | grep -vxF -f <(printf '%s\n' "$changed") || true)" ]] ||
    fail "make generate after make new-function changed something more"
STRATUS_DEPLOYED_BASELINE= bash infra/sam/tools.sh lint
echo "scaffold: a new endpoint took $count hand-written files; it type-checks, is routed, registered, in the template and the OpenAPI document, and the template lints"
