#!/usr/bin/env python3
"""Login latency and task throughput against a running local-api (standard library only).

    python3 infra/bench/flows.py [http://127.0.0.1:3000] [--json summary.json]

Start local-api with limits out of the way, e.g.
    LOGIN_RATE_LIMIT=1000000 ADD_RATE_LIMIT=1000000 REGISTER_RATE_LIMIT=1000000 \\
    cargo run --release -p local-api
"""
import argparse
import json
import statistics
import threading
import time
import urllib.request
import uuid

PASSWORD = "analytical engine 1843"


def call(base, method, path, body=None, token=None):
    """One JSON request; returns (status, decoded body). bench.py uses it too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return response.status, json.loads(response.read() or b"null")


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", nargs="?", default="http://127.0.0.1:3000")
    parser.add_argument("--json", dest="json_out", help="also write the numbers here")
    args = parser.parse_args()
    base = args.base
    name = "bench" + uuid.uuid4().hex[:8]
    call(base, "POST", "/register", {"username": name, "password": PASSWORD, "email": name + "@example.com",
                                     "first_name": "Bench", "last_name": "Mark"})
    logins = []
    for _ in range(50):
        started = time.perf_counter()
        _, tokens = call(base, "POST", "/login", {"username": name, "password": PASSWORD})
        logins.append((time.perf_counter() - started) * 1000)
    token = tokens["access_token"]
    print(f"login: n=50 p50={statistics.median(logins):.1f} ms p90={percentile(logins, 90):.1f} ms")

    total, threads = 400, 8
    latencies, lock = [], threading.Lock()

    def submit_and_wait(count):
        for i in range(count):
            started = time.perf_counter()
            _, accepted = call(base, "POST", "/add", {"a": i, "b": 1}, token)
            while True:
                _, result = call(base, "GET", "/result/" + accepted["task_id"], token=token)
                if result["ready"]:
                    break
                time.sleep(0.001)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    workers = [threading.Thread(target=submit_and_wait, args=(total // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    print(f"tasks: n={total} concurrency={threads} {total / elapsed:.0f} tasks/s "
          f"submit->succeeded p50={statistics.median(latencies):.1f} ms p90={percentile(latencies, 90):.1f} ms")

    # Worker throughput: a burst of submissions, then wait for the last to complete.
    burst, ids = 1000, []

    def submit_only(count):
        for i in range(count):
            _, accepted = call(base, "POST", "/add", {"a": i, "b": 2}, token)
            with lock:
                ids.append(accepted["task_id"])

    started = time.perf_counter()
    workers = [threading.Thread(target=submit_only, args=(burst // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    submitted = time.perf_counter() - started
    for task_id in reversed(ids):
        while not call(base, "GET", "/result/" + task_id, token=token)[1]["ready"]:
            time.sleep(0.005)
    done = time.perf_counter() - started
    print(f"burst: {burst} tasks submitted in {submitted:.2f} s, all succeeded after {done:.2f} s "
          f"({burst / done:.0f} tasks/s end to end)")

    if args.json_out:
        summary = {
            "login": {"n": len(logins), "p50_ms": statistics.median(logins), "p90_ms": percentile(logins, 90)},
            "tasks": {"n": total, "concurrency": threads, "per_second": total / elapsed,
                      "p50_ms": statistics.median(latencies), "p90_ms": percentile(latencies, 90)},
            "burst": {"n": burst, "submitted_s": submitted, "done_s": done, "per_second": burst / done},
        }
        with open(args.json_out, "w") as out:
            json.dump(summary, out, indent=2)


if __name__ == "__main__":
    main()
