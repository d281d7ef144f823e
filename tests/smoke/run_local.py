"""The smoke test against a release local-api on a free loopback port (`make test`)."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

with local_api.running(local_api.ROOT / "target" / "smoke" / "local-api.log") as base:
    result = subprocess.run([sys.executable, str(Path(__file__).parent / "smoke.py"), base])
sys.exit(result.returncode)
