#!/usr/bin/env bash
# Prints `-p NAME` for each workspace package with unit tests (a `#[test]` or `#[tokio::test]`
# under the directory of its library or binaries). `cargo test --lib --bins` builds and links a
# test binary for every library and binary it is given, with every dependency in it; most
# function crates have no unit test to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, os, re, sys
test = re.compile(r"#\[(tokio::)?test")
for package in json.load(sys.stdin)["packages"]:
    dirs = {os.path.dirname(t["src_path"]) for t in package["targets"] if {"lib", "bin"} & set(t["kind"])}
    if any(test.search(open(os.path.join(d, f), encoding="utf-8").read())
           for src in dirs for d, _, files in os.walk(src) for f in files if f.endswith(".rs")):
        print("-p", package["name"])
'
