#!/usr/bin/env bash
# `make bench`: measures every function's release binary as Lambda runs it, local-api under load
# beside a bare axum server, and writes BENCHMARKS.md and the chart it shows, BENCHMARKS.svg. Not part of `make test`: it takes minutes and its numbers depend on
# the machine. Needs what `make test` needs, plus wrk (installed from Debian's packages if absent).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=../local/paths.sh
source infra/local/paths.sh
BUILT="$CARGO_TARGET_DIR/release"
OUT="${STRATUS_BENCH_OUT:-target/bench}"
COLD="${STRATUS_BENCH_COLD:-10}"
WARM="${STRATUS_BENCH_WARM:-50}"
mkdir -p "$OUT"

echo "bench: release build (x86_64)" >&2
# The harness (stratus-tests: the Runtime API emulator, the gateway) optimised as what it times:
# make test builds it unoptimised (Cargo.toml), which would add its own overhead to the figures.
cargo build --release --workspace --bins --examples --locked \
    --config 'profile.release.package.stratus-tests.opt-level=3'

echo "bench: arm64 build with cargo lambda, for the sizes Lambda gets" >&2
PATH="$(bash infra/sam/tools.sh path):$PATH" cargo lambda build --release --arm64 --workspace --bins --locked

echo "bench: aws-lc's first random draw, without and with CPU jitter" >&2
# The workspace builds aws-lc without it (.cargo/config.toml); a variable set in the shell wins
# over [env], so the other build needs only its own target directory.
AWS_LC_SYS_NO_JITTER_ENTROPY=0 cargo build --release -p hello-runtime --example first_random --locked \
    --target-dir target/bench/jitter-on
python3 - "$OUT/jitter.json" \
    "$("$BUILT/examples/first_random" 30)" \
    "$(target/bench/jitter-on/release/examples/first_random 30)" <<'PY'
import json, sys
out, no_jitter, jitter = sys.argv[1:]
json.dump({"no_jitter": json.loads(no_jitter), "jitter": json.loads(jitter)}, open(out, "w"), indent=2)
PY

# Lambda's provided.al2023 image carries a CA bundle and no directory of hashed certificate links:
# the default measurement reproduces that, whatever this machine's layout is.
BUNDLE=""
for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -f "$candidate" ]; then BUNDLE="$candidate"; break; fi
done
[ -n "$BUNDLE" ] || { echo "bench: no CA bundle found on this machine" >&2; exit 1; }
# Absolute: the functions run in a directory of their own, where a relative path names nothing.
CERT_DIR="$(cd "$OUT" && pwd)/al2023-cert-dir"
rm -rf "$CERT_DIR" && mkdir -p "$CERT_DIR"

AL2023=(--var "SSL_CERT_FILE=$BUNDLE" --var "SSL_CERT_DIR=$CERT_DIR")
CA_DIR="$(cd "$OUT" && pwd)/ca"
echo "bench: every function under the Runtime API emulator, the engines behind TLS (AL2023 trust store layout)" >&2
bash infra/local/engines.sh run -- \
    "$BUILT/examples/lambda_bench" --out "$OUT/lambda.json" --cold "$COLD" --warm "$WARM" "${AL2023[@]}" --tls "$CA_DIR"

echo "bench: every function's cold request again, the engines on plain HTTP" >&2
bash infra/local/engines.sh run -- \
    "$BUILT/examples/lambda_bench" --out "$OUT/lambda-plain.json" --cold "$COLD" --warm 1 "${AL2023[@]}"

DISK=()
if [ "$(id -u)" = 0 ]; then
    echo "bench: every function's cold request again, from disk (page cache dropped before each start)" >&2
    bash infra/local/engines.sh run -- \
        "$BUILT/examples/lambda_bench" --out "$OUT/lambda-disk.json" --cold "$COLD" --warm 1 "${AL2023[@]}" \
        --tls "$CA_DIR" --page-cache drop
    DISK=(--disk "$OUT/lambda-disk.json")
else
    echo "bench: not root, so no run from disk (dropping the page cache needs root)" >&2
fi

echo "bench: local-api under load, beside a bare axum server" >&2
python3 infra/bench/bench.py load --local-api "$BUILT/local-api" \
    --axum-baseline "$BUILT/hello-axum" --out "$OUT/load.json" --scratch "$OUT"

python3 infra/bench/bench.py report --lambda "$OUT/lambda.json" --load "$OUT/load.json" \
    --plain "$OUT/lambda-plain.json" "${DISK[@]}" --jitter "$OUT/jitter.json" \
    --arm64 "$CARGO_TARGET_DIR/lambda" --notes infra/bench/NOTES.md --out BENCHMARKS.md --chart BENCHMARKS.svg \
    --tuning infra/bench/tuning.json

# The capacity and cost model (docs/scaling.md) from this run's figures: `make test` fails while
# the page is stale, so it is rendered here with them.
python3 infra/bench/scaling.py extract --lambda "$OUT/lambda.json" --out infra/bench/figures.json
python3 infra/bench/scaling.py render
