// What rp_flow.mjs and browser_flow.mjs share: the environment run_oidc.py sets, JSON calls to
// the API, client and user registration, an RFC 6238 TOTP, and a form driver that goes through
// the hosted login, TOTP and consent pages the way a browser without JavaScript would.
import { createHash, createHmac } from "node:crypto";

export const base = required("BASE_URL");
export const adminToken = required("ADMIN_TOKEN");
export const password = required("USER_PASSWORD");

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set; run tests/oidc/run.sh`);
    process.exit(2);
  }
  return value;
}

/** An answer that is not what the contract says: its message says it all, no stack needed. */
export class CheckFailure extends Error {}

/** Throws with `message` unless `condition`; the message names what was expected and what came. */
export function check(condition, message) {
  if (!condition) throw new CheckFailure(message);
}

/** Runs independent sections in order; one failing is reported and the next still runs. */
export async function sections(suite, list) {
  const failures = [];
  for (const [name, body] of list) {
    try {
      await body();
    } catch (error) {
      failures.push(name);
      console.error(`${suite}: FAILED in ${name}: ${describe(error)}`);
    }
  }
  if (failures.length) {
    console.error(`${suite}: FAILED (${failures.join(", ")})`);
    process.exit(1);
  }
  console.log(`${suite}: ok`);
}

/** An error with what openid-client attaches to it: the OAuth error code, status and cause. */
export function describe(error) {
  if (error instanceof CheckFailure) return error.message;
  // Anything else is openid-client refusing a response, or a bug here: show all of it.
  const parts = [error?.stack ?? String(error)];
  if (error?.error) parts.push(`error=${error.error} ${error.error_description ?? ""}`);
  if (error?.status) parts.push(`status=${error.status}`);
  if (error?.cause && !(error.cause instanceof URLSearchParams)) {
    try {
      parts.push(`cause=${JSON.stringify(error.cause)}`);
    } catch {
      parts.push(`cause=${error.cause}`);
    }
  } else if (error?.cause) parts.push(`cause=${error.cause}`);
  return parts.join("\n  ");
}

/** One JSON request to the API; the status and the decoded body (null when there is none). */
export async function api(method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { unparsed: text.slice(0, 300) };
  }
  return { status: response.status, body: json, headers: response.headers };
}

/** A client registered by the admin (RFC 7591); the 201 answer, checked for what it must carry. */
export async function registerClient(metadata) {
  const { status, body } = await api("POST", "/oauth/clients", metadata, adminToken);
  check(status === 201, `POST /oauth/clients ${JSON.stringify(metadata)}: ${status} ${JSON.stringify(body)}`);
  check(body.client_id && body.registration_access_token && body.registration_client_uri, `registration answer lacks ids: ${JSON.stringify(body)}`);
  const isPublic = metadata.token_endpoint_auth_method === "none";
  check(isPublic ? !("client_secret" in body) : !!body.client_secret, `client_secret ${isPublic ? "given to a public client" : "missing"}: ${JSON.stringify(body)}`);
  return body;
}

/** The same registration shape tests/support/local_api.py uses. */
export async function registerUser(username) {
  const { status, body } = await api("POST", "/register", {
    username,
    password,
    email: `${username}@example.com`,
    first_name: "Suite",
    last_name: "User",
  });
  check(status === 201, `POST /register ${username}: ${status} ${JSON.stringify(body)}`);
  return body;
}

export async function login(username) {
  const { status, body } = await api("POST", "/login", { username, password });
  check(status === 200 && body.access_token, `POST /login ${username}: ${status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** RFC 6238 with the server's parameters: HMAC-SHA-1, 30 s steps, 6 digits. */
export const TOTP_PERIOD = 30;
export function totp(secret, seconds = Date.now() / 1000) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/[=\s]/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / TOTP_PERIOD)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
// RFC 6238 appendix B's SHA-1 vector at T=59 s (94287082, of which the last six digits): a
// mistake here must not pass for a server fault.
check(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59) === "287082", "the TOTP implementation fails RFC 6238's test vector");

/** The JOSE header and claims of a compact JWS, unverified (the library verifies what it must). */
export function decodeJwt(jwt) {
  const [header, payload] = jwt.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
  return { header, payload };
}

/** OIDC Core 3.1.3.6: the left half of the SHA-256 of the access token (RS256 and ES256 alike). */
export function atHash(accessToken) {
  return createHash("sha256").update(accessToken).digest().subarray(0, 16).toString("base64url");
}

/** RFC 4122 text form, as the contract says `sub` is. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------------
// The hosted pages without a browser. The pages are Stratus's own server-rendered HTML, so a few
// regular expressions over <form>, <input> and <button> read them; anything unexpected fails
// loudly with the page's text rather than being guessed at.

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" };
function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name) => {
    if (/^#x/i.test(name)) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (/^#\d/.test(name)) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function attributes(tag) {
  const found = {};
  for (const [, name, dq, sq, bare] of tag.matchAll(/([^\s"'>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    found[name.toLowerCase()] = unescapeHtml(dq ?? sq ?? bare ?? "");
  }
  return found;
}

/** Every form of a page: method, action (absolute), inputs and buttons. */
export function parseForms(html, pageUrl) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map(([, tag, inner]) => {
    const form = attributes(tag);
    return {
      method: (form.method ?? "get").toLowerCase(),
      action: new URL(form.action ?? "", pageUrl).href,
      inputs: [...inner.matchAll(/<input\b([^>]*)>/gi)].map(([, t]) => attributes(t)),
      buttons: [...inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].map(([, t, text]) => ({
        ...attributes(t),
        text: unescapeHtml(text.replace(/<[^>]*>/g, "")).trim(),
      })),
    };
  });
}

/** What a browser submits for `form` with `filled` typed in and `button` pressed. */
function formBody(form, filled, button) {
  const body = new URLSearchParams();
  for (const input of form.inputs) {
    const type = (input.type ?? "text").toLowerCase();
    if (!input.name || ["submit", "button", "image", "reset"].includes(type)) continue;
    if (["checkbox", "radio"].includes(type) && !("checked" in input)) continue;
    body.append(input.name, input.name in filled ? filled[input.name] : (input.value ?? ""));
  }
  if (button?.name) body.append(button.name, button.value ?? "");
  return body;
}

/** A cookie jar for one origin: names and values; a cookie set to expire is dropped. */
class CookieJar {
  cookies = new Map();
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const at = pair.indexOf("=");
      const name = pair.slice(0, at);
      const expired = attrs.some((a) => /^max-age=\s*(0|-\d+)$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1));
    }
  }
  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/** A person at a browser without JavaScript: keeps cookies, follows the server's own redirects,
 * fills the forms it is given, and stops at the redirect to the client, which it does not follow. */
export class FormDriver {
  jar = new CookieJar();

  async request(url, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.jar.store(response);
    return response;
  }

  /**
   * Goes from the authorization URL to the redirect to `redirectUri`, answering each page:
   * login (username, password), TOTP (`code`, from `totpCode()`), consent (`decision`).
   * Returns the redirect as a URL and the kinds of pages met, in order.
   */
  async authorize(url, { redirectUri, username, totpCode, decision = "allow" }) {
    const seen = [];
    let response = await this.request(url);
    for (let step = 0; step < 10; step++) {
      if (response.status >= 300 && response.status < 400) {
        const location = new URL(response.headers.get("location"), response.url || url);
        if (location.href.split(/[?#]/)[0] === redirectUri) {
          check(response.status === 303, `the redirect to the client is ${response.status}, not 303`);
          return { redirect: location, seen };
        }
        check(location.origin === new URL(base).origin, `a redirect to neither the server nor the client: ${location}`);
        response = await this.request(location.href);
        continue;
      }
      const html = await response.text();
      check(response.status === 200, `${response.status} from ${response.url}: ${html.slice(0, 400)}`);
      const forms = parseForms(html, response.url);
      const named = (name) => forms.find((f) => f.inputs.some((i) => i.name === name));
      let form, filled = {}, button;
      if ((form = named("password"))) {
        seen.push("login");
        filled = { username, password };
      } else if ((form = named("code"))) {
        seen.push("totp");
        check(totpCode, "a TOTP form came for a user without TOTP");
        filled = { code: totpCode() };
      } else if ((form = forms.find((f) => f.buttons.some((b) => b.name === "decision")))) {
        seen.push("consent");
        button = form.buttons.find((b) => b.name === "decision" && b.value === decision);
        check(button, `no decision=${decision} button on the consent form: ${JSON.stringify(form.buttons)}`);
      } else {
        throw new Error(`a page with no form this driver knows (${response.url}): ${html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 400)}`);
      }
      check(form.method === "post", `the ${seen.at(-1)} form's method is ${form.method}, not post`);
      response = await this.request(form.action, {
        method: "POST",
        // A browser sends Origin on a form POST; with it, a refusal can only be about the CSRF token.
        headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(base).origin },
        body: formBody(form, filled, button).toString(),
      });
    }
    throw new Error(`no redirect to ${redirectUri} after 10 pages (${seen.join(", ")})`);
  }
}
