"""What the provider must refuse, and how (the contract in issue 25): bad redirect URIs never
redirect; request errors redirect with `error` and `state`; codes are PKCE-bound, single-use and
their replay revokes what the first use gave; client authentication is enforced; the hosted forms
need their CSRF token; logout redirects only to a registered URI. Stdlib only, and redirects are
never followed: each answer is looked at as the server sent it.

Usage: BASE_URL=… ADMIN_TOKEN=… USER_PASSWORD=… python3 tests/oidc/negative.py   (tests/oidc/run.sh)
Set OIDC_WAIT_FOR_CODE_EXPIRY=1 to also wait out a code's 60 s lifetime.
"""

import base64
import email.utils
import hashlib
import html.parser
import json
import os
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

BASE = os.environ.get("BASE_URL") or sys.exit("BASE_URL is not set; run tests/oidc/run.sh")
ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN") or sys.exit("ADMIN_TOKEN is not set")
PASSWORD = os.environ.get("USER_PASSWORD", local_api.PASSWORD)
USERNAME = "oidc-negative"
# Nothing listens on these: the redirects are read, not followed.
REDIRECT_URI = "http://127.0.0.1:8977/cb"
PUBLIC_REDIRECT_URI = "http://127.0.0.1:8977/public-cb"
POST_LOGOUT_URI = "http://127.0.0.1:8977/logged-out"
SCOPE = "openid offline_access"  # the confidential client's requests: a refresh token to see revoked


class Failure(Exception):
    pass


def expect(condition, message: str):
    if not condition:
        raise Failure(message)


# --- HTTP without following redirects ------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Returning None makes urllib hand the 3xx back as an HTTPError: the answer as sent."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Answer:
    status: int
    headers: dict  # lower-case names; Set-Cookie lines kept apart in `cookies`
    body: bytes
    cookies: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {"unparsed": self.text[:300]}

    @property
    def location(self) -> str | None:
        return self.headers.get("location")

    def is_html(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/html")

    def __str__(self) -> str:
        where = f" -> {self.location}" if self.location else ""
        return f"{self.status}{where} {self.text[:300]!r}"


def send(method: str, url: str, form: dict | None = None, headers: dict | None = None, basic: tuple | None = None) -> Answer:
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    if basic:
        # RFC 6749 §2.3.1: each part form-urlencoded before base64.
        pair = f"{urllib.parse.quote(basic[0], safe='')}:{urllib.parse.quote(basic[1], safe='')}"
        headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        response = _OPENER.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return Answer(
            response.code,
            {k.lower(): v for k, v in response.headers.items() if k.lower() != "set-cookie"},
            response.read(),
            response.headers.get_all("Set-Cookie") or [],
        )


# --- The hosted pages without a browser ----------------------------------------------------------


class _Forms(html.parser.HTMLParser):
    """The forms of a page: action, method, inputs (name, value, type) and buttons."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(), "inputs": [], "buttons": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(attrs)
        elif tag == "button" and self.forms:
            self._button = {**attrs, "text": ""}
            self.forms[-1]["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


def forms_of(page: str) -> list[dict]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def form_fields(form: dict, filled: dict, button: dict | None = None, leave_out: tuple = ()) -> dict:
    """What a browser submits for `form`, minus `leave_out` (to test what the server requires)."""
    body = {}
    for attrs in form["inputs"]:
        name, kind = attrs.get("name"), attrs.get("type", "text").lower()
        if not name or kind in ("submit", "button", "image", "reset") or name in leave_out:
            continue
        body[name] = filled.get(name, attrs.get("value", ""))
    if button and button.get("name"):
        body[button["name"]] = button.get("value", "")
    return body


def _expires_now(attribute: str) -> bool:
    """A Set-Cookie attribute that deletes the cookie: Max-Age of 0 or less, or Expires passed."""
    name, _, value = attribute.partition("=")
    name = name.strip().lower()
    if name == "max-age":
        return value.strip().lstrip("-").isdigit() and int(value) <= 0
    if name == "expires":
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() < time.time()
        except (TypeError, ValueError):
            return False
    return False


class Person:
    """One browser profile: its cookies (name → value; a cookie set to expire is dropped), and the
    forms it fills in. Plain dict rather than http.cookiejar so what is sent is exactly what the
    server set, whatever its attributes."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def send(self, method: str, url: str, form: dict | None = None) -> Answer:
        headers = {}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            # A browser sends Origin with a form; with it, a refusal can only be about the CSRF token.
            headers["origin"] = BASE
        answer = send(method, url, form, headers)
        for line in answer.cookies:
            pair, *attrs = [part.strip() for part in line.split(";")]
            name, _, value = pair.partition("=")
            if any(_expires_now(a) for a in attrs):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def login_page(self, url: str) -> tuple[dict, str]:
        """GET the authorization URL, expecting the login form; the form and the page's URL."""
        answer = self.send("GET", url)
        expect(answer.status == 200 and answer.is_html(), f"GET /authorize without a session: {answer}")
        form = next((f for f in forms_of(answer.text) if any(i.get("name") == "password" for i in f["inputs"])), None)
        expect(form, f"no login form: {answer.text[:300]!r}")
        return form, url

    def authorize(self, url: str, redirect_uri: str) -> urllib.parse.SplitResult:
        """Through login and consent to the 303 to `redirect_uri`; its URL, not followed."""
        answer = self.send("GET", url)
        page_url = url
        for _ in range(10):
            if 300 <= answer.status < 400:
                target = urllib.parse.urljoin(page_url, answer.location or "")
                if target.split("?")[0] == redirect_uri:
                    expect(answer.status == 303, f"the redirect to the client is {answer.status}, not 303")
                    return urllib.parse.urlsplit(target)
                expect(target.startswith(BASE + "/"), f"a redirect to neither the server nor the client: {target}")
                page_url, answer = target, self.send("GET", target)
                continue
            expect(answer.status == 200, f"{page_url}: {answer}")
            forms = forms_of(answer.text)
            login = next((f for f in forms if any(i.get("name") == "password" for i in f["inputs"])), None)
            consent = next((f for f in forms if any(b.get("name") == "decision" for b in f["buttons"])), None)
            if login:
                form, body = login, form_fields(login, {"username": USERNAME, "password": PASSWORD})
            elif consent:
                allow = next(b for b in consent["buttons"] if b.get("name") == "decision" and b.get("value") == "allow")
                form, body = consent, form_fields(consent, {}, allow)
            else:
                raise Failure(f"a page with no login or consent form at {page_url}: {answer.text[:300]!r}")
            page_url = urllib.parse.urljoin(page_url, form["action"])
            answer = self.send("POST", page_url, body)
        raise Failure(f"no redirect to {redirect_uri} after 10 pages")


# --- OAuth helpers -------------------------------------------------------------------------------


def register_client(metadata: dict) -> dict:
    status, body = local_api.call(BASE, "POST", "/oauth/clients", metadata, token=ADMIN_TOKEN)
    expect(status == 201, f"POST /oauth/clients: {status} {body}")
    return body


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id: str, redirect_uri: str, challenge: str | None = None, scope: str = "openid", **overrides) -> tuple[str, str]:
    """An authorization URL and its state; `overrides` replace or (as None) remove parameters."""
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge or pkce()[1],
        "code_challenge_method": "S256",
    }
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return f"{DISCOVERY['authorization_endpoint']}?{urllib.parse.urlencode(params)}", params.get("state", state)


def code_for(person: Person, client: dict, redirect_uri: str, scope: str) -> tuple[str, str]:
    """A fresh code and its PKCE verifier."""
    verifier, challenge = pkce()
    url, state = authorize_url(client["client_id"], redirect_uri, challenge, scope)
    query = dict(urllib.parse.parse_qsl(person.authorize(url, redirect_uri).query))
    expect(query.get("code") and query.get("state") == state, f"authorization response: {query}")
    return query["code"], verifier


def token(form: dict, client: dict | None = None, secret: str | None = None) -> Answer:
    """POST to the token endpoint; client_secret_basic when `client` has (or is given) a secret."""
    basic = None
    if client is not None:
        secret = secret if secret is not None else client.get("client_secret")
        if secret is None:
            form = {**form, "client_id": client["client_id"]}
        else:
            basic = (client["client_id"], secret)
    return send("POST", DISCOVERY["token_endpoint"], form, basic=basic)


def redeem(client: dict, code: str, verifier: str | None, redirect_uri: str = REDIRECT_URI) -> Answer:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        form["code_verifier"] = verifier
    return token(form, client)


def introspect(client: dict, value: str) -> dict:
    answer = send("POST", DISCOVERY["introspection_endpoint"], {"token": value}, basic=(client["client_id"], client["client_secret"]))
    expect(answer.status == 200, f"introspection: {answer}")
    return answer.json()


def oauth_error(answer: Answer, status: int, *codes: str):
    expect(answer.status == status and answer.json().get("error") in codes, f"expected {status} {' or '.join(codes)}, got {answer}")


def error_redirect(answer: Answer, redirect_uri: str, state: str, code: str):
    """A 303 to the client carrying `error`, the request's `state` and `iss`."""
    expect(answer.status == 303 and answer.location, f"expected a 303 to {redirect_uri}, got {answer}")
    target = urllib.parse.urlsplit(answer.location)
    query = dict(urllib.parse.parse_qsl(target.query))
    expect(answer.location.split("?")[0] == redirect_uri, f"redirected to {answer.location}, not {redirect_uri}")
    expect(query.get("error") == code, f"error={query.get('error')}, expected {code} ({answer.location})")
    expect(query.get("state") == state, f"state {query.get('state')!r}, expected {state!r}")
    expect(query.get("iss") == DISCOVERY["issuer"], f"iss {query.get('iss')!r}, expected {DISCOVERY['issuer']!r}")


def no_redirect(answer: Answer, status: int, what: str):
    """An HTML error page: never a redirect (the URI cannot be trusted)."""
    expect(answer.status == status, f"{what}: expected {status}, got {answer}")
    expect(not answer.location, f"{what}: a Location header {answer.location}")
    expect(answer.is_html(), f"{what}: content-type {answer.headers.get('content-type')}, not text/html")


# --- The cases -----------------------------------------------------------------------------------

CASES = []


def case(function):
    CASES.append(function)
    return function


@case
def unregistered_redirect_uris():
    """Unknown client, unregistered or extended redirect URIs: 400 HTML, no redirect."""
    for what, client_id, uri in [
        ("unknown client_id", "no-such-client", REDIRECT_URI),
        ("unregistered redirect_uri", CONFIDENTIAL["client_id"], "http://127.0.0.1:8977/elsewhere"),
        ("registered + /x", CONFIDENTIAL["client_id"], REDIRECT_URI + "/x"),
        ("registered + ?a=b", CONFIDENTIAL["client_id"], REDIRECT_URI + "?a=b"),
    ]:
        url, _ = authorize_url(client_id, uri)
        no_redirect(send("GET", url), 400, what)


@case
def request_errors_redirect():
    """PKCE missing or plain, response_type=token: 303 to the client with error and state."""
    for what, overrides, code in [
        ("no code_challenge", {"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ("code_challenge_method=plain", {"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ("response_type=token", {"response_type": "token"}, "unsupported_response_type"),
    ]:
        url, state = authorize_url(CONFIDENTIAL["client_id"], REDIRECT_URI, **overrides)
        try:
            error_redirect(send("GET", url), REDIRECT_URI, state, code)
        except Failure as failure:
            raise Failure(f"{what}: {failure}") from None


@case
def prompt_none_without_session():
    url, state = authorize_url(CONFIDENTIAL["client_id"], REDIRECT_URI, prompt="none")
    error_redirect(Person().send("GET", url), REDIRECT_URI, state, "login_required")


@case
def wrong_code_verifier():
    code, _ = code_for(PERSON, CONFIDENTIAL, REDIRECT_URI, SCOPE)
    oauth_error(redeem(CONFIDENTIAL, code, pkce()[0]), 400, "invalid_grant")


@case
def code_reuse_revokes_the_first_use():
    code, verifier = code_for(PERSON, CONFIDENTIAL, REDIRECT_URI, SCOPE)
    first = redeem(CONFIDENTIAL, code, verifier)
    expect(first.status == 200, f"first use: {first}")
    tokens = first.json()
    expect(tokens.get("refresh_token"), f"no refresh_token in the first use (scope offline_access): {tokens}")
    oauth_error(redeem(CONFIDENTIAL, code, verifier), 400, "invalid_grant")
    refreshed = token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, CONFIDENTIAL)
    expect(refreshed.status == 400 and refreshed.json().get("error") == "invalid_grant", f"the first use's refresh token after the replay: {refreshed}")
    state = introspect(CONFIDENTIAL, tokens["access_token"])
    expect(state.get("active") is False, f"the first use's access token after the replay introspects {state}")
    userinfo = send("GET", DISCOVERY["userinfo_endpoint"], headers={"authorization": f"Bearer {tokens['access_token']}"})
    expect(userinfo.status == 401, f"userinfo with the first use's access token after the replay: {userinfo}")


@case
def expired_code():
    if os.environ.get("OIDC_WAIT_FOR_CODE_EXPIRY") != "1":
        return "skipped: local-api has no clock to move and a code lives 60 s; set OIDC_WAIT_FOR_CODE_EXPIRY=1 to wait it out (the Rust suite covers expiry)"
    code, verifier = code_for(PERSON, CONFIDENTIAL, REDIRECT_URI, SCOPE)
    time.sleep(61)
    oauth_error(redeem(CONFIDENTIAL, code, verifier), 400, "invalid_grant")


@case
def wrong_client_secret():
    answer = token({"grant_type": "authorization_code", "code": "whatever", "redirect_uri": REDIRECT_URI, "code_verifier": pkce()[0]}, CONFIDENTIAL, secret="not-the-secret")
    oauth_error(answer, 401, "invalid_client")
    challenge = answer.headers.get("www-authenticate", "")
    expect(challenge.lower().startswith("basic"), f"WWW-Authenticate: {challenge!r}")


@case
def public_client_without_code_verifier():
    code, _ = code_for(PERSON, PUBLIC, PUBLIC_REDIRECT_URI, "openid")
    oauth_error(redeem(PUBLIC, code, None, PUBLIC_REDIRECT_URI), 400, "invalid_request", "invalid_grant")


@case
def login_form_without_csrf():
    """The login form posted without its CSRF field, and then without the CSRF cookie: 403 HTML."""
    for what in ("field", "cookie"):
        person = Person()
        url, _ = authorize_url(CONFIDENTIAL["client_id"], REDIRECT_URI)
        form, page_url = person.login_page(url)
        expect(any(i.get("name") == "csrf" for i in form["inputs"]), "the login form has no csrf field")
        body = form_fields(form, {"username": USERNAME, "password": PASSWORD}, leave_out=("csrf",) if what == "field" else ())
        if what == "cookie":
            expect(person.cookies, "the login page set no cookie to carry the CSRF token")
            # Every cookie dropped: before signing in, the CSRF cookie is all there is to lose.
            person.cookies.clear()
        no_redirect(person.send("POST", urllib.parse.urljoin(page_url, form["action"]), body), 403, f"POST /authorize without the CSRF {what}")


@case
def logout_to_unregistered_uri():
    code, verifier = code_for(PERSON, CONFIDENTIAL, REDIRECT_URI, SCOPE)
    answer = redeem(CONFIDENTIAL, code, verifier)
    expect(answer.status == 200 and answer.json().get("id_token"), f"a code for an id_token_hint: {answer}")
    query = urllib.parse.urlencode(
        {"id_token_hint": answer.json()["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:8977/not-registered", "state": "s", "client_id": CONFIDENTIAL["client_id"]}
    )
    no_redirect(PERSON.send("GET", f"{DISCOVERY['end_session_endpoint']}?{query}"), 400, "logout to an unregistered URI")


@case
def introspection_without_client_auth():
    answer = send("POST", DISCOVERY["introspection_endpoint"], {"token": "anything"})
    oauth_error(answer, 401, "invalid_client")


@case
def anonymous_registration():
    status, body = local_api.call(BASE, "POST", "/oauth/clients", {"redirect_uris": [REDIRECT_URI]})
    expect(status == 401, f"anonymous POST /oauth/clients: {status} {body}")


# --- Run -----------------------------------------------------------------------------------------


def setup():
    global DISCOVERY, CONFIDENTIAL, PUBLIC, PERSON
    status, DISCOVERY = local_api.call(BASE, "GET", "/.well-known/openid-configuration")
    expect(status == 200, f"discovery answered {status} {DISCOVERY}")
    # First-party: the consent page is rp_flow's and browser_flow's to test; here it would only
    # add a step before each code.
    CONFIDENTIAL = register_client(
        {
            "client_name": "oidc negative suite",
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": [POST_LOGOUT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email offline_access",
            "first_party": True,
        }
    )
    PUBLIC = register_client(
        {
            "client_name": "oidc negative suite (public)",
            "redirect_uris": [PUBLIC_REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "scope": "openid",
            "first_party": True,
        }
    )
    status, body = local_api.call(BASE, "POST", "/register", {**local_api.registration(USERNAME), "password": PASSWORD})
    expect(status == 201, f"register {USERNAME}: {status} {body}")
    PERSON = Person()


def main():
    try:
        setup()
    except Failure as failure:
        sys.exit(f"negative: FAILED in setup: {failure}")

    failed = []
    for function in CASES:
        name = function.__name__.replace("_", " ")
        try:
            outcome = function()
        except Failure as failure:
            failed.append(name)
            print(f"negative: FAILED {name}: {failure}", file=sys.stderr)
            continue
        except Exception:  # a bug here or an answer of a shape never expected: show all of it
            failed.append(name)
            print(f"negative: FAILED {name}:\n{traceback.format_exc()}", file=sys.stderr)
            continue
        print(f"negative: ok: {name}" if outcome is None else f"negative: {name}: {outcome}")
    if failed:
        sys.exit(f"negative: FAILED ({len(failed)} of {len(CASES)}): {', '.join(failed)}")
    print("negative: ok")


main()
