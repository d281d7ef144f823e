#!/usr/bin/env python3
"""The scaling model's arithmetic against a case worked by hand (standard library only):

    python3 infra/bench/test_scaling.py

Run by `make test` (tests/tests/suite/scaling_doc.rs) beside `scaling.py check`.
"""
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaling  # noqa: E402


def case():
    """Two functions at 1,000,000 MAU: `me` (10 requests per MAU a month, 2 ms, one read unit) and
    `refresh-token` (2 per MAU, 8 ms, 4 write and 2 read units, one ECC signature), both 128 MB,
    every AWS round trip free but KMS Sign's 10 ms, no fixed costs, no data, no logs."""
    prices = scaling.read_toml(os.path.join(scaling.HERE, "prices.toml"))
    prices["fixed"] = {}
    no_cost = dict.fromkeys(scaling.COST_KEYS, 0)
    spec = {"memory_mb": 128, "signs": False, "totp_decrypt": False, "throttle": None, "routes": 1, "queues": {}}
    return {
        "profile": {
            "app": {"name": "a test", "active_days_per_month": 8},
            "requests_per_mau": {"me": 10.0, "refresh-token": 2.0},
            "groups": {"auth": ["me", "refresh-token"]},
            "traffic": {"peak_to_average": 3.0, "message_read_cache_hit_ratio": 0.0, "response_bytes": 0,
                        "log_bytes_per_request": 0, "worker_messages_per_batch": 1.0,
                        "busiest_address_maus_per_million": 0},
            "cold_starts": {"sandboxes_per_concurrent_execution": 2, "sandbox_minutes": 30,
                            "origin_secret_refresh_minutes": 5},
            "aws_latency_ms": {"dynamodb": 0, "sqs": 0, "kms_sign": 10, "ses": 0},
            "storage": {"kb_per_mau": 0, "auth_kb_per_mau": 0},
            "signing": {"sealed_extra_keys": 1, "sealed_sign_ms": 1},
            "steps": {"maus": [1_000_000]},
            "stand_ins": {},
        },
        "figures": {"source": "by hand", "functions": {
            "me": {"memory_mb": 128, "billed_ms": 2, "init_ms": 10.0},
            "refresh-token": {"memory_mb": 128, "billed_ms": 8, "init_ms": 10.0},
        }},
        # tune measured me at another size only: the bench's figure stands.
        "tuning": {"functions": {"me": {"sizes": {"256": {"outcome": "ok", "warm_p50_ms": 0.4}}}}},
        "prices": prices,
        "quotas": [
            {"demand": "route_default_per_second", "short": "default route", "name": "default route",
             "scope": "-", "parameter": "ThrottlingRateLimit", "unit": "requests/s", "source": "template.yaml",
             "lift": "-"},
            {"demand": "kms_ecc_per_second", "short": "ECC", "name": "ECC", "scope": "-", "default": 300,
             "unit": "requests/s", "source": "https://example.com", "lift": "-"},
        ],
        "specs": {
            "me": dict(spec, cost=dict(no_cost, dynamodb_reads=1)),
            "refresh-token": dict(spec, signs=True, throttle="refresh",
                                  cost=dict(no_cost, dynamodb_writes=4, dynamodb_reads=2, kms_signs=1)),
        },
        "parameters": {"ThrottlingRateLimit": 100.0, "RefreshThrottleRateLimit": 50.0},
        "worker": {"max_concurrency": 10, "batch_size": 10, "pending_shards": 8},
    }


MAU = 1_000_000
# 730 hours: 2,628,000 seconds. Peak rates: me 10e6 / 2,628,000 × 3 = 11.4155/s, refresh 2.2831/s.
ME_PEAK = 10e6 / 2_628_000 * 3
REFRESH_PEAK = 2e6 / 2_628_000 * 3
# Each function's peak concurrency is far below one, so each holds one sandbox, replaced every
# 30 minutes: 2,628,000 / 60 / 30 = 1,460 cold starts a month each.
COLD = 1460


class HandWorked(unittest.TestCase):
    def setUp(self):
        self.inputs = case()

    def test_durations_add_the_kms_round_trip_only_when_kms_signs(self):
        self.assertEqual(scaling.duration_ms(self.inputs, "me", "kms"), 2)
        self.assertEqual(scaling.duration_ms(self.inputs, "refresh-token", "kms"), 18)
        self.assertEqual(scaling.duration_ms(self.inputs, "refresh-token", "sealed"), 9)

    def test_tunes_figure_at_the_configured_memory_wins_over_the_bench(self):
        self.inputs["tuning"]["functions"]["refresh-token"] = {
            "sizes": {"128": {"outcome": "ok", "warm_p50_ms": 5.2}, "512": {"outcome": "ok", "warm_p50_ms": 1.1}}}
        self.assertEqual(scaling.billed_ms(self.inputs, "refresh-token"), (6, "tune"))
        self.assertEqual(scaling.billed_ms(self.inputs, "me"), (2, "bench"))
        self.inputs["tuning"]["functions"]["refresh-token"]["sizes"]["128"]["outcome"] = "oom"
        self.assertEqual(scaling.billed_ms(self.inputs, "refresh-token"), (8, "bench"))

    def test_cold_starts(self):
        rows = scaling.volumes(self.inputs, MAU, "kms")
        self.assertAlmostEqual(rows["me"]["cold_starts"], COLD)
        self.assertAlmostEqual(rows["refresh-token"]["cold_starts"], COLD)
        # Never more than one per invocation.
        self.assertEqual(scaling.cold_starts(10, 2, self.inputs["profile"]), 10)
        # A busy function: 2,628,000,000 a month at 100 ms is 300 concurrent at the peak, 600 sandboxes.
        self.assertAlmostEqual(scaling.cold_starts(2_628_000_000, 100, self.inputs["profile"]), 600 * COLD)

    def test_monthly_cost_with_kms_signing(self):
        cost = scaling.monthly_cost(self.inputs, MAU, "kms")
        # 12 M invocations at $0.20 a million; GB-seconds at 128 MB (0.125 GB): me 10 M × 2 ms =
        # 2,500, refresh 2 M × 18 ms = 4,500, inits 2 × 1,460 × 10 ms = 3.65; 7,003.65 GB-s.
        self.assertAlmostEqual(cost["Lambda (requests, GB-seconds, inits)"], 2.40 + 7003.65 * 0.0000133334)
        self.assertAlmostEqual(cost["API Gateway HTTP API"], 12.00)
        # 12 M requests, the first 10 M free.
        self.assertAlmostEqual(cost["CloudFront"], 2.00)
        self.assertAlmostEqual(cost["WAF"], 7.20)
        # me: 10 M reads ($1.25); refresh: 2 M × (4 × $0.625 + 2 × $0.125) per million ($5.50).
        self.assertAlmostEqual(cost["DynamoDB requests"], 6.75)
        self.assertAlmostEqual(cost["KMS"], 30.00)
        # 2,920 sandboxes, each reading the secret 30 / 5 = 6 times: the current value at its cold
        # start, then both values at each of 5 refreshes, 11 calls at $5 a million.
        self.assertAlmostEqual(cost["Secrets Manager"], 2920 * 11 * 5 / 1e6)
        self.assertEqual(cost["at rest (fixed)"], 0)
        # 2.40 + 0.0933825 + 12 + 2 + 7.20 + 6.75 + 30 + 0.1606
        self.assertAlmostEqual(sum(cost.values()), 60.6039825, places=6)

    def test_monthly_cost_sealed(self):
        cost = scaling.monthly_cost(self.inputs, MAU, "sealed")
        # No Sign: one Decrypt per refresh-token sandbox, 1,460 at $3 a million.
        self.assertAlmostEqual(cost["KMS"], COLD * 3 / 1e6)
        # refresh at 9 ms: 2 M × 9 ms × 0.125 = 2,250 GB-s instead of 4,500.
        self.assertAlmostEqual(cost["Lambda (requests, GB-seconds, inits)"], 2.40 + 4753.65 * 0.0000133334)
        self.assertEqual(cost["at rest (fixed)"], 1.00)

    def test_peak_demands(self):
        d = scaling.peak_demands(self.inputs, MAU, "kms")
        self.assertAlmostEqual(d["kms_ecc_per_second"], REFRESH_PEAK)
        self.assertAlmostEqual(d["route_default_per_second"], ME_PEAK)
        self.assertEqual(d["busiest"]["route_default_per_second"], "me")
        self.assertAlmostEqual(d["route_refresh_per_second"], REFRESH_PEAK)
        self.assertAlmostEqual(d["api_per_second"], ME_PEAK + REFRESH_PEAK)
        self.assertAlmostEqual(d["lambda_concurrency"], ME_PEAK * 0.002 + REFRESH_PEAK * 0.018)
        self.assertEqual(scaling.peak_demands(self.inputs, MAU, "sealed")["kms_ecc_per_second"], 0)

    def test_where_a_limit_is_reached(self):
        table, _ = scaling.limits(self.inputs, "kms", [MAU])
        route = next(row for row in table if row["quota"]["demand"] == "route_default_per_second")
        # 100/s at 10 × 3 / 2,628,000 requests a second per MAU: 8,760,000 MAU.
        self.assertAlmostEqual(route["reached_at"], 8_760_000)
        ecc = next(row for row in table if row["quota"]["demand"] == "kms_ecc_per_second")
        self.assertAlmostEqual(ecc["reached_at"], 300 * 2_628_000 / (2 * 3))
        self.assertEqual([row["quota"]["short"] for row in scaling.first_binding(table, 10_000_000)],
                         ["default route"])
        sealed, _ = scaling.limits(self.inputs, "sealed", [MAU])
        self.assertEqual(next(r for r in sealed if r["quota"]["short"] == "ECC")["reached_at"], math.inf)

    def test_prices_with_tiers_and_free_allowances(self):
        prices = self.inputs["prices"]
        self.assertAlmostEqual(scaling.http_api_cost(400e6, prices["prices"]), 300 * 1.00 + 100 * 0.90)
        self.assertEqual(scaling.cognito(100_000, prices), {"essentials": 90_000 * 0.015, "plus": 100_000 * 0.02})
        self.assertEqual(scaling.cognito(5_000, prices)["essentials"], 0)
        self.assertAlmostEqual(scaling.target_per_mau(prices), 0.0001875)

    def test_the_page_renders(self):
        text = scaling.render(self.inputs)
        self.assertIn("| **total** | **$60.60** |", text)
        self.assertIn("**The whole backend meets the target at every step in both modes**", text)
        self.assertIn("| target: ≤ $0.000188/MAU (1/80 of Essentials' list price) | **met** |", text)


class Extract(unittest.TestCase):
    def test_from_lambda_json(self):
        measured = {"functions": [{"function": "me", "memory_mb": 128, "init_ms": [12.0, 10.0, 11.0],
                                   "warm_invoke_ms": [1.1, 0.9, 1.4, 1.0, 1.2]},
                                  {"function": "health", "memory_mb": 128, "init_ms": [9.0],
                                   "warm_invoke_ms": [0.1]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(measured, f)
        try:
            figures = scaling.extract_lambda(f.name)
        finally:
            os.unlink(f.name)
        # p50 of the warm runs is 1.1 ms: billed 2; under a millisecond is billed 1.
        self.assertEqual(figures["me"], {"memory_mb": 128, "billed_ms": 2, "init_ms": 11.0})
        self.assertEqual(figures["health"]["billed_ms"], 1)

    def test_from_benchmarks_md(self):
        text = "\n".join([
            "| function | x86_64 MiB | arm64 MiB | init p50 ms | init p99 ms | init vs baseline | host-store init "
            "p50 ms | first p50 ms | warm p50 ms | warm p99 ms | peak RSS MiB | RSS vs baseline | within target |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            "| me | 16.7 | 15.1 | 12.6 | 16.7 | 6.46× | 18.4 | 3.0 | 1.1 | 1.4 | 14.4 | 3.28× | no: init, RSS |",
            "",
            "| function | memory MB | billed ms | Lambda $ | HTTP API $ | DynamoDB $ | SQS $ | KMS $ | SES $ | total $ |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            "| me | 128 | 2 | 0.20 | 1.00 | 0.12 | 0.00 | 0.00 | 0.00 | **1.33** |",
        ])
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write(text)
        try:
            figures = scaling.extract_benchmarks_md(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(figures, {"me": {"memory_mb": 128, "billed_ms": 2, "init_ms": 12.6}})


class TheRepository(unittest.TestCase):
    def test_every_profiled_function_has_figures_and_a_cost_block(self):
        inputs = scaling.load_inputs()
        for name in list(inputs["profile"]["requests_per_mau"]) + ["worker"]:
            self.assertIsNotNone(inputs["specs"][name]["cost"], name)
            scaling.figure(inputs, name)

    def test_the_throttle_parameters_are_read(self):
        parameters = scaling.load_inputs()["parameters"]
        for name in scaling.THROTTLE_PARAMETERS.values():
            self.assertIn(name, parameters)


if __name__ == "__main__":
    unittest.main()
