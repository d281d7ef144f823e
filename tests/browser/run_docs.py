"""Starts local-api and runs tests/browser/docs.mjs against it (tests/browser/run.sh)."""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

OUT = local_api.ROOT / "target" / "browser"

with local_api.running(OUT / "local-api.log") as base:
    environment = {**os.environ, "BASE_URL": base, "SCREENSHOT": str(OUT / "docs.png")}
    result = subprocess.run(["node", str(Path(__file__).parent / "docs.mjs")], env=environment)
sys.exit(result.returncode)
