"""Stratus access tokens against PyJWT, which knows nothing of Stratus but the served documents.

1. Discovery and JWKS, as docs/api.md's recipe: the header's `typ` is `at+jwt`; PyJWT's
   PyJWKClient fetches the set from the `jwks_uri` that /.well-known/openid-configuration
   names, picks the key by the token's `kid`, and verifies the signature, `iss` (equal to the
   document's `issuer`), `aud` and the times. The claims are RFC 9068's: `sub` the account's id,
   `client_id`, `scope`. A token with one changed character, or signed by a key the set does
   not hold, is refused. So is every token Stratus signs that is not an access token: the
   email-verification token (here) and a login's mfa_token (totp_flow.py), by `typ` and, even
   for a verifier that skips the `typ` check, by audience.
2. Rotation, with keys made here (cryptography): local-api signs with key A; restarted to sign
   with key B and A retired, it lists B then A, and both A's and B's tokens verify here and are
   accepted by the API; restarted with A dropped, A's tokens are refused by both.
"""

import sys
import tempfile
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

LOG_DIR = local_api.ROOT / "target" / "jose"
AUDIENCE = "stratus-api"


def fail(message: str):
    sys.exit(f"jose: FAILED: {message}")


def pem_key(directory: Path, name: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / f"{name}.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def discovery(base: str) -> dict:
    status, document = local_api.call(base, "GET", "/.well-known/openid-configuration")
    if status != 200 or not document.get("jwks_uri", "").endswith("/.well-known/jwks.json"):
        fail(f"openid-configuration: {status} {document}")
    return document


def verify(base: str, token: str, check_typ: bool = True) -> dict:
    """The claims, if PyJWT accepts the token from what the server publishes, following the
    recipe in docs/api.md (`check_typ=False`: a verifier that skipped its first line)."""
    if check_typ and jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    document = discovery(base)
    key = jwt.PyJWKClient(document["jwks_uri"], cache_jwk_set=False).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience=AUDIENCE,
        issuer=document["issuer"],
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "client_id"]},
    )


def refused_here(base: str, token: str, check_typ: bool = True) -> bool:
    try:
        verify(base, token, check_typ)
    except jwt.PyJWTError:
        return True
    return False


def accepted_by_api(base: str, token: str) -> bool:
    """Whether the API takes the token as an access token of a live account: 404 for a task
    that does not exist means the token was good, 401 that it was not."""
    status, body = local_api.call(base, "GET", f"/result/{uuid.uuid4()}", token=token)
    if status not in (401, 404):
        fail(f"GET /result: {status} {body}")
    return status == 404


def signature_accepted_by_api(base: str, token: str) -> bool:
    """Whether the API verified the token's signature. An embedded local-api forgets its
    accounts when it restarts, so after a restart the API checks the signature, then finds no
    account: it says so, which it says of nothing but a genuine token."""
    status, body = local_api.call(base, "GET", f"/result/{uuid.uuid4()}", token=token)
    if status not in (401, 404):
        fail(f"GET /result: {status} {body}")
    return status == 404 or body.get("detail") == "The account of this token no longer exists"


def non_access_tokens_are_refused():
    """An account that must verify its email gets a verification token at login: signed by the
    same key, refused by the recipe (its `typ`) and, without the `typ` check, by its audience."""
    with local_api.running(LOG_DIR / "verification.log", environment={"REQUIRE_VERIFIED_EMAIL": "true"}) as base:
        status, body = local_api.call(base, "POST", "/register", local_api.registration("jose-unverified"))
        if status != 201:
            fail(f"register: {status} {body}")
        login = {"username": "jose-unverified", "password": local_api.PASSWORD}
        status, body = local_api.call(base, "POST", "/login", login)
        token = body.get("verification_token")
        if status != 403 or not token:
            fail(f"login of an unverified account: {status} {body}")
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "email-verification+jwt":
            fail(f"the verification token's header: {header}")
        if not refused_here(base, token) or not refused_here(base, token, check_typ=False):
            fail("PyJWT, following the recipe, accepted the email-verification token as an access token")
        if accepted_by_api(base, token):
            fail("the API accepted the email-verification token as an access token")
        print("jose: the email-verification token is refused as an access token, by typ and by audience")


def kids(base: str) -> list[str]:
    status, body = local_api.call(base, "GET", "/.well-known/jwks.json")
    if status != 200:
        fail(f"jwks.json: {status} {body}")
    # The access tokens' ES256 keys, then the RS256 key of OAuth's ID tokens.
    es256 = [key for key in body["keys"] if key["kty"] == "EC"]
    for key in es256:
        if (key["kty"], key.get("crv"), key["alg"], key["use"]) != ("EC", "P-256", "ES256", "sig"):
            fail(f"not an ES256 signing JWK: {key}")
    for key in body["keys"][len(es256):]:
        if (key["kty"], key["alg"], key["use"]) != ("RSA", "RS256", "sig") or not key.get("n"):
            fail(f"not an RS256 signing JWK after the ES256 ones: {key}")
    return [key["kid"] for key in es256]


def main():
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        key_a, key_b = pem_key(scratch, "a"), pem_key(scratch, "b")

        # One deployment across the rotation: one address, which is the tokens' issuer.
        port = local_api.free_port()
        with local_api.running(LOG_DIR / "a.log", environment={"STRATUS_SIGNING_KEY_FILE": str(key_a)}, port=port) as base:
            token_a = local_api.register_and_login(base, "jose-a")
            claims = verify(base, token_a)
            if claims["preferred_username"] != "jose-a" or claims["iss"] != discovery(base)["issuer"]:
                fail(f"claims {claims}")
            if uuid.UUID(claims["sub"]).version != 4 or (claims["client_id"], claims["scope"]) != ("stratus", "api"):
                fail(f"RFC 9068 claims {claims}")
            # A fresh account has not typed back its verification code yet.
            if claims.get("email_verified") is not False:
                fail(f"an access token of an unverified account: {claims}")
            header = jwt.get_unverified_header(token_a)
            if header["alg"] != "ES256" or header["typ"] != "at+jwt" or [header["kid"]] != kids(base):
                fail(f"header {header} against {kids(base)}")
            head, payload, signature = token_a.split(".")
            tampered = f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
            if not refused_here(base, tampered):
                fail("a token with a changed signature verified")
            stranger = jwt.encode(dict(claims), ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": header["kid"]})
            if not refused_here(base, stranger) or accepted_by_api(base, stranger):
                fail("a token signed by another key under the same kid was accepted")
            print(f"jose: token verified by PyJWT {jwt.__version__} from {discovery(base)['jwks_uri']}")

        rotated = {"STRATUS_SIGNING_KEY_FILE": str(key_b), "STRATUS_RETIRED_SIGNING_KEY_FILE": str(key_a)}
        with local_api.running(LOG_DIR / "b-with-a.log", environment=rotated, port=port) as base:
            listed = kids(base)
            token_b = local_api.register_and_login(base, "jose-b")
            if listed[1:] != [jwt.get_unverified_header(token_a)["kid"]] or listed[0] != jwt.get_unverified_header(token_b)["kid"]:
                fail(f"after rotation the set is {listed}")
            for name, token in (("old", token_a), ("new", token_b)):
                verify(base, token)
                if not signature_accepted_by_api(base, token):
                    fail(f"the API refused the {name} key's token during the rotation")
            print("jose: rotation: the new key signs, the old key's tokens still verify")

        with local_api.running(LOG_DIR / "b.log", environment={"STRATUS_SIGNING_KEY_FILE": str(key_b)}, port=port) as base:
            if not refused_here(base, token_a) or signature_accepted_by_api(base, token_a):
                fail("the retired key's token still verified after the key was dropped")
            print("jose: once retired, the old key's tokens are refused")
    non_access_tokens_are_refused()
    print("jose: ok")


if __name__ == "__main__":
    main()
