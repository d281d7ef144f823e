"""Starts local-api (an admin bootstrapped, the rate limits raised: tests/support/local_api.py),
logs the admin in for the registration endpoint's bearer token, and runs the three drivers against
it: rp_flow.mjs (openid-client), browser_flow.mjs (chromium) and negative.py (stdlib). Each runs
even when one before it failed; the exit status is non-zero if any did (tests/oidc/run.sh).
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = local_api.ROOT / "target" / "oidc"
DRIVERS = [
    ("rp_flow", ["node", str(HERE / "rp_flow.mjs")]),
    ("browser_flow", ["node", str(HERE / "browser_flow.mjs")]),
    ("negative", [sys.executable, str(HERE / "negative.py")]),
]

failed = []
with local_api.running(OUT / "local-api.log") as base:
    environment = {
        **os.environ,
        "BASE_URL": base,
        "ADMIN_TOKEN": local_api.login(base, local_api.ADMIN),
        "USER_PASSWORD": local_api.PASSWORD,
        "SCREENSHOT": str(OUT / "login.png"),
    }
    for name, command in DRIVERS:
        print(f"oidc: {name}", flush=True)
        code = subprocess.run(command, env=environment).returncode
        if code != 0:
            failed.append(f"{name} (exit {code})")

if failed:
    sys.exit(f"oidc: FAILED: {', '.join(failed)}; local-api's log is {OUT / 'local-api.log'}")
print("oidc: ok")
