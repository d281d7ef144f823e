#!/usr/bin/env python3
"""The capacity and cost model behind docs/scaling.md (standard library only).

    scaling.py extract --lambda target/bench/lambda.json --out infra/bench/figures.json
    scaling.py render  [--out docs/scaling.md]
    scaling.py check   # exits 1, with a diff, when docs/scaling.md is not what render writes

`extract` keeps what the model needs from a `make bench` run (each function's billed duration,
init and memory); `make bench` runs it, then `render`. `extract --benchmarks-md BENCHMARKS.md`
reads the same figures off BENCHMARKS.md's tables instead (how the first figures.json was made,
before a lambda.json was at hand). `render` reads infra/bench/profile.toml (the usage profile),
figures.json, prices.toml, quotas.toml, every functions/*/function.toml (memory, `[cost]`,
tokens, throttle class) and template.yaml's throttle parameters, and writes docs/scaling.md.
"""
import argparse
import datetime
import difflib
import json
import math
import os
import re
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DOC = os.path.join("docs", "scaling.md")

# Lambda's and AWS's billing month: 730 hours.
SECONDS_PER_MONTH = 730 * 3600
DAYS_PER_MONTH = 730 / 24
GIB = 1024 ** 3
# The template's Globals (infra/gen/src/spec.rs: `memory` absent means 128).
DEFAULT_MEMORY_MB = 128
COST_KEYS = ("dynamodb_writes", "dynamodb_reads", "sqs_requests", "kms_signs", "kms_rsa_signs", "mails")
MODES = ("kms", "sealed")
MODE_NAMES = {"kms": "KMS `Sign` per token", "sealed": "sealed key, one `Decrypt` per sandbox"}
# Route throttle class (function.toml `throttle`) -> its template parameter.
THROTTLE_PARAMETERS = {None: "ThrottlingRateLimit", "sensitive": "LoginThrottleRateLimit",
                       "refresh": "RefreshThrottleRateLimit", "oauth-token": "OAuthTokenThrottleRateLimit"}
THROTTLE_DEMANDS = {None: "route_default_per_second", "sensitive": "route_sensitive_per_second",
                    "refresh": "route_refresh_per_second", "oauth-token": "route_oauth_token_per_second"}
# The rate-limit items one source address writes, read off the code: item -> {function: writes to
# it per request}. A login with the right password hits its items and takes the hits back
# (crates/auth/src/login.rs), authorize's sign-in the same; the others count every request
# (functions/create-message, register, forgot-password and reset-password's lib.rs).
PER_ADDRESS_ITEMS = {
    "messages:source:<address>": {"create-message": 1},
    "login:source:<address>": {"login": 2, "authorize": 2},
    "register:ip:<address>": {"register": 1},
    "recovery:source:<address>": {"forgot-password": 1, "reset-password": 1},
}
# A task is written to the `pending` index when queued and removed from it when done.
PENDING_INDEX_WRITES_PER_TASK = 2


def read_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def percentile(values, p):
    """The same percentile as flows.py's (bench.py's report), so the figures agree."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------
# Inputs


def function_specs(root):
    """Each function's description, as far as the model needs it."""
    specs = {}
    functions = os.path.join(root, "functions")
    for name in sorted(os.listdir(functions)):
        path = os.path.join(functions, name, "function.toml")
        if not os.path.exists(path):
            continue
        spec = read_toml(path)
        cost = spec.get("cost")
        specs[name] = {
            "memory_mb": spec.get("memory", DEFAULT_MEMORY_MB),
            "cost": None if cost is None else {key: cost.get(key, 0) for key in COST_KEYS},
            "signs": spec.get("tokens") in ("sign", "verify-and-sign"),
            # The TOTP key's Decrypt, once per sandbox (login-mfa, totp-mfa, authorize).
            "totp_decrypt": "TOTP_KEY_ARN" in spec.get("environment", {}),
            "throttle": spec.get("throttle"),
            "routes": len(spec.get("routes", {})),
            "queues": spec.get("queues", {}),
        }
    return specs


def template_parameters(root):
    """The Number parameters' defaults in template.yaml (no YAML parser in the standard library:
    the Parameters block is plain `  Name:` / `    Default: n` lines)."""
    with open(os.path.join(root, "template.yaml")) as f:
        text = f.read()
    block = text.split("\nParameters:\n", 1)[1].split("\nConditions:\n", 1)[0].split("\nResources:\n", 1)[0]
    parameters = {}
    for match in re.finditer(r"^  (\w+):\n((?:    .*\n|\s*#.*\n)+)", block, re.M):
        default = re.search(r"^    Default: (\d+(?:\.\d+)?)\s*$", match.group(2), re.M)
        if default:
            parameters[match.group(1)] = float(default.group(1))
    return parameters


def worker_settings(specs, root):
    tasks = specs["worker"]["queues"].get("Tasks", "")
    concurrency = re.search(r"MaximumConcurrency:\s*(\d+)", tasks)
    batch = re.search(r"BatchSize:\s*(\d+)", tasks)
    with open(os.path.join(root, "crates", "aws", "src", "dynamodb", "tasks.rs")) as f:
        shards = re.search(r"const PENDING_SHARDS: u8 = (\d+);", f.read())
    return {"max_concurrency": int(concurrency.group(1)), "batch_size": int(batch.group(1)),
            "pending_shards": int(shards.group(1))}


def load_inputs(root=ROOT):
    bench = os.path.join(root, "infra", "bench")
    specs = function_specs(root)
    return {
        "profile": read_toml(os.path.join(bench, "profile.toml")),
        "figures": read_json(os.path.join(bench, "figures.json")),
        "tuning": read_json(os.path.join(bench, "tuning.json")),
        "prices": read_toml(os.path.join(bench, "prices.toml")),
        "quotas": read_toml(os.path.join(bench, "quotas.toml"))["quota"],
        "specs": specs,
        "parameters": template_parameters(root),
        "worker": worker_settings(specs, root),
    }


# ---------------------------------------------------------------------------------------------
# The model


def figure(inputs, name):
    """(figures, the function they were measured on): a stand-in's when the bench lacks it."""
    functions = inputs["figures"]["functions"]
    if name in functions:
        return functions[name], name
    stand_in = inputs["profile"].get("stand_ins", {}).get(name)
    if stand_in in functions:
        return functions[stand_in], stand_in
    raise SystemExit(f"scaling: no bench figures for {name} and no stand-in in profile.toml")


def tuned_ms(inputs, name):
    """The warm p50 `make tune` measured at the function's configured memory, under Lambda's CPU
    share for that size (infra/bench/tuning.json), rounded up to Lambda's billing unit; None when
    tune has no figure for it there."""
    tuned = inputs["tuning"]["functions"].get(name, {}).get("sizes", {})
    at = tuned.get(str(inputs["specs"][name]["memory_mb"]), {})
    if at.get("outcome") != "ok" or "warm_p50_ms" not in at:
        return None
    return max(1, math.ceil(at["warm_p50_ms"]))


def billed_ms(inputs, name):
    """(billed ms before AWS round trips, where it comes from)."""
    tuned = tuned_ms(inputs, name)
    if tuned is not None:
        return tuned, "tune"
    return figure(inputs, name)[0]["billed_ms"], "bench"


def duration_ms(inputs, name, mode):
    """Billed milliseconds of one invocation on Lambda: the bench's warm p50 (rounded up) plus a
    round trip per AWS call, which the bench's loopback engines do not have. Sealed signing
    replaces the ECC Sign call with a local signature."""
    cost = inputs["specs"][name]["cost"]
    latency = inputs["profile"]["aws_latency_ms"]
    ms = billed_ms(inputs, name)[0]
    ms += latency["dynamodb"] * (cost["dynamodb_writes"] + cost["dynamodb_reads"])
    ms += latency["sqs"] * cost["sqs_requests"] + latency["ses"] * cost["mails"]
    ms += latency["kms_sign"] * cost["kms_rsa_signs"]
    if mode == "kms":
        ms += latency["kms_sign"] * cost["kms_signs"]
    else:
        ms += inputs["profile"]["signing"]["sealed_sign_ms"] * cost["kms_signs"]
    return math.ceil(ms)


def volumes(inputs, mau, mode, only=None):
    """Per function, per month: HTTP requests at CloudFront, invocations, the units its [cost]
    block counts (per request, or per task for the worker), cold starts, billed ms."""
    profile = inputs["profile"]
    traffic = profile["traffic"]
    rows = {}
    for name, per_mau in profile["requests_per_mau"].items():
        if only is not None and name not in only:
            continue
        requests = per_mau * mau
        invocations = requests
        if name == "get-message":
            invocations = requests * (1 - traffic["message_read_cache_hit_ratio"])
        rows[name] = {"requests": requests, "invocations": invocations, "units": invocations,
                      "duration_ms": duration_ms(inputs, name, mode)}
    if "add" in rows:
        # The worker: one invocation per batch of tasks; its [cost] and figures are per task.
        tasks = rows["add"]["invocations"]
        batch = traffic["worker_messages_per_batch"]
        rows["worker"] = {"requests": 0, "invocations": tasks / batch, "units": tasks,
                          "duration_ms": duration_ms(inputs, "worker", mode) * batch}
    for row in rows.values():
        row["cold_starts"] = cold_starts(row["invocations"], row["duration_ms"], profile)
    return rows


def cold_starts(invocations, duration_ms, profile):
    """New sandboxes a month for a function invoked `invocations` times a month: its sandboxes
    (a multiple of its peak concurrency, at least one), each replaced every sandbox_minutes, and
    never more than one per invocation."""
    cold = profile["cold_starts"]
    peak_rate = invocations / SECONDS_PER_MONTH * profile["traffic"]["peak_to_average"]
    sandboxes = max(1.0, cold["sandboxes_per_concurrent_execution"] * peak_rate * duration_ms / 1000)
    return min(invocations, sandboxes * SECONDS_PER_MONTH / 60 / cold["sandbox_minutes"])


def tiered(quantity, first_tier, first_price, next_price):
    return min(quantity, first_tier) * first_price + max(0.0, quantity - first_tier) * next_price


def http_api_cost(requests, prices):
    return tiered(requests / 1e6, 300, prices["http_api_per_million"], prices["http_api_per_million_over_300m"])


def cognito(mau, prices):
    c = prices["cognito"]
    return {"essentials": max(0, mau - c["essentials_free_maus"]) * c["essentials_per_mau"],
            "plus": max(0, mau - c["plus_free_maus"]) * c["plus_per_mau"]}


def target_per_mau(prices):
    """The issue's target: at most 1/80 of Cognito Essentials' list price per MAU."""
    return prices["cognito"]["essentials_per_mau"] / 80


def secret_calls_per_sandbox(cold):
    """`GetSecretValue` calls over a sandbox's life: the current value at its cold start, then
    both values at each refresh (crates/http/src/origin.rs)."""
    reads = cold["sandbox_minutes"] / cold["origin_secret_refresh_minutes"]
    return 2 * reads - 1


def monthly_cost(inputs, mau, mode, only=None):
    """What a month costs, by service, at `mau` monthly active users."""
    p = inputs["prices"]["prices"]
    profile = inputs["profile"]
    specs = inputs["specs"]
    rows = volumes(inputs, mau, mode, only)
    lines = dict.fromkeys(["Lambda (requests, GB-seconds, inits)", "API Gateway HTTP API", "CloudFront",
                           "WAF", "DynamoDB requests", "DynamoDB storage and backups", "SQS",
                           "KMS", "SES", "Secrets Manager", "CloudWatch Logs", "at rest (fixed)"], 0.0)
    edge_requests = sum(r["requests"] for r in rows.values())
    api_requests = sum(r["invocations"] for n, r in rows.items() if n != "worker")
    decrypts = 0.0
    for name, row in rows.items():
        spec = specs[name]
        memory_gb = spec["memory_mb"] / 1024
        init_ms = figure(inputs, name)[0]["init_ms"]
        gb_seconds = (row["invocations"] * row["duration_ms"] + row["cold_starts"] * init_ms) / 1000 * memory_gb
        lines["Lambda (requests, GB-seconds, inits)"] += (
            row["invocations"] / 1e6 * p["lambda_per_million"] + gb_seconds * p["lambda_arm64_gb_second"])
        cost = spec["cost"]
        units = row["units"] / 1e6
        lines["DynamoDB requests"] += units * (cost["dynamodb_writes"] * p["dynamodb_write_per_million"]
                                               + cost["dynamodb_reads"] * p["dynamodb_read_per_million"])
        lines["SQS"] += units * cost["sqs_requests"] * p["sqs_per_million"]
        lines["SES"] += units * cost["mails"] * p["ses_per_million_mails"]
        lines["KMS"] += units * cost["kms_rsa_signs"] * p["kms_rsa_sign_per_million"]
        if mode == "kms":
            lines["KMS"] += units * cost["kms_signs"] * p["kms_sign_per_million"]
        decrypts += row["cold_starts"] * (spec["totp_decrypt"] + (mode == "sealed" and spec["signs"]))
    lines["KMS"] += decrypts / 1e6 * p["kms_symmetric_per_million"]
    lines["API Gateway HTTP API"] = http_api_cost(api_requests, p)
    traffic = profile["traffic"]
    gb_out = edge_requests * traffic["response_bytes"] / GIB
    lines["CloudFront"] = (max(0.0, edge_requests - p["cloudfront_free_requests"]) / 1e6 * p["cloudfront_https_per_million"]
                           + max(0.0, gb_out - p["cloudfront_free_gb_out"]) * p["cloudfront_per_gb_out"])
    lines["WAF"] = edge_requests / 1e6 * p["waf_per_million"]
    storage = profile["storage"]["kb_per_mau" if only is None else "auth_kb_per_mau"]
    lines["DynamoDB storage and backups"] = (mau * storage * 1024 / GIB
                                             * (p["dynamodb_per_gb_month"] + p["dynamodb_pitr_per_gb_month"]))
    secret_calls = sum(r["cold_starts"] for r in rows.values()) * secret_calls_per_sandbox(profile["cold_starts"])
    lines["Secrets Manager"] = secret_calls / 1e6 * p["secrets_per_million"]
    log_gb = sum(r["invocations"] for r in rows.values()) * traffic["log_bytes_per_request"] / GIB
    lines["CloudWatch Logs"] = log_gb * (p["logs_per_gb_ingested"] + p["logs_per_gb_month"])
    fixed = sum(inputs["prices"]["fixed"].values())
    if mode == "sealed":
        fixed += profile["signing"]["sealed_extra_keys"] * 1.00
    lines["at rest (fixed)"] = fixed
    return lines


def peak_demands(inputs, mau, mode):
    """What each quota in quotas.toml is asked for at the peak of a month at `mau`."""
    profile = inputs["profile"]
    specs = inputs["specs"]
    peak = profile["traffic"]["peak_to_average"]
    rows = volumes(inputs, mau, mode)

    def rate(monthly):
        return monthly / SECONDS_PER_MONTH * peak

    d = dict.fromkeys(["kms_ecc_per_second", "kms_rsa_per_second", "kms_symmetric_per_second",
                       "lambda_concurrency", "lambda_function_concurrency", "api_per_second",
                       "dynamodb_table_wru", "ses_mails_per_second", "secrets_per_second",
                       "cloudfront_per_second", *THROTTLE_DEMANDS.values()], 0.0)
    d["busiest"] = {}
    cold = profile["cold_starts"]
    for name, row in rows.items():
        spec = specs[name]
        cost = spec["cost"]
        units = rate(row["units"])
        if mode == "kms":
            d["kms_ecc_per_second"] += units * cost["kms_signs"]
        d["kms_rsa_per_second"] += units * cost["kms_rsa_signs"]
        d["kms_symmetric_per_second"] += rate(row["cold_starts"]) * (
            spec["totp_decrypt"] + (mode == "sealed" and spec["signs"]))
        concurrency = rate(row["invocations"]) * row["duration_ms"] / 1000
        d["lambda_concurrency"] += concurrency
        if concurrency > d["lambda_function_concurrency"]:
            d["lambda_function_concurrency"] = concurrency
            d["busiest"]["lambda_function_concurrency"] = name
        d["dynamodb_table_wru"] += units * cost["dynamodb_writes"]
        d["ses_mails_per_second"] += units * cost["mails"]
        d["secrets_per_second"] += rate(row["cold_starts"]) * secret_calls_per_sandbox(cold)
        d["cloudfront_per_second"] += rate(row["requests"])
        if name != "worker":
            d["api_per_second"] += rate(row["invocations"])
            key = THROTTLE_DEMANDS[spec["throttle"]]
            if rate(row["invocations"]) > d[key]:
                d[key] = rate(row["invocations"])
                d["busiest"][key] = name
    d["ses_mails_per_day"] = sum(r["units"] * specs[n]["cost"]["mails"] for n, r in rows.items()) / DAYS_PER_MONTH
    per_mau = profile["requests_per_mau"]
    address_maus = profile["traffic"]["busiest_address_maus_per_million"] * mau / 1e6
    d["dynamodb_hot_rate_limit_item_wcu"] = max(
        rate(address_maus * sum(per_mau.get(f, 0) * w for f, w in writers.items()))
        for writers in PER_ADDRESS_ITEMS.values())
    d["hot_rate_limit_item"] = max(
        PER_ADDRESS_ITEMS, key=lambda item: sum(per_mau.get(f, 0) * w for f, w in PER_ADDRESS_ITEMS[item].items()))
    tasks = rate(rows["add"]["invocations"]) if "add" in rows else 0.0
    d["dynamodb_hot_pending_shard_wcu"] = tasks * PENDING_INDEX_WRITES_PER_TASK / inputs["worker"]["pending_shards"]
    d["worker_tasks_per_second"] = tasks
    return d


def quota_limit(inputs, quota, mode):
    if "parameter" in quota:
        return inputs["parameters"][quota["parameter"]]
    if quota.get("computed") == "worker":
        # At load every batch is full; the event source runs at most max_concurrency at once.
        per_task_s = duration_ms(inputs, "worker", mode) / 1000
        return inputs["worker"]["max_concurrency"] / per_task_s
    return quota["default"]


def limits(inputs, mode, steps):
    """Per quota: its limit, the demand at each step, and the MAUs at which demand reaches it
    (demand grows in proportion to MAUs, so from the largest step's)."""
    demands = {mau: peak_demands(inputs, mau, mode) for mau in steps}
    top = max(steps)
    table = []
    for quota in inputs["quotas"]:
        limit = quota_limit(inputs, quota, mode)
        at = [demands[mau][quota["demand"]] for mau in steps]
        per_mau = demands[top][quota["demand"]] / top
        reached_at = limit / per_mau if per_mau > 0 else math.inf
        table.append({"quota": quota, "limit": limit, "demand": at, "reached_at": reached_at,
                      "busiest": demands[top]["busiest"].get(quota["demand"])})
    return table, demands


def first_binding(table, mau):
    """The quotas reached at or below `mau`, first reached first."""
    return sorted((row for row in table if row["reached_at"] <= mau), key=lambda row: row["reached_at"])


# ---------------------------------------------------------------------------------------------
# The page


def money(x):
    if x >= 1000:
        return f"${x:,.0f}"
    return f"${x:,.2f}"


def per_mau_money(x):
    return f"${x:.6f}"


def number(x):
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:,.1f}"
    return f"{x:.2g}"


def maus(n):
    if n == math.inf:
        return "never"
    if n >= 1e9:
        return "over 1,000 M"
    if n >= 1e8:
        return f"{n / 1e6:,.0f} M"
    if n >= 1e6:
        return f"{n / 1e6:,.1f} M".replace(".0 M", " M")
    if n >= 1e3:
        return f"{n / 1e3:,.0f} k"
    return f"{n:,.0f}"


def step_label(n):
    return maus(n).replace(" ", "\u00a0")


def cost_table(inputs, mode, steps, only=None):
    prices = inputs["prices"]
    target = target_per_mau(prices)
    columns = [monthly_cost(inputs, mau, mode, only) for mau in steps]
    lines = ["| per month | " + " | ".join(step_label(m) + " MAU" for m in steps) + " |",
             "|---|" + "---:|" * len(steps)]
    for service in columns[0]:
        lines.append(f"| {service} | " + " | ".join(money(c[service]) for c in columns) + " |")
    totals = [sum(c.values()) for c in columns]
    lines.append("| **total** | " + " | ".join(f"**{money(t)}**" for t in totals) + " |")
    lines.append("| **per MAU** | " + " | ".join(f"**{per_mau_money(t / m)}**" for t, m in zip(totals, steps)) + " |")
    bills = [cognito(m, prices) for m in steps]
    lines.append("| Cognito Essentials (10,000 MAU free) | " + " | ".join(
        f"{money(b['essentials'])} ({per_mau_money(b['essentials'] / m)}/MAU)" for b, m in zip(bills, steps)) + " |")
    lines.append("| Cognito Plus (no free tier) | " + " | ".join(
        f"{money(b['plus'])} ({per_mau_money(b['plus'] / m)}/MAU)" for b, m in zip(bills, steps)) + " |")
    lines.append("| Essentials' list price ÷ Stratus per MAU | " + " | ".join(
        f"{prices['cognito']['essentials_per_mau'] / (t / m):,.0f}×" for t, m in zip(totals, steps)) + " |")
    lines.append(f"| target: ≤ {per_mau_money(target)}/MAU (1/80 of Essentials' list price) | " + " | ".join(
        "**met**" if t / m <= target else f"**missed** ({t / m / target:.1f}× the target)"
        for t, m in zip(totals, steps)) + " |")
    return lines, totals


def render(inputs):
    profile = inputs["profile"]
    prices = inputs["prices"]
    p = prices["prices"]
    steps = profile["steps"]["maus"]
    target = target_per_mau(prices)
    traffic = profile["traffic"]
    cold = profile["cold_starts"]
    latency = profile["aws_latency_ms"]
    per_mau = profile["requests_per_mau"]
    auth = set(profile["groups"]["auth"])
    total_requests = sum(per_mau.values())
    out = [
        f"# Scaling: what it costs and what binds, from {maus(min(steps))} to {maus(max(steps))} users",
        "",
        "<!-- Generated by `python3 infra/bench/scaling.py render` from infra/bench/profile.toml, figures.json, tuning.json, "
        "prices.toml, quotas.toml, functions/*/function.toml and template.yaml. Do not edit: change those and "
        "render again (`make bench` does); `make test` fails while this page is stale. -->",
        "",
        f"A capacity and cost model for one stated usage profile: {profile['app']['name']}. It prices a month "
        f"at {', '.join(step_label(m) for m in steps)} monthly active users (MAU) with {prices['region']} list "
        f"prices of {prices['as_of']} ([costs](costs.md)), beside Amazon Cognito's per-MAU prices, in both ways "
        "of signing access tokens, and finds at each step the first quota or limit that binds and what lifts it. "
        "The figures per request are the bench's ([BENCHMARKS.md](../BENCHMARKS.md)); what each request does "
        "in DynamoDB, SQS, KMS and SES is its function's `[cost]` block.",
        "",
    ]
    # Headline.
    out += ["## In short", "",
            "| | " + " | ".join(step_label(m) + " MAU" for m in steps) + " |",
            "|---|" + "---:|" * len(steps)]
    whole = {mode: [sum(monthly_cost(inputs, m, mode).values()) for m in steps] for mode in MODES}
    accounts = {mode: [sum(monthly_cost(inputs, m, mode, auth).values()) for m in steps] for mode in MODES}
    for mode in MODES:
        out.append(f"| whole backend, {MODE_NAMES[mode]}: per MAU | " + " | ".join(
            per_mau_money(t / m) + (" ✓" if t / m <= target else " ✗") for t, m in zip(whole[mode], steps)) + " |")
    for mode in MODES:
        out.append(f"| accounts only, {MODE_NAMES[mode]}: per MAU | " + " | ".join(
            per_mau_money(t / m) + (" ✓" if t / m <= target else " ✗") for t, m in zip(accounts[mode], steps)) + " |")
    out.append("| Cognito Essentials: per MAU (its free 10,000 counted) | " + " | ".join(
        per_mau_money(cognito(m, prices)["essentials"] / m) for m in steps) + " |")
    out.append("| Cognito Plus: per MAU | " + " | ".join(
        per_mau_money(cognito(m, prices)["plus"] / m) for m in steps) + " |")
    out.append(f"| target (1/80 of Essentials' ${prices['cognito']['essentials_per_mau']} list price) | "
               + " | ".join(per_mau_money(target) for _ in steps) + " |")
    out.append("")
    kms_table, _ = limits(inputs, "kms", steps)
    sealed_table, _ = limits(inputs, "sealed", steps)
    edge = (p["http_api_per_million"] + p["cloudfront_https_per_million"] + p["waf_per_million"]) / 1e6
    edge_per_mau = total_requests * edge
    auth_requests = sum(v for k, v in per_mau.items() if k in auth)
    out += [
        f"✓ meets the target, ✗ misses it. **The whole backend {whole_verdict(whole, steps, target)}**"
        + f": the profile is {total_requests:,.1f} requests per MAU a month, and the edge alone (HTTP API "
        f"${p['http_api_per_million']:.2f}, CloudFront ${p['cloudfront_https_per_million']:.2f} and WAF "
        f"${p['waf_per_million']:.2f} per million) costs {per_mau_money(edge_per_mau)} per MAU, "
        f"{edge_per_mau / target:.1f}× the whole target, before any function runs. Cognito's price buys none of "
        "the app's own API (notes and tasks), so the like-for-like line is *accounts only*: the functions "
        f"Cognito would replace ({auth_requests:,.2f} requests per MAU) and the whole stack's fixed costs. "
        + accounts_verdict(accounts, steps, target, sum(prices["fixed"].values())) + " "
        + first_binding_summary(kms_table, sealed_table, steps),
        "",
    ]
    # The profile.
    days = profile["app"]["active_days_per_month"]
    out += ["## The usage profile", "",
            "From `infra/bench/profile.toml`, where each number's reasoning is written beside it: an active "
            f"user opens the app on {days:g} days a month (a DAU/MAU of about {days / 30:.2f}); the client "
            f"refreshes its 15-minute access token {per_mau.get('refresh-token', 0) / days:g} times a day it is "
            f"used; refresh tokens keep a device signed in for up to 90 days, so a user logs in with a password "
            f"{per_mau.get('login', 0):g} times a month; {per_mau.get('register', 0):.0%} of a month's users sign "
            f"up that month; {per_mau.get('authorize', 0) / 2:.0%} sign in to a partner app through the OAuth "
            "endpoints. Chosen before the model ran, not tuned to meet the target.",
            "",
            "| function | service | requests per MAU a month | memory MB | billed ms on Lambda (bench + AWS calls) | KMS `Sign` | per request beside Lambda and the edge |",
            "|---|---|---:|---:|---:|---:|---|"]
    for name, n in per_mau.items():
        spec = inputs["specs"][name]
        c = spec["cost"]
        does = ", ".join(f"{v:g} {label}{'' if v == 1 else 's'}" for v, label in (
            (c["dynamodb_writes"], "write unit"), (c["dynamodb_reads"], "read unit"),
            (c["sqs_requests"], "SQS request"), (c["mails"], "mail")) if v) or "nothing"
        signs = "+".join(s for s in (f"{c['kms_signs']:g} ECC" if c["kms_signs"] else "",
                                     f"{c['kms_rsa_signs']:g} RSA" if c["kms_rsa_signs"] else "") if s) or "–"
        out.append(f"| {name} | {'accounts' if name in auth else 'app'} | {n:g} | {spec['memory_mb']} | "
                   f"{duration_ms(inputs, name, 'kms')} | {signs} | {does} |")
    out += [f"| **total** | | **{total_requests:,.2f}** | | | | |", "",
            "Besides, from the same file:",
            "",
            f"- **Peak rate**: the month's average rate × {traffic['peak_to_average']:g}. A consumer app's busiest "
            "hour carries about 8% of its day (1.9× the day's average) when its users share a few time zones; "
            "weekdays and minute-to-minute bunching make it about 3×. Every quota below is checked at that peak.",
            f"- **Cache**: {traffic['message_read_cache_hit_ratio']:.0%} of `GET /messages/{{digest}}` are CloudFront "
            "hits (immutable answers, but most notes are read by few people, from different edge locations); a hit "
            "costs CloudFront and WAF, nothing behind them.",
            f"- **Cold starts**: a function holds {cold['sandboxes_per_concurrent_execution']:g}× its peak "
            f"concurrency in sandboxes (at least one), each replaced every {cold['sandbox_minutes']} minutes, never "
            "more than one per invocation: "
            + ", ".join(f"{cold_fraction(inputs, m):.2%} of invocations at {step_label(m)}" for m in steps)
            + " (AWS reports under 1% in production). Each costs its init time, reads the origin secret (then "
            f"every {cold['origin_secret_refresh_minutes']} minutes), and makes a KMS `Decrypt` in the functions "
            "holding the TOTP key and, sealed, in those that sign.",
            f"- **AWS calls**: the bench's engines are on loopback; on Lambda each call adds its round trip to the "
            f"billed time: {latency['dynamodb']} ms per DynamoDB unit, {latency['sqs']} ms per SQS request, "
            f"{latency['kms_sign']} ms per KMS `Sign`, {latency['ses']} ms per mail (assumed: the TLS bench "
            "measures the handshakes of a cold request, not a service's own time, which only a deployed stack "
            "shows; at 128 MB, 10 ms more is $0.02 per million).",
            f"- **Worker**: {traffic['worker_messages_per_batch']:g} tasks per invocation. **Data**: "
            f"{profile['storage']['kb_per_mau']} KB per MAU in DynamoDB, "
            f"{profile['storage']['auth_kb_per_mau']} KB of it the account's. **Edge**: "
            f"{traffic['response_bytes']:,} bytes out per request; {traffic['log_bytes_per_request']} bytes of logs per "
            "invocation, kept 30 days.",
            "- **Signing modes** (issue 26, item 4): *kms* signs every access token with KMS `Sign` (ECC, "
            f"${p['kms_sign_per_million']:.2f} per million); *sealed* unseals a signing key once per sandbox of a "
            f"signing function with a symmetric `Decrypt` (${p['kms_symmetric_per_million']:.2f} per million) and "
            "signs locally, with one more KMS key ($1 a month). RS256 ID tokens stay on KMS `Sign` (RSA) in both.",
            ""]
    # Cost tables.
    for mode in MODES:
        lines, _ = cost_table(inputs, mode, steps)
        out += [f"## Cost per month, whole backend: {MODE_NAMES[mode]}", ""] + lines + [""]
    for mode in MODES:
        lines, _ = cost_table(inputs, mode, steps, auth)
        out += [f"## Cost per month, accounts only: {MODE_NAMES[mode]}", "",
                "The functions marked *accounts* above, their share of the data, and the whole stack's fixed "
                "costs (keys, alarms, dashboard, firewall): what Cognito's per-MAU price would replace.", ""] + lines + [""]
    out += dominates(inputs, steps, target, whole, accounts, edge, total_requests, auth_requests)
    # Limits.
    for mode, table in (("kms", kms_table), ("sealed", sealed_table)):
        out += [f"## Limits at the peak: {MODE_NAMES[mode]}", "",
                "Peak demand on each quota against its default, at each step; **bold** where it is reached. "
                "*Reached at* is the MAU count where the peak meets the default (demand grows with MAUs).", "",
                "| quota or limit | default | " + " | ".join(step_label(m) + " MAU" for m in steps)
                + " | reached at | what lifts it |",
                "|---|---:|" + "---:|" * len(steps) + "---:|---|"]
        for row in table:
            q = row["quota"]
            cells = []
            for value in row["demand"]:
                text = f"{number(value)} ({value / row['limit']:.0%})"
                cells.append(f"**{text}**" if value >= row["limit"] else text)
            source = q["source"] if q["source"].startswith("http") else None
            name = f"[{q['name']}]({q['source']})" if source else q["name"]
            note = f" {q['note']}" if "note" in q else ""
            out.append(f"| {name}: {q['scope']}.{note} | {number(row['limit'])} {q['unit']} | " + " | ".join(cells)
                       + f" | {maus(row['reached_at'])} | {q['lift']} |")
        out.append("")
    out += binding_section(kms_table, sealed_table, steps, inputs)
    # Figures.
    figures = inputs["figures"]
    out += ["## The figures used", "",
            "Durations are `make tune`'s (`infra/bench/tuning.json`): the warm p50 at the function's "
            "`function.toml` memory, measured under Lambda's CPU share for that size. Where tune has none, "
            f"the bench's (`infra/bench/figures.json`: {figures['source']}), which does not limit CPU. "
            "Init is the bench's.", "",
            "| function | memory MB (function.toml) | warm p50 billed ms | from | init p50 ms | init figures of |",
            "|---|---:|---:|---|---:|---|"]
    for name in volumes(inputs, steps[0], "kms"):
        fig, of = figure(inputs, name)
        ms, source = billed_ms(inputs, name)
        out.append(f"| {name} | {inputs['specs'][name]['memory_mb']} | {ms} | {source} | "
                   f"{fig['init_ms']:.1f} | {of if of != name else 'itself'} |")
    out += ["", "## Regenerating", "", "```sh",
            "make bench                                   # ends with the two commands below",
            "python3 infra/bench/scaling.py extract --lambda target/bench/lambda.json --out infra/bench/figures.json",
            "python3 infra/bench/scaling.py render        # this page",
            "python3 infra/bench/scaling.py check         # what make test runs (with infra/bench/test_scaling.py)",
            "```", ""]
    return "\n".join(out)


def whole_verdict(whole, steps, target):
    met = {mode: [m for t, m in zip(whole[mode], steps) if t / m <= target] for mode in MODES}
    if not any(met.values()):
        return "misses the target at every step in both modes"
    if all(len(m) == len(steps) for m in met.values()):
        return "meets the target at every step in both modes"
    return "meets the target " + "; ".join(
        f"with {MODE_NAMES[mode]} at {', '.join(step_label(m) for m in met[mode]) or 'no step'}" for mode in MODES)


def cold_fraction(inputs, mau):
    rows = volumes(inputs, mau, "kms")
    return sum(r["cold_starts"] for r in rows.values()) / sum(r["invocations"] for r in rows.values())


def accounts_verdict(accounts, steps, target, fixed):
    parts = []
    for mode in MODES:
        met = [m for t, m in zip(accounts[mode], steps) if t / m <= target]
        if len(met) == len(steps):
            parts.append(f"with {MODE_NAMES[mode]} it meets the target at every step")
        elif met:
            parts.append(f"with {MODE_NAMES[mode]} it meets it from {step_label(min(met))} MAU "
                         f"(below that the fixed {money(fixed)} a month weigh too much per user)")
        else:
            parts.append(f"with {MODE_NAMES[mode]} it misses it at every step")
    return "Accounts only, " + "; ".join(parts) + "."


def first_binding_summary(kms_table, sealed_table, steps):
    first = first_binding(kms_table, max(steps))
    if not first:
        return f"**Limits**: no quota is reached by {step_label(max(steps))} MAU."
    names = ", ".join(f"{short(row)} at {maus(row['reached_at'])}" for row in first)
    return (f"**Limits**: on the way to {step_label(max(steps))} MAU these are reached, in this order: {names}. "
            "Each has a documented lift below (a request to AWS, or a stack parameter raised in "
            "samconfig.toml), so the target's second half holds: no quota is reached before "
            f"{step_label(max(steps))} MAU without a documented request or change. Sealed signing moves no "
            "limit but KMS's: its ECC quota is then never reached.")


def short(row):
    name = row["quota"]["short"]
    return f"{name} ({row['busiest']})" if row.get("busiest") else name


def binding_section(kms_table, sealed_table, steps, inputs):
    out = ["## What binds first, and what lifts it", ""]
    for mode, table in (("kms", kms_table), ("sealed", sealed_table)):
        out += [f"With {MODE_NAMES[mode]}:", ""]
        previous = 0
        for mau in steps:
            reached = [row for row in first_binding(table, mau) if row["reached_at"] > previous]
            if reached:
                row = reached[0]
                others = "; then " + ", ".join(f"{short(r)} ({maus(r['reached_at'])})" for r in reached[1:]) \
                    if len(reached) > 1 else ""
                out.append(f"- **up to {step_label(mau)} MAU**: first {short(row)}, reached at "
                           f"{maus(row['reached_at'])} ({number(row['limit'])} {row['quota']['unit']}): "
                           f"{row['quota']['lift']}{others}.")
            else:
                closest = max((r for r in table if r["reached_at"] > mau),
                              key=lambda r: r["demand"][steps.index(mau)] / r["limit"])
                share = closest["demand"][steps.index(mau)] / closest["limit"]
                out.append(f"- **up to {step_label(mau)} MAU**: nothing more binds; the closest is "
                           f"{short(closest)} at {share:.0%} of its default.")
            previous = mau
        out.append("")
    unreached = [row for row in kms_table if row["reached_at"] > max(steps)]
    out += [f"Never reached by {step_label(max(steps))} MAU at this profile: "
            + ", ".join(f"{short(r)} ({r['demand'][-1] / r['limit']:.0%} at {step_label(max(steps))})"
                        for r in unreached) + ".", ""]
    top = max(steps)
    rl = peak_demands(inputs, top, "kms")
    users = inputs["profile"]["traffic"]["busiest_address_maus_per_million"] * top / 1e6
    per_minute = rl["dynamodb_hot_rate_limit_item_wcu"] * 60
    out += [f"Hot keys: the busiest rate-limit item is `{rl['hot_rate_limit_item']}`. For an address shared by "
            f"{users:,.0f} of the {step_label(top)} users it takes {per_minute:.2g} writes a minute at the peak, "
            "against a partition's 60,000 (1,000 a second) and the code's own per-address limit, "
            f"`MessageRateLimit`, {inputs['parameters'].get('MessageRateLimit', 0):g} a minute, which a shared "
            "address would meet long before the partition (a stack parameter too). A flood from one address pushes "
            "an item no faster than its route's throttle lets it through (100 a second by default, under the "
            "partition's 1,000), and WAF's per-address rules hold it lower.", ""]
    return out


def dominates(inputs, steps, target, whole, accounts, edge, total_requests, auth_requests):
    p = inputs["prices"]["prices"]
    top = max(steps)
    kms_cost = monthly_cost(inputs, top, "kms")
    sealed_cost = monthly_cost(inputs, top, "sealed")
    ranked = sorted(kms_cost.items(), key=lambda kv: -kv[1])
    total = sum(kms_cost.values())
    biggest = ", ".join(f"{name} {value / total:.0%}" for name, value in ranked[:4])
    sealed_total = sum(sealed_cost.values())
    no_api = sealed_total - sealed_cost["API Gateway HTTP API"]
    no_api_waf = no_api - sealed_cost["WAF"]
    max_requests = target / edge
    return [
        "## What dominates, and what would meet the target", "",
        f"At {step_label(top)} MAU with KMS signing the month is {money(total)}: {biggest}. KMS `Sign` is "
        f"{money(kms_cost['KMS'])} of it; sealed signing takes that to {money(sealed_cost['KMS'])} and the month "
        f"to {money(sealed_total)} ({sealed_total / top / target:.1f}× the target per MAU). What is left is "
        f"the price of a request at the edge: API Gateway's ${p['http_api_per_million']:.2f} and CloudFront's "
        f"${p['cloudfront_https_per_million']:.2f} per million, and WAF's ${p['waf_per_million']:.2f}, against "
        f"Lambda's ${p['lambda_per_million']:.2f} and a few milliseconds of compute.",
        "",
        f"- The whole backend meets 1/80 of Essentials only below about {max_requests:,.0f} requests per MAU a month "
        f"at the edge's ${edge * 1e6:.2f} per million alone; this profile makes {total_requests:,.0f}.",
        f"- Without API Gateway (CloudFront in front of Lambda function URLs, which would lose the route "
        f"throttles) the sealed month would be {money(no_api)}, {no_api / top / target:.1f}× the target; without "
        f"WAF as well, {money(no_api_waf)} ({no_api_waf / top / target:.1f}×). Neither is built"
        + (", and neither reaches the target: CloudFront's own price per request is then the largest part of "
           "what is left." if no_api_waf / top > target else "."),
        "- The accounts service alone, which is what Cognito sells, is "
        f"{auth_requests:,.1f} requests per MAU: sealed signing brings it to "
        f"{per_mau_money(accounts['sealed'][-1] / top)} per MAU at {step_label(top)}, "
        f"{'within' if accounts['sealed'][-1] / top <= target else 'above'} the target; with KMS signing it is "
        f"{per_mau_money(accounts['kms'][-1] / top)}, where {inputs['profile']['requests_per_mau']['refresh-token']:g} "
        "refreshes a month at $15 per million signatures are most of it.",
        "",
    ]


# ---------------------------------------------------------------------------------------------
# Commands


def extract_lambda(path):
    with open(path) as f:
        measured = json.load(f)
    functions = {}
    for row in measured["functions"]:
        functions[row["function"]] = {
            "memory_mb": row["memory_mb"],
            # Lambda bills whole milliseconds, at least one.
            "billed_ms": max(1, math.ceil(percentile(row["warm_invoke_ms"], 50))),
            "init_ms": round(percentile(row["init_ms"], 50), 1),
        }
    return functions


def extract_benchmarks_md(path):
    """BENCHMARKS.md's first table (init p50) and its cost table (memory, billed ms)."""
    with open(path) as f:
        text = f.read()
    functions, init = {}, {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 13 and re.fullmatch(r"[\d.]+", cells[3]):
            init[cells[0]] = float(cells[3])
        elif len(cells) == 10 and re.fullmatch(r"\d+", cells[1]) and re.fullmatch(r"\d+", cells[2]):
            functions[cells[0]] = {"memory_mb": int(cells[1]), "billed_ms": int(cells[2])}
    for name, row in functions.items():
        row["init_ms"] = init[name]
    return functions


def extract(args):
    if args.lambda_json:
        functions = extract_lambda(args.lambda_json)
        source = (f"extracted from `make bench`'s {os.path.basename(args.lambda_json)} on "
                  f"{datetime.date.today().isoformat()} (`scaling.py extract`)")
    else:
        functions = extract_benchmarks_md(args.benchmarks_md)
        with open(args.benchmarks_md) as f:
            date = re.search(r"Generated by `make bench` on (\d{4}-\d\d-\d\d)", f.read())
        source = (f"the {date.group(1) if date else 'last'} run's figures, read off BENCHMARKS.md's tables "
                  "(`scaling.py extract --benchmarks-md`; `make bench` replaces them from its lambda.json)")
    functions.pop("hello-runtime", None)
    with open(args.out, "w") as f:
        json.dump({"source": source, "functions": dict(sorted(functions.items()))}, f, indent=2)
        f.write("\n")
    print(f"scaling: wrote {args.out} ({len(functions)} functions)", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract")
    source = extract_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--lambda", dest="lambda_json", help="lambda_bench's JSON (target/bench/lambda.json)")
    source.add_argument("--benchmarks-md", help="read the figures off BENCHMARKS.md's tables instead")
    extract_cmd.add_argument("--out", default=os.path.join(HERE, "figures.json"))
    render_cmd = commands.add_parser("render")
    render_cmd.add_argument("--out", default=os.path.join(ROOT, DOC))
    commands.add_parser("check")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args)
        return
    text = render(load_inputs())
    if args.command == "render":
        with open(args.out, "w") as f:
            f.write(text)
        print(f"scaling: wrote {args.out}", file=sys.stderr)
        return
    path = os.path.join(ROOT, DOC)
    current = ""
    if os.path.exists(path):
        with open(path) as f:
            current = f.read()
    if current != text:
        diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), DOC, DOC + " (rendered)")
        sys.stdout.writelines(diff)
        print(f"scaling: {DOC} is stale: run `python3 infra/bench/scaling.py render`", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
