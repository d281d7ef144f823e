# Stratus: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PORT ?= 3000
CARGO ?= cargo
ENGINES := infra/local/engines.sh
SAM_TOOLS := infra/sam/tools.sh
# The target directory and the installed tools are outside the clone (infra/local/paths.sh).
export CARGO_TARGET_DIR := $(shell bash infra/local/paths.sh | sed -n 's/^CARGO_TARGET_DIR=//p')
export STRATUS_TOOLS := $(shell bash infra/local/paths.sh | sed -n 's/^STRATUS_TOOLS=//p')

.PHONY: generate new-function test-scaffold test-arm64 smoke test-smoke test-docs tools diagram openapi run run-aws test test-rust test-contract test-jose test-browser test-oidc lint lint-rust lint-template sam-build fmt engines-start engines-stop sam-local-engines sam-local-engines-stop bench tune soak clean

## API on http://127.0.0.1:$(PORT), embedded in-memory backend; needs only Rust.
run:
	$(CARGO) run --locked -p local-api -- --port $(PORT)

## API on the local DynamoDB and SQS engines (installed and started on first use; Ctrl-C stops all).
run-aws:
	bash $(ENGINES) run -- $(CARGO) run --locked -p local-api -- --port $(PORT) --backend aws

## Whole suite: unit, contract and end-to-end tests on both backends, the release binaries under
## an emulated Lambda Runtime API, the template checks and an arm64 `sam build` of every function.
## Each phase runs as phase/<target>, which says how long it took (CI prints the table). The
## scaffold test comes last: the crates its scratch copy changed (the route table, local-api) are
## then rebuilt by the next build that needs them, not by the phases after it.
test: $(addprefix phase/,test-rust test-contract test-jose test-browser test-oidc test-smoke test-docs lint-template sam-build test-arm64 test-scaffold)

# `make phase/X` is `make X`, timed: the line goes to stderr and, when PHASE_LOG names a file, to it.
phase/%:
	@started=$$SECONDS; status=0; $(MAKE) --no-print-directory $* || status=$$?; \
	printf '%s\t%d\n' "$*" "$$((SECONDS - started))" | tee -a "$${PHASE_LOG:-/dev/null}" | \
	    awk -F'\t' '{ printf "phase %s took %d s\n", $$1, $$2 }' >&2; \
	exit $$status

# The suite runs in the release profile: the release binaries it drives and the test binary then
# share one x86_64 build of the dependencies (the arm64 one is sam build's).
# The cold-path test makes a certificate authority with the openssl command (tests/src/wire.rs).
test-rust:
	$(CARGO) build --release --workspace --bins --locked
	bash infra/local/system-packages.sh openssl=/usr/bin/openssl
	bash $(ENGINES) run -- $(CARGO) test --release --locked $$(bash infra/local/unit-tested.sh) --lib --bins --test suite

## The API against its OpenAPI document: schemathesis, every check and phase (needs test-rust's build).
test-contract:
	bash tests/contract/run.sh

## Access tokens verified by PyJWT from the served JWK Set, across a key rotation (needs test-rust's build).
test-jose:
	bash tests/jose/run.sh

## The /docs page in headless chromium (needs test-rust's build).
test-browser:
	bash tests/browser/run.sh

## The OpenID Provider driven by clients nobody here wrote: openid-client (a certified relying
## party) through discovery, the code flow with PKCE, userinfo, refresh, revocation,
## introspection and client credentials; Debian's chromium through the hosted login page (TOTP,
## consent, logout); and the negative suite (needs test-rust's build).
test-oidc:
	bash tests/oidc/run.sh

## Everything the suites would install on first use (engines, pinned Python and npm tools, Debian
## packages), installed now. CI runs it in the background while the code compiles.
tools:
	bash $(ENGINES) install
	bash $(SAM_TOOLS) install
	bash tests/contract/run.sh install
	bash tests/jose/run.sh install
	bash tests/browser/run.sh install
	bash tests/oidc/run.sh install
	bash infra/local/system-packages.sh qemu-user=/usr/bin/qemu-aarch64 libc6-arm64-cross=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 openssl=/usr/bin/openssl

## The smoke test against a release local-api (needs test-rust's build).
test-smoke:
	python3 tests/smoke/run_local.py

## The README's tour and every `sh offline` block in docs/, run against a release local-api and
## checked against the answers the pages state (needs test-rust's build).
test-docs:
	python3 tests/docs/run_commands.py

## A new endpoint scaffolded in a scratch copy: only its own files are hand-written, and what the
## generators write holds it (type-checks, routed, registered, templated, documented, linted).
test-scaffold:
	bash tests/scaffold/run.sh

## The public flow against a running stack: make smoke URL=https://<distribution>.cloudfront.net
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://..." >&2; exit 2; }
	python3 tests/smoke/smoke.py "$(URL)"

lint: lint-rust lint-template

lint-rust:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets --locked -- -D warnings

lint-template:
	bash $(SAM_TOOLS) lint

sam-build:
	bash $(SAM_TOOLS) build

## sam build's arm64 bootstraps, each run under qemu-user through the Runtime API emulator.
test-arm64:
	bash infra/local/system-packages.sh qemu-user=/usr/bin/qemu-aarch64 libc6-arm64-cross=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
	bash $(ENGINES) run -- $(CARGO) test --release --locked --test suite arm64 -- --ignored --nocapture

## Cold start, warm latency and memory of every function beside a hello-world runtime, local-api
## under load, costs: writes BENCHMARKS.md (minutes; not part of `make test`).
bench:
	bash infra/bench/run.sh

## Each function's memory size chosen by measurement, offline (as root; about 20 minutes; not part
## of `make test`): its scenario at every Lambda size under that size's CPU share and memory limit
## (cgroups), into infra/bench/tuning.json, then function.toml's memory and template.yaml from the
## recommendations. ONLY=a,b measures those functions and keeps the others' rows (infra/bench/README.md).
TUNE_COLD ?= 3
TUNE_WARM ?= 10
tune:
	python3 infra/bench/tune.py preflight
	$(CARGO) build --release --workspace --bins --examples --locked \
	    --config 'profile.release.package.stratus-tests.opt-level=3'
	bash $(ENGINES) run -- python3 infra/bench/tune.py run --bench "$(CARGO_TARGET_DIR)/release/examples/lambda_bench" \
	    --cold $(TUNE_COLD) --warm $(TUNE_WARM) $(if $(ONLY),--only $(ONLY))
	python3 infra/bench/tune.py apply
	$(MAKE) --no-print-directory generate

## A bounded soak (not part of CI): the release binaries, several sandboxes per function, held at
## a fixed rate on DynamoDB Local; ends with its table (docs/soak.md, which RELIABILITY.md shows). MINUTES, RATE.
## One build with the workspace's features: `-p stratus-tests` alone resolves others and compiles
## every crate a second time.
MINUTES ?= 10
RATE ?= 20
soak:
	$(CARGO) build --release --workspace --bins --example soak --locked
	bash $(ENGINES) run -- "$(CARGO_TARGET_DIR)/release/examples/soak" --minutes $(MINUTES) --rate $(RATE) --out docs/soak.md
	"$(CARGO_TARGET_DIR)/release/stratus-reliability"

fmt:
	$(CARGO) fmt --all

## Redraws the architecture diagram in docs/architecture.md from template.yaml (a test fails when they differ).
diagram:
	$(CARGO) run --release --locked -q -p stratus-tests --bin stratus-diagram

## Rewrites what repeats the functions' descriptions (functions/*/function.toml): template.yaml's
## function blocks, the route table, local-api's registry (a test fails when one is stale).
generate:
	$(CARGO) run --release --locked -q -p stratus-gen

## Scaffolds a function: make new-function NAME=audit-log ROUTE="GET /audit-log". Writes
## functions/NAME (handler, main, Cargo.toml, function.toml), then what `make generate` and
## `make openapi` write.
new-function:
	@test -n "$(NAME)" -a -n "$(ROUTE)" || { echo 'usage: make new-function NAME=<name> ROUTE="METHOD /path"' >&2; exit 2; }
	$(CARGO) run --release -q -p stratus-gen -- new "$(NAME)" "$(ROUTE)"
	$(MAKE) --no-print-directory openapi LOCKED=
	@echo "new-function: write functions/$(NAME)/src/lib.rs and its description, then make generate openapi"

## Rewrites functions/docs/openapi.json from the functions' code (a test fails when they differ).
# Release, as every build of `make test`: the dependencies are built once, in one profile. A new
# function's first run (make new-function) adds it to Cargo.lock, hence LOCKED=.
LOCKED ?= --locked
openapi:
	$(CARGO) run --release $(LOCKED) $(CARGO_FLAGS) -q -p local-api --bin stratus-openapi > functions/docs/openapi.json.new
	mv functions/docs/openapi.json.new functions/docs/openapi.json

SAM_LOCAL_STATE := $(CURDIR)/.cache/engines/sam-local

## For `sam local start-api --env-vars env.json`: engines on 127.0.0.1:8000 (DynamoDB) and :5000
## (SQS, KMS) holding the tables, queue and signing key env.json names.
sam-local-engines:
	STRATUS_ENGINES_STATE=$(SAM_LOCAL_STATE) STRATUS_DDB_PORT=8000 STRATUS_SQS_PORT=5000 bash $(ENGINES) start
	source $(SAM_LOCAL_STATE)/env && $(CARGO) run --locked -q -p stratus-admin -- provision-local env.json

sam-local-engines-stop:
	STRATUS_ENGINES_STATE=$(SAM_LOCAL_STATE) bash $(ENGINES) stop

engines-start:
	bash $(ENGINES) start

engines-stop:
	bash $(ENGINES) stop

clean:
	$(CARGO) clean
	rm -rf .aws-sam
