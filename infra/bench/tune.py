#!/usr/bin/env python3
"""`make tune`: each function's memory size chosen by measurement, offline (standard library only).

    tune.py preflight                                          (root, cgroup v1: or say why not)
    tune.py run --bench $CARGO_TARGET_DIR/release/examples/lambda_bench [--only a,b] \\
                [--cold 3] [--warm 10] [--sizes 128,256,...]   (as root, engines up)
    tune.py summarize target/bench/tune-lambda.json          (the table again from a raw run)
    tune.py verify                                             (recommendations follow the rule)
    tune.py apply                                              (function.toml memory from the table)
    tune.py table                                              (the Markdown table)

Lambda's resource model, reproduced here: a function with N MB of memory gets N/1,769 of a vCPU
(1,769 MB is one full vCPU) and is killed when it uses more than N MB. `run` makes one cgroup v1
group per size under the `cpu` and `memory` controllers (CFS quota N/1769 of the 100 ms period,
memory limit N MiB, swap off), runs lambda_bench with every function started inside each group in
turn (tests/examples/lambda_bench.rs, `--cgroup`), and turns its JSON into infra/bench/tuning.json:
per function and size, warm duration p50 and p99, the cold request (init + first invocation),
peak RSS, whether it ran out of memory, and Lambda's cost per million invocations; and per
function the recommended size (`recommend`). `apply` writes the recommendations into
functions/*/function.toml; `make generate` then writes template.yaml, and a test
(tests/tests/suite/tuning.rs) fails when a MemorySize and the table disagree.
"""
import argparse
import datetime
import glob
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from bench import PRICES  # noqa: E402  (one price list for make bench and make tune)
import tuning_report  # noqa: E402

TUNING_JSON = os.path.join(HERE, "tuning.json")
# Lambda's memory settings worth comparing: the minimum, doublings, one full vCPU, the old maximum.
SIZES = (128, 256, 512, 1024, 1769, 3008)
# Lambda allocates CPU in proportion to memory: 1,769 MB is one vCPU.
MB_PER_VCPU = 1769
CFS_PERIOD_US = 100_000
# Power Tuning's balanced choice as issue 26 states it: the cheapest size within 10% of the fastest.
TOLERANCE = 0.10
# ...or within Lambda's billing unit of it, whichever is wider. Under a millisecond, 10% is tenths
# of a millisecond: what the harness's own scheduling on a shared machine moves from run to run,
# and less than any request's trip through API Gateway. Both sizes bill the same there.
SLACK_MS = 1.0
# Hysteresis (see recommend): the configured size stays while within this many bands of the
# fastest, unless a cheaper size is within the band.
STAY_FACTOR = 2
# Where cgroup v1 mounts its controllers, and the group (under cpu and memory) holding one per size.
CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "stratus-tune"
# The group (cpu only, no quota) lambda_bench itself runs in, beside the sizes' groups.
HARNESS = "harness"
# cgroup v1's largest CPU weight (a process alone weighs 1,024): see make_groups.
TOP_SHARES = 262144
# The function hello-runtime, measured beside the others as the floor; not a template function.
BASELINE = "hello-runtime"


def percentile(values, p):
    """Nearest rank: with fewer than 100 values p99 is the slowest, which is what it says."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def billed_ms(duration_ms):
    """Lambda bills duration rounded up to the millisecond, at least 1 ms."""
    return max(1, math.ceil(duration_ms - 1e-9))


def cost_per_million(memory_mb, duration_ms):
    """Dollars for a million invocations of `duration_ms` each at `memory_mb`, on arm64: the
    request charge plus the GB-seconds at the billed duration."""
    gb_seconds = memory_mb / 1024 * billed_ms(duration_ms) / 1000
    return PRICES["lambda_per_million"] + 1e6 * gb_seconds * PRICES["lambda_arm64_gb_second"]


def recommend(sizes, configured=None):
    """The rule, in one place: among the sizes that served the scenario (no OOM, no timeout), the
    fastest is the lowest warm p50; the choice is the cheapest size whose warm p50 is within
    TOLERANCE of it, or within SLACK_MS, whichever is wider (ties: the smaller size).
    `sizes` maps MB to a row with `outcome`, `warm_p50_ms` and `cost_per_million`. Returns
    (recommended MB, fastest MB), or (None, None) when no size served.

    With hysteresis: the size `configured` when the run was made stays while its warm p50 is
    within STAY_FACTOR times the band, unless the choice is cheaper. So a move to a cheaper size
    needs it inside the band, and a move to a dearer one needs the configured size outside twice
    the band. Sizes whose speeds differ by less than the harness can tell (a millisecond or so)
    swap places from run to run; without this, each run moved some function one size and back.

    Warm p50, not the mean Power Tuning uses nor a blend with the cold request: steady traffic is
    almost all warm invocations, a median shrugs off the stalls a shared machine adds (the mean
    does not), and cold starts are reported beside it for the latency they add."""
    served = {int(mb): row for mb, row in sizes.items() if row["outcome"] == "ok"}
    if not served:
        return None, None
    fastest = min(served, key=lambda mb: (served[mb]["warm_p50_ms"], mb))
    best = served[fastest]["warm_p50_ms"]
    bound = max(best * (1 + TOLERANCE), best + SLACK_MS)
    within = [mb for mb in served if served[mb]["warm_p50_ms"] <= bound]
    choice = min(within, key=lambda mb: (served[mb]["cost_per_million"], mb))
    stay = served.get(configured)
    if stay is not None and configured != choice:
        wide = max(best * (1 + STAY_FACTOR * TOLERANCE), best + STAY_FACTOR * SLACK_MS)
        cheaper = served[choice]["cost_per_million"] < stay["cost_per_million"]
        if stay["warm_p50_ms"] <= wide and not cheaper:
            return configured, fastest
    return choice, fastest


def size_row(entry):
    """One function at one size, from lambda_bench's entry."""
    warm = entry["warm_invoke_ms"]
    colds = [i + f for i, f in zip(entry["init_ms"], entry["first_invoke_ms"])]
    p50 = percentile(warm, 50)
    row = {
        "outcome": entry["outcome"],
        "warm_p50_ms": round(p50, 3) if p50 is not None else None,
        "warm_p99_ms": round(percentile(warm, 99), 3) if warm else None,
        "warm_invocations": len(warm),
        "cold_ms": round(percentile(colds, 50), 3) if colds else None,
        "init_p50_ms": round(percentile(entry["init_ms"], 50), 3) if entry["init_ms"] else None,
        "cold_starts": len(colds),
        "peak_rss_mib": round(max(entry["peak_rss_bytes"], default=0) / 1048576, 1),
        "cgroup_peak_mib": round(entry["cgroup_peak_bytes"] / 1048576, 1),
        "cost_per_million": round(cost_per_million(entry["memory_mb"], p50), 4) if p50 is not None else None,
    }
    if entry.get("failure"):
        row["failure"] = entry["failure"]
    return row


def summarize(raw, run_info, previous=None):
    """tuning.json from lambda_bench's raw JSON. Functions measured now replace their rows;
    the others (a run with --only) keep theirs, with the run they came from."""
    functions = dict(previous["functions"]) if previous else {}
    runs = list(previous["runs"]) if previous else []
    run_index = len(runs)
    runs.append(run_info)
    baseline = previous.get("baseline") if previous else None
    by_function = {}
    for entry in raw["functions"]:
        by_function.setdefault(entry["function"], {})[str(entry["memory_mb"])] = entry
    for name, entries in by_function.items():
        sizes = {mb: size_row(entry) for mb, entry in sorted(entries.items(), key=lambda kv: int(kv[0]))}
        configured = next(iter(entries.values()))["template_memory_mb"]
        recommended, fastest = recommend(sizes, configured)
        record = {
            "run": run_index,
            "template_memory_mb": configured,
            "timeout_ms": next(iter(entries.values()))["timeout_ms"],
            "sizes": sizes,
            "fastest_mb": fastest,
            "recommended_mb": recommended,
        }
        if name == BASELINE:
            baseline = record
        else:
            functions[name] = record
    # Runs no function refers to any more are dropped; the indices follow.
    used = sorted({f["run"] for f in functions.values()} | ({baseline["run"]} if baseline else set()))
    renumber = {old: new for new, old in enumerate(used)}
    for record in list(functions.values()) + ([baseline] if baseline else []):
        record["run"] = renumber[record["run"]]
    return {
        "about": "Written by `make tune` (infra/bench/tune.py); the template's MemorySize values follow "
                 "recommended_mb (tests/tests/suite/tuning.rs). Durations in ms, costs in USD per million "
                 "invocations on arm64.",
        "rule": {
            "duration": "warm p50",
            "tolerance": TOLERANCE,
            "slack_ms": SLACK_MS,
            "stay_factor": STAY_FACTOR,
            "text": "Among the sizes with outcome ok, the fastest has the lowest warm p50; the recommendation "
                    "is the cheapest size whose warm p50 is within 10% of it, or within 1 ms of it (Lambda's "
                    "billing unit) where that is wider. The size configured when the run was made stays "
                    "while its warm p50 is within twice that band, unless the recommendation is cheaper.",
        },
        "model": {"mb_per_vcpu": MB_PER_VCPU, "cfs_period_us": CFS_PERIOD_US,
                  "memory_limit": "the size in MiB, swap off"},
        "prices": {k: PRICES[k] for k in ("lambda_arm64_gb_second", "lambda_per_million")},
        "runs": [runs[i] for i in used],
        "baseline": baseline,
        "functions": dict(sorted(functions.items())),
    }


# ------------------------------------------------------------------ cgroups


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def read(path):
    with open(path) as f:
        return f.read()


def group_dirs(mb):
    return (os.path.join(CGROUP_ROOT, "cpu", PARENT, str(mb)), os.path.join(CGROUP_ROOT, "memory", PARENT, str(mb)))


def remove_groups():
    """Removes every group under PARENT. A group still holding a process cannot go: that is a
    leftover function of an interrupted run, named so whoever runs this can end it."""
    for controller in ("cpu", "memory"):
        parent = os.path.join(CGROUP_ROOT, controller, PARENT)
        if not os.path.isdir(parent):
            continue
        for name in os.listdir(parent):
            group = os.path.join(parent, name)
            if not os.path.isdir(group):
                continue
            # The bench's last processes may still be on their way out.
            for _ in range(50):
                with open(os.path.join(group, "cgroup.procs")) as f:
                    left = f.read().split()
                if not left:
                    break
                time.sleep(0.1)
            if left:
                sys.exit(f"tune: {group} still holds processes {' '.join(left)} (an interrupted run's); "
                         "end them, then run again")
            os.rmdir(group)
        os.rmdir(parent)


def in_harness_group(command):
    """`command`, started in the harness's cpu group (as lambda_bench starts a function in a size's)."""
    procs = os.path.join(CGROUP_ROOT, "cpu", PARENT, HARNESS, "cgroup.procs")
    return ["/bin/sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "stratus-tune", procs, *command]


def engine_pids():
    """The engines this run talks to (engines.sh run started them for it), by pid: the state dir
    whose ports are the ones in our AWS_ENDPOINT_URL_* variables."""
    wanted = {name: urllib.parse.urlparse(os.environ.get(f"AWS_ENDPOINT_URL_{var}", "")).port
              for name, var in (("dynamodb", "DYNAMODB"), ("sqs", "SQS"))}
    for env_file in glob.glob(os.path.join(ROOT, ".cache", "engines", "*", "env")):
        state = os.path.dirname(env_file)
        try:
            ports = {name: int(read(os.path.join(state, f"{name}.port"))) for name in wanted}
            if ports == wanted:
                return [int(read(os.path.join(state, f"{name}.pid"))) for name in wanted]
        except (OSError, ValueError):
            continue
    return []


class EnginesAlongside:
    """The engines in the harness's group for the run, and back where they were after: the time
    a function waits on DynamoDB Local or moto is part of its duration, and on a busy machine it
    would otherwise be the other work's to decide."""

    def __init__(self):
        self.moved = {}

    def __enter__(self):
        procs = os.path.join(CGROUP_ROOT, "cpu", PARENT, HARNESS, "cgroup.procs")
        for pid in engine_pids():
            home = next(line.split(":", 2)[2] for line in read(f"/proc/{pid}/cgroup").splitlines()
                        if "cpu" in line.split(":")[1].split(","))
            write(procs, pid)
            self.moved[pid] = home
        if not self.moved:
            print("tune: the engines' processes were not found; they run at the machine's priority", file=sys.stderr)
        return self

    def __exit__(self, *_):
        for pid, home in self.moved.items():
            try:
                write(os.path.join(CGROUP_ROOT, "cpu", home.lstrip("/"), "cgroup.procs"), pid)
            except ProcessLookupError:
                pass  # it ended: nothing to move back


def make_groups(sizes):
    """One group per size under the cpu and memory controllers, as Lambda sizes a sandbox, and one
    for the harness. Their parent outweighs everything else on the machine: a Lambda sandbox's CPU
    share is its own, where here a busy machine (other builds) would take it, and the larger sizes
    would lose the most, being the ones whose quota exceeds what they get. The harness is in it
    too, so its timing of the function is not what waits for a CPU, and the engines join it for the
    run (EnginesAlongside)."""
    remove_groups()
    os.makedirs(os.path.join(CGROUP_ROOT, "cpu", PARENT, HARNESS))
    write(os.path.join(CGROUP_ROOT, "cpu", PARENT, "cpu.shares"), TOP_SHARES)
    for mb in sizes:
        cpu, memory = group_dirs(mb)
        os.makedirs(cpu)
        os.makedirs(memory)
        write(os.path.join(cpu, "cpu.cfs_period_us"), CFS_PERIOD_US)
        # Above one vCPU (3,008 MB) the quota exceeds the period: more than one core's time.
        write(os.path.join(cpu, "cpu.cfs_quota_us"), round(CFS_PERIOD_US * mb / MB_PER_VCPU))
        limit = mb * 1024 * 1024
        # The limit first: the memory+swap limit may never be below it.
        write(os.path.join(memory, "memory.limit_in_bytes"), limit)
        memsw = os.path.join(memory, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            # Lambda has no swap: at the limit the function is killed, not paged out.
            write(memsw, limit)
        write(os.path.join(memory, "memory.swappiness"), 0)


def preflight():
    if os.geteuid() != 0:
        sys.exit("tune: needs root: the Lambda resource model is a cgroup per size (cgroup v1 cpu and memory "
                 "controllers under /sys/fs/cgroup), which only root can make. Run `sudo make tune`, or "
                 "`make tune` as root.")
    for controller, file in (("cpu", "cpu.cfs_quota_us"), ("memory", "memory.limit_in_bytes")):
        if not os.path.exists(os.path.join(CGROUP_ROOT, controller, file)):
            sys.exit(f"tune: no cgroup v1 {controller} controller at {CGROUP_ROOT}/{controller}; "
                     "this machine cannot reproduce Lambda's CPU and memory limits")


class LoadSampler:
    """What else the machine did during the run: the 1-minute load average and the share of all
    CPUs busy, every few seconds. The functions get their quota only when a CPU is free to run
    them, so a busy machine slows the large sizes most; the report says how busy it was."""

    def __init__(self, every=5.0):
        self.every = every
        self.loads, self.busy = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    @staticmethod
    def cpu_times():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    def sample(self):
        total, idle = self.cpu_times()
        while not self.stop.wait(self.every):
            self.loads.append(os.getloadavg()[0])
            now_total, now_idle = self.cpu_times()
            if now_total > total:
                self.busy.append(1 - (now_idle - idle) / (now_total - total))
            total, idle = now_total, now_idle

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()

    def summary(self):
        def stats(values, digits):
            if not values:
                return None
            return {"min": round(min(values), digits), "mean": round(sum(values) / len(values), digits),
                    "max": round(max(values), digits)}
        return {"samples": len(self.loads), "every_s": self.every, "loadavg_1m": stats(self.loads, 2),
                "cpu_busy": stats(self.busy, 3)}


def trust_store_vars(scratch):
    """As make bench measures by default: Lambda's provided.al2023 image has a CA bundle and no
    directory of hashed certificate links, which is what a function reads at init."""
    bundle = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                               "/etc/ssl/cert.pem") if os.path.isfile(p)), None)
    if bundle is None:
        sys.exit("tune: no CA bundle found on this machine")
    cert_dir = os.path.abspath(os.path.join(scratch, "al2023-cert-dir"))
    os.makedirs(cert_dir, exist_ok=True)
    return [f"SSL_CERT_FILE={bundle}", f"SSL_CERT_DIR={cert_dir}"]


def run(args):
    preflight()
    sizes = [int(mb) for mb in args.sizes.split(",")]
    os.makedirs(args.scratch, exist_ok=True)
    raw_path = os.path.join(args.scratch, "tune-lambda.json")
    command = [args.bench, "--cgroup", PARENT, "--sizes", ",".join(map(str, sizes)),
               "--cold", str(args.cold), "--warm", str(args.warm), "--out", raw_path]
    if args.only:
        command += ["--only", args.only]
    for var in trust_store_vars(args.scratch) + (args.var or []):
        command += ["--var", var]
    make_groups(sizes)
    started = time.time()
    try:
        print("tune: " + " ".join(command), file=sys.stderr)
        with LoadSampler() as load, EnginesAlongside():
            subprocess.run(in_harness_group(command), check=True)
    finally:
        remove_groups()
    with open(raw_path) as f:
        raw = json.load(f)
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make tune" + (f" ONLY={args.only}" if args.only else ""),
        "cold_starts": args.cold,
        "warm_invocations": args.warm,
        "sizes": sizes,
        "wall_seconds": round(time.time() - started),
        "cpus": os.cpu_count(),
        "load": load.summary(),
    }
    write_tuning(raw, info, args.out, merge=bool(args.only))


def write_tuning(raw, info, out, merge):
    previous = None
    if merge and os.path.exists(out):
        with open(out) as f:
            previous = json.load(f)
    tuning = summarize(raw, info, previous)
    with open(out, "w") as f:
        json.dump(tuning, f, indent=1)
        f.write("\n")
    print(f"tune: wrote {os.path.relpath(out)}", file=sys.stderr)
    print("\n".join(tuning_report.table(tuning)))
    unserved = [name for name, record in tuning["functions"].items() if record["recommended_mb"] is None]
    if unserved:
        sys.exit(f"tune: no size served {', '.join(unserved)}: nothing to recommend")


def summarize_cmd(args):
    with open(args.raw) as f:
        raw = json.load(f)
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": f"tune.py summarize {args.raw}", "cold_starts": raw["cold_starts"],
            "warm_invocations": raw["warm_invocations"], "sizes": raw["sizes"]}
    write_tuning(raw, info, args.out, merge=args.merge)


def load_tuning(path):
    with open(path) as f:
        return json.load(f)


def verify(args):
    """The committed recommendations are what the rule makes of the committed measurements (a
    hand edit of recommended_mb, or a rule changed without a re-run, fails here)."""
    tuning = load_tuning(args.tuning)
    wrong = []
    for name, record in tuning["functions"].items():
        for mb, row in record["sizes"].items():
            if row["outcome"] == "ok":
                expected = round(cost_per_million(int(mb), row["warm_p50_ms"]), 4)
                if abs(expected - row["cost_per_million"]) > 1e-4:
                    wrong.append(f"{name} at {mb} MB: cost_per_million {row['cost_per_million']}, "
                                 f"the prices make it {expected}")
        recommended, fastest = recommend(record["sizes"], record["template_memory_mb"])
        if (recommended, fastest) != (record["recommended_mb"], record["fastest_mb"]):
            wrong.append(f"{name}: recommended_mb {record['recommended_mb']} (fastest {record['fastest_mb']}), "
                         f"the rule makes it {recommended} (fastest {fastest})")
    if wrong:
        sys.exit("tune: infra/bench/tuning.json does not follow its own measurements:\n  " + "\n  ".join(wrong))
    print(f"tune: {len(tuning['functions'])} recommendations follow the rule", file=sys.stderr)


def globals_memory():
    """The template's Globals MemorySize: what a function without `memory` gets."""
    with open(os.path.join(ROOT, "template.yaml")) as f:
        text = f.read()
    globals_block = text[text.index("\nGlobals:"):]
    return int(re.search(r"^    MemorySize: (\d+)$", globals_block, re.M).group(1))


def with_memory(text, memory):
    """function.toml's text with its top-level `memory` set to `memory` (None: removed), every
    other line as it was. Written by hand rather than by a TOML writer, which the standard
    library lacks and which would lose the comments."""
    lines = text.splitlines(keepends=True)
    out, inside_string, placed = [], False, False
    for line in lines:
        if not inside_string and not placed and re.match(r"memory\s*=", line):
            placed = True
            if memory is not None:
                out.append(f"memory = {memory}\n")
            continue
        if not inside_string and not placed and memory is not None and (
                line.startswith("[") or (re.match(r"[a-z_]+\s*=", line) and not line.startswith("about"))):
            # The first key after the description (or the first table): memory goes first.
            out.append(f"memory = {memory}\n" + ("\n" if line.startswith("[") else ""))
            placed = True
        if line.count('"""') % 2 == 1:
            inside_string = not inside_string
        out.append(line)
    return "".join(out)


def apply(args):
    """Each function.toml's `memory` from the table: the recommendation, or none when it is the
    Globals size. Then `make generate` writes the template."""
    tuning = load_tuning(args.tuning)
    default = globals_memory()
    changed = []
    for name, record in tuning["functions"].items():
        path = os.path.join(ROOT, "functions", name, "function.toml")
        if not os.path.exists(path):
            sys.exit(f"tune: {name} is in {args.tuning} but has no functions/{name}/function.toml")
        with open(path) as f:
            text = f.read()
        memory = None if record["recommended_mb"] == default else record["recommended_mb"]
        new = with_memory(text, memory)
        before, after = tomllib.loads(text), tomllib.loads(new)
        before.pop("memory", None)
        got = after.pop("memory", None)
        assert before == after and got == memory, f"{path}: rewriting memory changed more than memory"
        if new != text:
            with open(path, "w") as f:
                f.write(new)
            changed.append(f"{name} {record['template_memory_mb']} -> {record['recommended_mb']} MB")
    print("tune: function.toml memory set: " + ("; ".join(changed) if changed else "no change"), file=sys.stderr)


def rerule(args):
    """The recommendations made again from the committed measurements under today's rule (after
    the rule changed): no measuring, so the sizes it moves are the rule's doing alone."""
    tuning = load_tuning(args.tuning)
    moved = []
    for name, record in tuning["functions"].items():
        recommended, fastest = recommend(record["sizes"], record["template_memory_mb"])
        if recommended != record["recommended_mb"]:
            moved.append(f"{name} {record['recommended_mb']} -> {recommended} MB")
        record["recommended_mb"], record["fastest_mb"] = recommended, fastest
    tuning["rule"] = summarize({"functions": []}, None)["rule"]
    with open(args.tuning, "w") as f:
        json.dump(tuning, f, indent=1)
        f.write("\n")
    print("tune: recommendations under today's rule: " + ("; ".join(moved) if moved else "no change"),
          file=sys.stderr)


def table(args):
    print("\n".join(tuning_report.table(load_tuning(args.tuning))))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="measure every function at every size (root, engines up)")
    run_cmd.add_argument("--bench", required=True, help="lambda_bench's release binary")
    run_cmd.add_argument("--sizes", default=",".join(map(str, SIZES)))
    run_cmd.add_argument("--cold", type=int, default=3, help="starts per function and size")
    run_cmd.add_argument("--warm", type=int, default=10, help="warm invocations per start")
    run_cmd.add_argument("--only", help="these functions (comma-separated); the table keeps the others' rows")
    run_cmd.add_argument("--var", action="append", help="NAME=VALUE added to every function's environment")
    run_cmd.add_argument("--scratch", default=os.path.join(ROOT, "target", "bench"))
    run_cmd.add_argument("--out", default=TUNING_JSON)
    summarize_parser = commands.add_parser("summarize", help="tuning.json from a raw lambda_bench --sizes run")
    summarize_parser.add_argument("raw")
    summarize_parser.add_argument("--out", default=TUNING_JSON)
    summarize_parser.add_argument("--merge", action="store_true", help="keep the rows of functions not in it")
    commands.add_parser("preflight", help="fail unless this can make cgroups (root, cgroup v1)")
    for name, help_text in (("verify", "the recommendations follow the rule"),
                            ("apply", "function.toml memory from the recommendations"),
                            ("rerule", "the recommendations again from the measurements, under today's rule"),
                            ("table", "print the Markdown table")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--tuning", default=TUNING_JSON)
    args = parser.parse_args()
    {"run": run, "preflight": lambda _: preflight(), "summarize": summarize_cmd, "verify": verify, "apply": apply, "rerule": rerule,
     "table": table}[args.command](args)


if __name__ == "__main__":
    main()
