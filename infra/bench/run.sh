#!/usr/bin/env bash
# `make bench`: measures every function's release binary as Lambda runs it, local-api under load,
# and writes BENCHMARKS.md. Not part of `make test`: it takes minutes and its numbers depend on
# the machine. Needs what `make test` needs, plus wrk (installed from Debian's packages if absent).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
OUT="${STRATUS_BENCH_OUT:-target/bench}"
COLD="${STRATUS_BENCH_COLD:-10}"
WARM="${STRATUS_BENCH_WARM:-50}"
mkdir -p "$OUT"

echo "bench: release build (x86_64)" >&2
cargo build --release --workspace --bins --examples --locked

echo "bench: arm64 build with cargo lambda, for the sizes Lambda gets" >&2
PATH="$(bash infra/sam/tools.sh path):$PATH" cargo lambda build --release --arm64 --workspace --bins --locked

echo "bench: every function under the Runtime API emulator" >&2
bash infra/local/engines.sh run -- \
    target/release/examples/lambda_bench --out "$OUT/lambda.json" --cold "$COLD" --warm "$WARM"

echo "bench: local-api under load" >&2
python3 infra/bench/bench.py load --local-api target/release/local-api --out "$OUT/load.json" --scratch "$OUT"

python3 infra/bench/bench.py report --lambda "$OUT/lambda.json" --load "$OUT/load.json" \
    --arm64 target/lambda --notes infra/bench/NOTES.md --out BENCHMARKS.md
