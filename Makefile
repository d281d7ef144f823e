# Stratus: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PORT ?= 3000
CARGO ?= cargo
ENGINES := infra/local/engines.sh
SAM_TOOLS := infra/sam/tools.sh

.PHONY: run run-aws test test-rust lint lint-rust lint-template fmt engines-start engines-stop build-lambda sam-build bench clean

## API on http://127.0.0.1:$(PORT), embedded in-memory backend; needs only Rust.
run:
	$(CARGO) run --locked -p local-api -- --port $(PORT)

## API on the local DynamoDB and SQS engines (installed and started on first use; Ctrl-C stops all).
run-aws:
	bash $(ENGINES) run -- $(CARGO) run --locked -p local-api -- --port $(PORT) --backend aws

## Whole suite: unit, contract and end-to-end tests on both backends, plus the template checks.
test: test-rust lint-template

test-rust:
	bash $(ENGINES) run -- $(CARGO) test --workspace --locked

lint: lint-rust lint-template

lint-rust:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

lint-template:
	bash $(SAM_TOOLS) lint

fmt:
	$(CARGO) fmt --all

engines-start:
	bash $(ENGINES) start

engines-stop:
	bash $(ENGINES) stop

clean:
	$(CARGO) clean
	rm -rf .aws-sam
