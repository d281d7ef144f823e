"""A release local-api on a free loopback port, for the suites written outside Rust
(schemathesis, the browser test, the smoke test): started, waited for, and stopped by PID.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cargo_target_dir() -> Path:
    """Where cargo put the builds: infra/local/paths.sh says, unless the environment does."""
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"])
    paths = subprocess.run(
        ["bash", str(ROOT / "infra/local/paths.sh")], check=True, capture_output=True, text=True
    ).stdout
    return Path(dict(line.split("=", 1) for line in paths.splitlines())["CARGO_TARGET_DIR"])


BINARY = _cargo_target_dir() / "release" / "local-api"
PASSWORD = "outside suites passphrase 7"
ADMIN = "suite-admin"
# Generous enough that no suite meets a limit; the limits have tests of their own.
RAISED_LIMITS = {
    "LOGIN_RATE_LIMIT": "1000000",
    "LOGIN_USER_RATE_LIMIT": "1000000",
    "REGISTER_RATE_LIMIT": "1000000",
    "ADD_RATE_LIMIT": "1000000",
    "MESSAGE_RATE_LIMIT": "1000000",
    "RECOVERY_RATE_LIMIT": "1000000",
    "MAIL_RATE_LIMIT": "1000000",
    "VERIFICATION_MAIL_RATE_LIMIT": "1000000",
    "PASSWORD_WORK_RATE_LIMIT": "1000000",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict]:
    """One JSON request; the status and the decoded body (empty when there is none)."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def registration(username: str) -> dict:
    return {
        "username": username,
        "password": PASSWORD,
        "email": f"{username}@example.com",
        "first_name": "Suite",
        "last_name": "User",
    }


def register_and_login(base: str, username: str) -> str:
    """A fresh user's access token."""
    status, body = call(base, "POST", "/register", registration(username))
    if status != 201:
        sys.exit(f"register {username}: {status} {body}")
    return login(base, username)


def login(base: str, username: str) -> str:
    status, body = call(base, "POST", "/login", {"username": username, "password": PASSWORD})
    if status != 200:
        sys.exit(f"login {username}: {status} {body}")
    return body["access_token"]


@contextlib.contextmanager
def running(log: Path, binary: Path = BINARY, environment: dict | None = None, port: int | None = None):
    """Yields the base URL of a local-api on the embedded backend, with an admin (`ADMIN`) and the
    rate limits raised; its output goes to `log`. On `port` when given: local-api's address is its
    tokens' issuer, so servers that stand for one deployment in turn share one."""
    if not binary.exists():
        sys.exit(f"{binary} is missing; build it first: cargo build --release -p local-api")
    log.parent.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **RAISED_LIMITS,
        "RUST_LOG": "warn",
        "STRATUS_ADMIN_USERNAME": ADMIN,
        "STRATUS_ADMIN_EMAIL": f"{ADMIN}@example.com",
        "STRATUS_ADMIN_PASSWORD": PASSWORD,
        **(environment or {}),
    }
    with log.open("w") as output:
        process = subprocess.Popen([str(binary), "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                sys.exit(f"local-api exited with {process.returncode}:\n{log.read_text()}")
            with contextlib.suppress(OSError):
                if call(base, "GET", "/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                sys.exit(f"local-api did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield base
        if process.poll() is not None:
            sys.exit(f"local-api died during the run:\n{log.read_text()}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
