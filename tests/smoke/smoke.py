"""The public flow against a running Stratus, at the URL given and nowhere else: health, a
message round trip, register, login, the profile, a task and its result. Ready for a deployed
stack (`make smoke URL=https://…`); `make test` runs it against local-api.

Usage: python3 tests/smoke/smoke.py BASE_URL
"""

import json
import secrets
import sys
import time
import urllib.error
import urllib.request


class Failed(Exception):
    pass


def call(base, method, path, body=None, token=None, expect=200):
    headers = {"content-type": "application/json", "user-agent": "stratus-smoke"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    if status != expect:
        raise Failed(f"{method} {path}: {status}, expected {expect}: {raw[:500]!r}")
    return json.loads(raw) if raw else {}


def step(name, action):
    started = time.monotonic()
    result = action()
    print(f"smoke: {name:<28} ok  {1000 * (time.monotonic() - started):7.1f} ms")
    return result


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].startswith(("http://", "https://")):
        print(__doc__, file=sys.stderr)
        return 2
    base = sys.argv[1].rstrip("/")
    name = f"smoke{secrets.token_hex(6)}"
    password = f"smoke test {secrets.token_hex(8)} passphrase"
    text = f"smoke message {secrets.token_hex(8)}"
    try:
        health = step("GET /health", lambda: call(base, "GET", "/health"))
        if health.get("status") != "ok":
            raise Failed(f"/health says {health}")
        digest = step("POST /messages", lambda: call(base, "POST", "/messages", {"message": text}, expect=201))["digest"]
        found = step("GET /messages/{digest}", lambda: call(base, "GET", f"/messages/{digest}"))
        if found.get("message") != text:
            raise Failed(f"the message came back as {found}")
        registration = {
            "username": name,
            "password": password,
            # SES's mailbox simulator accepts the verification mail and bounces nothing: an
            # @example.com address would hard-bounce on every run against a real stack and
            # wear down the account's reputation. The +label keeps each run's address unique.
            "email": f"success+{name}@simulator.amazonses.com",
            "first_name": "Smoke",
            "last_name": "Test",
        }
        step("POST /register", lambda: call(base, "POST", "/register", registration, expect=201))
        tokens = step("POST /login", lambda: call(base, "POST", "/login", {"username": name, "password": password}))
        token = tokens["access_token"]
        me = step("GET /users/me", lambda: call(base, "GET", "/users/me", token=token))
        if me.get("username") != name:
            raise Failed(f"/users/me is {me}")
        task = step("POST /add", lambda: call(base, "POST", "/add", {"a": 2, "b": 3}, token=token, expect=202))

        def result():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                body = call(base, "GET", f"/result/{task['task_id']}", token=token)
                if body.get("ready"):
                    return body
                time.sleep(0.5)
            raise Failed("the task was not done within 60 s")

        done = step("GET /result/{task_id}", result)
        if done.get("value") != 5:
            raise Failed(f"2 + 3 came back as {done}")
    except (Failed, OSError, KeyError, ValueError) as error:
        print(f"smoke: FAILED: {error}", file=sys.stderr)
        return 1
    print(f"smoke: {base} works")
    return 0


if __name__ == "__main__":
    sys.exit(main())
