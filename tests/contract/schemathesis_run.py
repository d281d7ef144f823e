"""Runs schemathesis against a release local-api with a fresh user's token and the admin's.

Run through tests/contract/run.sh, which installs the pinned tools first.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

CONFIG = local_api.ROOT / "tests" / "contract" / "schemathesis.toml"
OUT = local_api.ROOT / "target" / "schemathesis"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", required=True, help="bin directory of the venv holding schemathesis")
    parser.add_argument("--max-examples", default="200", help="per operation and phase")
    parser.add_argument("--seed", default="20261123")
    args, extra = parser.parse_known_args()

    # The forgot-password floor is a timing defence, not a contract: a short one keeps the run short.
    # Wrong TOTP codes are limited per account (5 in 5 minutes): raised, so the fuzzer reaches the
    # code checks rather than a 429 after its fifth example.
    environment = {"FORGOT_PASSWORD_FLOOR_MS": "20", "MFA_RATE_LIMIT": "1000000", "MFA_USER_RATE_LIMIT": "1000000"}
    with local_api.running(OUT / "local-api.log", environment=environment) as base:
        tokens = {
            "USER_TOKEN": local_api.register_and_login(base, "contract-user"),
            "ADMIN_TOKEN": local_api.login(base, local_api.ADMIN),
        }
        command = [
            str(Path(args.tools) / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            args.max_examples,
            "--seed",
            args.seed,
            "--continue-on-failure",
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-dir",
            str(OUT),
            *extra,
        ]
        started = time.monotonic()
        # Its working directory takes the caches schemathesis writes.
        result = subprocess.run(command, env={**os.environ, **tokens}, cwd=OUT)
        print(f"contract: schemathesis took {time.monotonic() - started:.0f} s", file=sys.stderr)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
