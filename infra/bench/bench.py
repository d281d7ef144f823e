#!/usr/bin/env python3
"""The parts of `make bench` around the Lambda benchmark (standard library only).

    bench.py load   --local-api target/release/local-api --out target/bench/load.json
    bench.py report --lambda target/bench/lambda.json --load target/bench/load.json \\
                    --arm64 target/lambda --out BENCHMARKS.md

`load` starts local-api (embedded backend, rate limits out of the way) on a free loopback port,
drives each route with wrk and the login and task flows with flows.py, and stops it by PID.
`report` turns the measurements into BENCHMARKS.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time

from flows import PASSWORD, call, percentile

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_THREADS, WRK_CONNECTIONS, WRK_SECONDS = 2, 32, 10
FOO_DIGEST = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

# us-east-1 list prices, 2026-11 (also in README.md "What it costs").
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_per_million": 0.20,
    "http_api_per_million": 1.00,
    "dynamodb_write_per_million": 0.625,
    "dynamodb_read_per_million": 0.125,
    "sqs_per_million": 0.40,
    "kms_sign_per_million": 15.00,
}
# What one successful request costs besides Lambda and API Gateway, read off the code path
# (approximate): (DynamoDB write units, read units, SQS requests, KMS Sign calls). Items are under
# 1 KB, reads are strongly consistent (one unit), a transaction costs two units per item. The
# worker's SQS share is the event source mapping's receives and batch deletes, per message.
USAGE = {
    "create-message": (1, 0, 0, 0),
    "get-message": (0, 1, 0, 0),
    "register": (5, 0, 0, 0),
    "login": (4, 1, 0, 1),
    "refresh-token": (4, 2, 0, 1),
    "logout": (2, 1, 0, 0),
    "me": (0, 1, 0, 0),
    "list-users": (0, 1, 0, 0),
    "get-user": (0, 1, 0, 0),
    "add": (2, 0, 1, 0),
    "result": (0, 1, 0, 0),
    "worker": (2, 1, 0.2, 0),
    "health": (0, 0, 0, 0),
    "docs": (0, 0, 0, 0),
    "fallback": (0, 0, 0, 0),
}
BASELINE = "hello-runtime"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk from Debian's packages", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        return
    sys.exit("bench: wrk is needed (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)")


def wrk(base, path, lua=None, headers=(), connections=WRK_CONNECTIONS):
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{WRK_SECONDS}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if lua:
        command += ["-s", lua]
    command.append(base + path)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        sys.exit(f"bench: {path} answered {non_2xx.group(1)} errors under load:\n{output}")
    latency = {}
    for label, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        latency[label] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    # The report shows the command as one would retype it: no token, paths from the repository.
    shown = [f'"{a}"' if a.startswith("authorization:") else a for a in command[:-1]]
    shown = [re.sub(r"Bearer [\w.-]+", "Bearer $TOKEN", a) for a in shown]
    shown = [os.path.relpath(a) if os.path.isabs(a) else a for a in shown]
    return {"command": " ".join(shown + ["$BASE" + path]), "rps": rps,
            "p50_ms": latency.get("50"), "p99_ms": latency.get("99"), "connections": connections}


def load(args):
    ensure_wrk()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LOGIN_RATE_LIMIT="1000000", ADD_RATE_LIMIT="1000000", REGISTER_RATE_LIMIT="1000000")
    server = subprocess.Popen([args.local_api, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                call(base, "GET", "/health")
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("bench: local-api did not answer /health")
        user = "loadtest"
        call(base, "POST", "/register", {"username": user, "password": PASSWORD, "email": "load@example.com",
                                          "first_name": "Load", "last_name": "Test"})
        token = call(base, "POST", "/login", {"username": user, "password": PASSWORD})[1]["access_token"]
        call(base, "POST", "/messages", {"message": "foo"})
        login_lua = os.path.join(args.scratch, "login.lua")
        add_lua = os.path.join(args.scratch, "add.lua")
        os.makedirs(args.scratch, exist_ok=True)
        with open(login_lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
                    f'wrk.body = \'{{"username":"{user}","password":"{PASSWORD}"}}\'\n')
        with open(add_lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
                    'wrk.body = \'{"a":2,"b":3}\'\n')
        auth = f"authorization: Bearer {token}"
        routes = {
            "GET /health": wrk(base, "/health"),
            "POST /messages": wrk(base, "/messages", lua=os.path.join(HERE, "post-message.lua")),
            "GET /messages/{digest}": wrk(base, "/messages/" + FOO_DIGEST),
            "GET /users/me": wrk(base, "/users/me", headers=[auth]),
            "POST /add": wrk(base, "/add", lua=add_lua, headers=[auth]),
            # argon2id at 19 MiB: CPU-bound, so a few connections saturate both cores.
            "POST /login": wrk(base, "/login", lua=login_lua, connections=4),
        }
        flows_out = os.path.join(args.scratch, "flows.json")
        subprocess.run([sys.executable, os.path.join(HERE, "flows.py"), base, "--json", flows_out], check=True)
        with open(flows_out) as f:
            flows = json.load(f)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open(args.out, "w") as f:
        json.dump({"routes": routes, "flows": flows}, f, indent=2)
    print(f"bench: wrote {args.out}", file=sys.stderr)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
            memory = f", {kib / 1048576:.0f} GiB"
    except (OSError, StopIteration):
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; {rustc}"


def report(args):
    with open(args.lambda_json) as f:
        measured = json.load(f)
    with open(args.load_json) as f:
        loaded = json.load(f)
    rows = {r["function"]: r for r in measured["functions"]}
    base = rows[BASELINE]
    base_init = percentile(base["init_ms"], 50)
    base_rss = max(base["peak_rss_bytes"])

    def arm64_size(function):
        path = os.path.join(args.arm64, function, "bootstrap")
        return os.path.getsize(path) if os.path.exists(path) else None

    def mib(n):
        return f"{n / 1048576:.1f}" if n is not None else "n/a"

    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` on {datetime.date.today().isoformat()}. Machine: {machine()}.",
        "",
        "## Every function, run as Lambda runs it",
        "",
        f"Each release binary (profile in Cargo.toml) was started {measured['cold_starts']} times under the "
        "Runtime API emulator of `tests/` with the environment template.yaml gives it, against DynamoDB "
        "Local and moto on loopback. *Init* is process start to the first `/next`; *first* is the first "
        "invocation after it; *warm* is "
        f"{measured['warm_invocations']} further invocations of one instance. Every invocation had to "
        "succeed with the status users get. The baseline is `infra/bench/hello-runtime`, a lambda_runtime "
        "function that does nothing, built in the same run with the same profile. "
        "Target: init within 1.5× of the baseline or +5 ms (whichever is larger), peak RSS within 2×.",
        "",
        "| function | x86_64 MiB | arm64 MiB | init p50 ms | init p99 ms | init vs baseline | first p50 ms | "
        "warm p50 ms | warm p99 ms | peak RSS MiB | RSS vs baseline | within target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in sorted(rows.items(), key=lambda kv: (kv[0] != BASELINE, kv[0])):
        init50 = percentile(row["init_ms"], 50)
        rss = max(row["peak_rss_bytes"])
        init_ok = init50 <= max(1.5 * base_init, base_init + 5)
        rss_ok = rss <= 2 * base_rss
        verdict = "baseline" if name == BASELINE else ("yes" if init_ok and rss_ok else
                                                        "no: " + ", ".join(w for w, ok in (("init", init_ok), ("RSS", rss_ok)) if not ok))
        lines.append(
            f"| {name} | {mib(row['binary_bytes'])} | {mib(arm64_size(name))} | {init50:.1f} | "
            f"{percentile(row['init_ms'], 99):.1f} | {init50 / base_init:.2f}× | "
            f"{percentile(row['first_invoke_ms'], 50):.1f} | {percentile(row['warm_invoke_ms'], 50):.1f} | "
            f"{percentile(row['warm_invoke_ms'], 99):.1f} | {mib(rss)} | {rss / base_rss:.2f}× | {verdict} |")

    lines += [
        "",
        "## local-api, embedded backend",
        "",
        "Release `local-api` with the rate limits raised, on loopback, driven by wrk "
        f"({WRK_THREADS} threads, {WRK_SECONDS} s per route, connections as listed):",
        "",
        "| route | connections | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for route, r in loaded["routes"].items():
        lines.append(f"| `{route}` | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    flows = loaded["flows"]
    lines += [
        "",
        f"Flows (`infra/bench/flows.py`): login p50 {flows['login']['p50_ms']:.1f} ms over {flows['login']['n']} "
        f"sequential logins; tasks submit → succeeded p50 {flows['tasks']['p50_ms']:.1f} ms "
        f"(p90 {flows['tasks']['p90_ms']:.1f} ms) at {flows['tasks']['per_second']:.0f} tasks/s with "
        f"{flows['tasks']['concurrency']} clients polling; a burst of {flows['burst']['n']} tasks all succeeded "
        f"after {flows['burst']['done_s']:.2f} s ({flows['burst']['per_second']:.0f} tasks/s end to end).",
        "",
        "## Cost per million requests",
        "",
        "From the warm p50 durations above (x86_64 here; arm64 Lambda is of the same order), Lambda's "
        "billing rounded up to the next millisecond, the memory sizes in template.yaml, and what each "
        "request does in DynamoDB, SQS and KMS (read off the code). List prices, us-east-1, 2026-11: "
        f"Lambda arm64 ${PRICES['lambda_arm64_gb_second']} per GB-s and ${PRICES['lambda_per_million']:.2f} per "
        f"million requests; HTTP API ${PRICES['http_api_per_million']:.2f} per million; DynamoDB on-demand "
        f"${PRICES['dynamodb_write_per_million']} per million write and ${PRICES['dynamodb_read_per_million']} per "
        f"million read units; SQS ${PRICES['sqs_per_million']:.2f} per million requests; KMS "
        f"${PRICES['kms_sign_per_million']:.2f} per million asymmetric Sign calls. CloudFront adds $1.00 per "
        "million HTTPS requests beyond the free 10 million a month.",
        "",
        "| function | memory MB | billed ms | Lambda $ | HTTP API $ | DynamoDB $ | SQS $ | KMS $ | total $ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in sorted(rows.items()):
        if name == BASELINE or name not in USAGE:
            continue
        billed = max(1, int(-(-percentile(row["warm_invoke_ms"], 50) // 1)))
        gb_seconds = row["memory_mb"] / 1024 * billed / 1000
        compute = 1e6 * gb_seconds * PRICES["lambda_arm64_gb_second"] + PRICES["lambda_per_million"]
        writes, reads, sqs, kms = USAGE[name]
        api = 0 if name == "worker" else PRICES["http_api_per_million"]
        dynamo = writes * PRICES["dynamodb_write_per_million"] + reads * PRICES["dynamodb_read_per_million"]
        queue = sqs * PRICES["sqs_per_million"]
        sign = kms * PRICES["kms_sign_per_million"]
        total = compute + api + dynamo + queue + sign
        lines.append(f"| {name} | {row['memory_mb']} | {billed} | {compute:.2f} | {api:.2f} | {dynamo:.2f} | "
                     f"{queue:.2f} | {sign:.2f} | **{total:.2f}** |")
    lines += [
        "",
        "## Commands",
        "",
        "```sh",
        "make bench",
        "# which runs:",
        "cargo build --release --workspace --bins --examples --locked",
        "cargo lambda build --release --arm64 --workspace --bins --locked   # arm64 sizes",
        f"bash infra/local/engines.sh run -- target/release/examples/lambda_bench --out target/bench/lambda.json "
        f"--cold {measured['cold_starts']} --warm {measured['warm_invocations']}",
        "python3 infra/bench/bench.py load --local-api target/release/local-api --out target/bench/load.json",
        "python3 infra/bench/bench.py report ...   # this file",
        "```",
        "",
        "wrk commands, against local-api at `$BASE` (a free loopback port; `$TOKEN` is a fresh user's "
        "access token):",
        "",
    ]
    lines += [f"- `{route}`: `{r['command']}`" for route, r in loaded["routes"].items()]
    if args.notes and os.path.exists(args.notes):
        with open(args.notes) as f:
            lines += ["", f.read().rstrip()]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"bench: wrote {args.out}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    load_cmd = commands.add_parser("load")
    load_cmd.add_argument("--local-api", required=True)
    load_cmd.add_argument("--out", required=True)
    load_cmd.add_argument("--scratch", default="target/bench")
    report_cmd = commands.add_parser("report")
    report_cmd.add_argument("--lambda", dest="lambda_json", required=True)
    report_cmd.add_argument("--load", dest="load_json", required=True)
    report_cmd.add_argument("--arm64", required=True)
    report_cmd.add_argument("--out", required=True)
    report_cmd.add_argument("--notes", help="a Markdown file appended as is (the analysis)")
    args = parser.parse_args()
    {"load": load, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
