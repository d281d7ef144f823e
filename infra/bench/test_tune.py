#!/usr/bin/env python3
"""tune.py's rule and arithmetic on tiny fixtures (run by tests/tests/suite/tuning.rs, or alone:
`python3 infra/bench/test_tune.py`). No cgroups, no measurements: what is checked is what the
committed recommendations are made with."""
import os
import sys
import tomllib
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tune  # noqa: E402


def sizes(p50s, oom=()):
    """A function's rows: MB → warm p50, with the cost tune.py gives that p50 at that size."""
    return {str(mb): {"outcome": "oom" if mb in oom else "ok", "warm_p50_ms": p50,
                      "cost_per_million": tune.cost_per_million(mb, p50)} for mb, p50 in p50s.items()}


class Rule(unittest.TestCase):
    def test_cpu_bound_takes_the_cheapest_size_near_the_fastest(self):
        # argon2-like: time halves with each doubling up to one vCPU, then stops (one thread).
        rows = sizes({128: 560, 256: 280, 512: 140, 1024: 70, 1769: 40.5, 3008: 40})
        self.assertEqual(tune.recommend(rows), (1769, 3008))

    def test_flat_duration_takes_the_smallest_size(self):
        rows = sizes({128: 3.3, 256: 3.2, 512: 3.1, 1024: 3.1, 1769: 3.0, 3008: 3.0})
        self.assertEqual(tune.recommend(rows), (128, 1769))

    def test_ten_percent_is_inclusive_and_eleven_is_not(self):
        self.assertEqual(tune.recommend(sizes({128: 110, 256: 100}))[0], 128)
        self.assertEqual(tune.recommend(sizes({128: 111, 256: 100}))[0], 256)

    def test_under_ten_milliseconds_one_millisecond_is_the_tolerance(self):
        # Tenths of a millisecond are the harness's noise, and bill the same.
        self.assertEqual(tune.recommend(sizes({128: 0.3, 512: 0.1})), (128, 512))
        self.assertEqual(tune.recommend(sizes({128: 4.0, 512: 3.0})), (128, 512))
        self.assertEqual(tune.recommend(sizes({128: 4.1, 512: 3.0}))[0], 512)

    def test_a_size_that_ran_out_of_memory_is_never_chosen(self):
        rows = sizes({128: 3.0, 256: 3.1, 512: 3.1}, oom={128})
        self.assertEqual(tune.recommend(rows), (256, 256))
        timed_out = dict(rows, **{"256": dict(rows["256"], outcome="timeout")})
        self.assertEqual(tune.recommend(timed_out), (512, 512))

    def test_a_smaller_size_loses_when_it_is_slower_and_dearer(self):
        # 512 MB bills 2 ms where 256 MB bills 5: fewer GB-seconds, though twice the memory.
        rows = sizes({256: 4.5, 512: 1.5, 1024: 1.4})
        self.assertEqual(tune.recommend(rows), (512, 1024))

    def test_equal_cost_goes_to_the_smaller_size(self):
        rows = {"128": {"outcome": "ok", "warm_p50_ms": 2.0, "cost_per_million": 0.25},
                "256": {"outcome": "ok", "warm_p50_ms": 2.0, "cost_per_million": 0.25}}
        self.assertEqual(tune.recommend(rows)[0], 128)

    def test_the_configured_size_stays_while_within_twice_the_band(self):
        # login as measured: 1,024 MB is 13% off the fastest, out of the band but inside twice it.
        rows = sizes({512: 96.0, 1024: 35.9, 1769: 31.9, 3008: 31.8})
        self.assertEqual(tune.recommend(rows), (1769, 3008))
        self.assertEqual(tune.recommend(rows, configured=1024), (1024, 3008))
        # Past twice the band (20% here), the configured size goes.
        self.assertEqual(tune.recommend(sizes({1024: 38.5, 1769: 31.9}), configured=1024)[0], 1769)

    def test_a_cheaper_size_in_the_band_moves_the_configured_one_down(self):
        rows = sizes({128: 3.3, 256: 3.2, 512: 3.1})
        self.assertEqual(tune.recommend(rows, configured=512), (128, 512))

    def test_a_configured_size_that_did_not_serve_goes(self):
        rows = sizes({128: 3.0, 256: 3.1}, oom={128})
        self.assertEqual(tune.recommend(rows, configured=128), (256, 256))
        self.assertEqual(tune.recommend(sizes({256: 3.0}), configured=640), (256, 256))

    def test_no_size_served_recommends_nothing(self):
        self.assertEqual(tune.recommend(sizes({128: 1.0, 256: 1.0}, oom={128, 256})), (None, None))


class Arithmetic(unittest.TestCase):
    def test_cost_bills_whole_milliseconds(self):
        # 1.2 ms bills 2 ms: 0.125 GB × 0.002 s × a million × the GB-second price, plus requests.
        expected = 0.20 + 1e6 * 0.125 * 0.002 * tune.PRICES["lambda_arm64_gb_second"]
        self.assertAlmostEqual(tune.cost_per_million(128, 1.2), expected)
        self.assertAlmostEqual(tune.cost_per_million(128, 2.0), expected)
        self.assertAlmostEqual(tune.cost_per_million(128, 0.3), 0.20 + 1e6 * 0.125 * 0.001 * tune.PRICES[
            "lambda_arm64_gb_second"])

    def test_percentile_is_nearest_rank(self):
        values = list(range(1, 21))  # 1..20
        self.assertEqual(tune.percentile(values, 50), 10)
        self.assertEqual(tune.percentile(values, 99), 20)
        self.assertIsNone(tune.percentile([], 50))

    def test_quota_is_memory_over_1769_of_the_period(self):
        self.assertEqual(round(tune.CFS_PERIOD_US * 1769 / tune.MB_PER_VCPU), 100_000)
        self.assertEqual(round(tune.CFS_PERIOD_US * 128 / tune.MB_PER_VCPU), 7236)


class FunctionToml(unittest.TestCase):
    ABOUT = '# header\n\nabout = """\nWhy: memory = a lot.\n[not a table]"""\ntokens = "sign"\n\n[routes]\nA = "GET /a"\n'
    BARE = "# header\n\n[routes]\nA = \"GET /a\"\n"
    SET = "# header\n\nmemory = 1024\ntimeout = 5\n\n[routes]\nA = \"GET /a\"\n"

    def check(self, text, memory):
        new = tune.with_memory(text, memory)
        before, after = tomllib.loads(text), tomllib.loads(new)
        before.pop("memory", None)
        self.assertEqual(after.pop("memory", None), memory)
        self.assertEqual(before, after)
        return new

    def test_memory_goes_after_the_description(self):
        new = self.check(self.ABOUT, 1769)
        self.assertIn('[not a table]"""\nmemory = 1769\ntokens', new)

    def test_memory_goes_before_the_first_table(self):
        self.assertEqual(self.check(self.BARE, 512), "# header\n\nmemory = 512\n\n[routes]\nA = \"GET /a\"\n")

    def test_memory_is_replaced_or_removed(self):
        self.assertEqual(self.check(self.SET, 256), self.SET.replace("1024", "256"))
        self.assertEqual(self.check(self.SET, None), self.SET.replace("memory = 1024\n", ""))
        self.assertEqual(tune.with_memory(self.BARE, None), self.BARE)


if __name__ == "__main__":
    unittest.main()
