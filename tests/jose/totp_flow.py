"""Stratus TOTP (RFC 6238) against pyotp, which knows nothing of Stratus but the otpauth URI.

1. Enrolment: `POST /users/me/mfa/totp`, given the password, answers a secret and an
   `otpauth://` URI; pyotp parses the URI to the same secret (base32 of 20 bytes), the issuer,
   SHA1, 6 digits and 30 s. Without the password, a bare access token cannot begin it.
2. `POST /users/me/mfa/totp/confirm` takes pyotp's current code and answers ten recovery codes
   and a new session; the access token from before no longer works.
3. A login now answers `mfa_required` and an `mfa_token` that PyJWT, following the recipe in
   docs/api.md (and even skipping its `typ` check), refuses as an access token, and so does the
   API; `POST /login/mfa` takes pyotp's code for the step after the one the confirmation spent.
4. Each code is good once: the same code again, and the confirmation's earlier code, are 400;
   a recovery code completes a login once, and is 400 the second time. An mfa_token completes
   one login: sent again, it is 401.
5. The access token the second step answers verifies with PyJWT from the served JWK Set, as
   verify_tokens.py does.
"""

import base64
import importlib.metadata
import sys
import time
import urllib.parse
from pathlib import Path

import jwt
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402
from verify_tokens import accepted_by_api, refused_here, verify  # noqa: E402  (PyJWT from the served JWKS)

LOG_DIR = local_api.ROOT / "target" / "jose"
ISSUER = "Stratus"  # TOTP_ISSUER's default: the name the app shows
USERNAME = "jose-totp"
PERIOD = 30


def fail(message: str):
    sys.exit(f"totp: FAILED: {message}")


def password_step(base: str) -> str:
    """A login's first step for the TOTP user: its mfa_token."""
    status, body = local_api.call(base, "POST", "/login", {"username": USERNAME, "password": local_api.PASSWORD})
    if status != 200 or body.get("mfa_required") is not True or "access_token" in body:
        fail(f"login with TOTP on: {status} {body}")
    if not body.get("mfa_token") or not 0 < body.get("expires_in", 0) <= 300:
        fail(f"login's challenge: {body}")
    return body["mfa_token"]


def second_step(base: str, code: str) -> tuple[int, dict]:
    return local_api.call(base, "POST", "/login/mfa", {"mfa_token": password_step(base), "code": code})


def refused(base: str, code: str, what: str):
    status, body = second_step(base, code)
    if status != 400 or [error.get("field") for error in body.get("errors", [])] != ["code"]:
        fail(f"{what}: expected 400 naming `code`, got {status} {body}")


def main():
    with local_api.running(LOG_DIR / "totp.log") as base:
        token = local_api.register_and_login(base, USERNAME)

        # 1. Enrolment, read back by pyotp; the password is asked first.
        status, body = local_api.call(base, "POST", "/users/me/mfa/totp", {}, token=token)
        if status != 400:
            fail(f"POST /users/me/mfa/totp without the password: {status} {body}")
        status, setup = local_api.call(base, "POST", "/users/me/mfa/totp", {"password": local_api.PASSWORD}, token=token)
        if status != 200 or set(setup) != {"secret", "otpauth_uri"}:
            fail(f"POST /users/me/mfa/totp: {status} {setup}")
        secret, uri = setup["secret"], setup["otpauth_uri"]
        if len(base64.b32decode(secret + "=" * (-len(secret) % 8))) != 20:
            fail(f"the secret {secret!r} is not base32 of 20 bytes")
        parsed = pyotp.parse_uri(uri)
        if not isinstance(parsed, pyotp.TOTP):
            fail(f"pyotp read {uri} as {type(parsed).__name__}, not TOTP")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
        got = (parsed.secret, parsed.issuer, parsed.name, parsed.digits, parsed.interval, parsed.digest().name)
        want = (secret, ISSUER, USERNAME, 6, PERIOD, "sha1")
        if got != want or query.get("algorithm") != ["SHA1"]:
            fail(f"pyotp read {uri} as {got}, expected {want}")
        totp = pyotp.TOTP(secret)
        print(f"totp: pyotp {importlib.metadata.version('pyotp')} reads {uri.split('?')[0]} as the API means it")

        # 2. Confirmation with pyotp's current code.
        confirmed_at = time.time()
        status, body = local_api.call(base, "POST", "/users/me/mfa/totp/confirm", {"code": totp.at(confirmed_at)}, token=token)
        codes = body.get("recovery_codes", [])
        if status != 200 or len(codes) != 10 or len(set(codes)) != 10 or not body.get("access_token"):
            fail(f"confirm: {status} {body}")
        if accepted_by_api(base, token):
            fail("the access token from before TOTP was turned on still works")
        token = body["access_token"]
        for code in codes:
            left, _, right = code.partition("-")
            if len(left) != 5 or len(right) != 5 or not (left + right).isalnum():
                fail(f"recovery code {code!r} is not xxxxx-xxxxx")
        status, body = local_api.call(base, "POST", "/users/me/mfa/totp", {"password": local_api.PASSWORD}, token=token)
        if status != 409:
            fail(f"a second set-up with TOTP on: {status} {body}")

        # 3. The password alone no longer logs in; its mfa_token is no access token.
        mfa_token = password_step(base)
        if jwt.get_unverified_header(mfa_token).get("typ") != "mfa-step+jwt":
            fail(f"the mfa_token's header: {jwt.get_unverified_header(mfa_token)}")
        if not refused_here(base, mfa_token) or not refused_here(base, mfa_token, check_typ=False):
            fail("PyJWT, following the recipe, accepted the mfa_token as an access token")
        if accepted_by_api(base, mfa_token):
            fail("the API accepted the mfa_token as an access token")
        # The confirmation spent its step: the code of the step after it (the server allows
        # ±1 step), pinned to that step rather than to the clock so a step boundary crossed
        # meanwhile cannot push it out of the window.
        spent_step = int(confirmed_at) // PERIOD
        next_code = totp.at((spent_step + 1) * PERIOD)
        status, pair = local_api.call(base, "POST", "/login/mfa", {"mfa_token": mfa_token, "code": next_code})
        if status != 200 or not pair.get("access_token") or not pair.get("refresh_token"):
            fail(f"POST /login/mfa with pyotp's next code: {status} {pair}")

        # 4. Once each.
        status, body = local_api.call(base, "POST", "/login/mfa", {"mfa_token": mfa_token, "code": totp.at((spent_step + 2) * PERIOD)})
        if status != 401:
            fail(f"an mfa_token used a second time: {status} {body}")
        refused(base, next_code, "the same code again")
        refused(base, totp.at(confirmed_at), "the confirmation's (earlier) code")
        status, body = second_step(base, codes[0])
        if status != 200 or not body.get("access_token"):
            fail(f"POST /login/mfa with a recovery code: {status} {body}")
        refused(base, codes[0], "a recovery code used twice")
        print("totp: codes and recovery codes are good once")

        # 5. The tokens of the second step.
        for name, access in (("TOTP code", pair["access_token"]), ("recovery code", body["access_token"])):
            claims = verify(base, access)
            if claims["preferred_username"] != USERNAME or claims["scope"] != "api" or not accepted_by_api(base, access):
                fail(f"the access token after a {name}: {claims}")
        print(f"totp: the second step's access tokens verified by PyJWT {jwt.__version__}")
    print("totp: ok")


main()
