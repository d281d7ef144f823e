// The hosted login, TOTP, consent and logout pages in a real browser: Debian's chromium, headless,
// driven by playwright-core, with openid-client as the relying party that builds the requests and
// redeems the codes. A person types into labelled fields; the session cookie spares a second
// login; prompt=login asks again; logout through end_session_endpoint ends the session, so that
// prompt=none then answers login_required. Every hosted page must carry the contract's headers
// and break no rule of its Content-Security-Policy, and no request may leave loopback.
//
// Usage: BASE_URL=… ADMIN_TOKEN=… USER_PASSWORD=… [SCREENSHOT=…png] node tests/oidc/browser_flow.mjs
import { createServer } from "node:http";
import * as client from "openid-client";
import { chromium } from "playwright-core";
import { launchLoopbackChromium } from "../browser/launch.mjs";
import { api, base, check, describe, login, password, registerClient, registerUser, totp, TOTP_PERIOD } from "./lib.mjs";

const screenshot = process.env.SCREENSHOT;
const USER = "oidc-browser";
const TOTP_USER = "oidc-browser-totp";
const TIMEOUT = 15_000;
const step = (text) => console.log(`browser: ${text}`);
const failures = [];

// The client's side: a listener on loopback that the redirects land on.
const arrivals = [];
const listener = createServer((request, response) => {
  arrivals.push(request.url);
  response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  response.end("<!doctype html><title>client</title><p>back at the client</p>");
});
await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
const clientOrigin = `http://127.0.0.1:${listener.address().port}`;
const REDIRECT_URI = `${clientOrigin}/cb`;
const POST_LOGOUT_URI = `${clientOrigin}/logged-out`;
const atClient = (url) => url.href.startsWith(`${REDIRECT_URI}?`);

const browser = await launchLoopbackChromium(chromium);

const messages = [];
const violations = [];
const offsite = [];
const badHeaders = new Set();
let hostedDocuments = []; // the server's HTML pages since the last reset: proves a form was (not) shown

/** A fresh browser profile (no cookies) watched for CSP violations, offsite requests and headers. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  // Called through the DevTools protocol, so the page's own policy does not apply to it; it
  // outlives navigations, which a window variable would not.
  await context.exposeFunction("__violation", (text) => violations.push(text));
  await context.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (event) =>
      window.__violation(`${event.documentURI}: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}`),
    ),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => messages.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.hostname !== "127.0.0.1") offsite.push(request.url());
  });
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (response.request().resourceType() !== "document" || url.origin !== new URL(base).origin) return;
    if (response.status() !== 200) return; // the redirects carry no page
    hostedDocuments.push(url.pathname);
    const headers = response.headers();
    const csp = headers["content-security-policy"] ?? "";
    const problems = [
      !/frame-ancestors 'none'/.test(csp) && "CSP without frame-ancestors 'none'",
      !/default-src 'none'/.test(csp) && "CSP without default-src 'none'",
      headers["x-frame-options"]?.toUpperCase() !== "DENY" && "X-Frame-Options is not DENY",
      !/no-store/.test(headers["cache-control"] ?? "") && "Cache-Control without no-store",
    ].filter(Boolean);
    for (const problem of problems) badHeaders.add(`${url.pathname}: ${problem} (${csp || "no CSP"})`);
  });
  return page;
}

/** Where the page is and what it says, for a failure message. */
async function state(page) {
  const alert = await page.locator('[role="alert"]').allInnerTexts().catch(() => []);
  const text = (await page.locator("body").innerText().catch(() => "")).replace(/\s+/g, " ").slice(0, 300);
  return `at ${page.url()}${alert.length ? ` alert: ${alert.join(" | ")}` : ""} page: ${text}`;
}

/** Types into the input named `name` found through its label's text, as a person reading the
 * page would: that getByLabel finds it proves the <label for> association works. */
async function typeInto(page, name, value) {
  const id = await page.locator(`input[name="${name}"]`).getAttribute("id");
  check(id, `input ${name} has no id for a label to name (${await state(page)})`);
  const label = (await page.locator(`label[for="${id}"]`).innerText()).trim();
  const field = page.getByLabel(label, { exact: true });
  check((await field.getAttribute("name")) === name, `the label "${label}" names ${await field.getAttribute("name")}, not ${name}`);
  await field.fill(value);
}

/** Every visible input on the page has a label. */
async function checkLabels(page, what) {
  const unlabelled = await page.$$eval('input:not([type="hidden"])', (inputs) => inputs.filter((i) => !i.labels?.length).map((i) => i.name));
  check(unlabelled.length === 0, `${what}: inputs without a label: ${unlabelled.join(", ")}`);
}

/** openid-client's authorization request: PKCE S256, state, nonce. */
async function request(config, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier: verifier, expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid profile email",
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...extra,
  });
  return { url: url.href, checks };
}

/** Presses Allow if the consent page comes, until the browser is back at the client. Returns
 * whether consent was asked. */
async function untilClient(page) {
  const allow = page.getByRole("button", { name: "Allow", exact: true });
  let consented = false;
  for (const deadline = Date.now() + TIMEOUT; Date.now() < deadline; ) {
    if (atClient(new URL(page.url()))) return consented;
    if (!consented && (await allow.isVisible().catch(() => false))) {
      await checkLabels(page, "consent page");
      await allow.click();
      consented = true;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`never back at the client ${await state(page)}`);
}

/** The code at the client's URL redeemed by openid-client, with all its checks. */
async function redeem(config, page, checks) {
  return client.authorizationCodeGrant(config, new URL(page.url()), checks);
}

async function signIn(page, username) {
  await page.locator('input[name="password"]').waitFor();
  await checkLabels(page, "login page");
  await typeInto(page, "username", username);
  await typeInto(page, "password", password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** Runs one part of the flow; a failure is recorded and the next part still runs. */
async function part(name, body) {
  try {
    await body();
  } catch (error) {
    failures.push(`${name}: ${describe(error)}`);
  }
}

let config;
try {
  await part("setup", async () => {
    const registered = await registerClient({
      client_name: "oidc browser suite",
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [POST_LOGOUT_URI],
      scope: "openid profile email",
    });
    config = await client.discovery(
      new URL(base),
      registered.client_id,
      { id_token_signed_response_alg: "RS256" },
      client.ClientSecretBasic(registered.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
    await registerUser(USER);
  });

  await part("password user", async () => {
    check(config, "no client");
    // 1. A person signs in and allows the client.
    const page = await newPage();
    let req = await request(config);
    const shown = await page.goto(req.url);
    check(shown.status() === 200, `GET /authorize: ${shown.status()} ${await state(page)}`);
    await page.locator('input[name="password"]').waitFor();
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    await signIn(page, USER);
    const consented = await untilClient(page);
    check(consented, "a client that is not first-party got no consent page");
    const first = await redeem(config, page, req.checks);
    const firstClaims = first.claims();
    check(JSON.stringify(firstClaims.amr) === '["pwd"]', `amr: ${JSON.stringify(firstClaims.amr)}`);
    step(`signed in through the labelled form, pressed Allow, code redeemed for ${firstClaims.sub}`);

    // 2. The session cookie spares the form (and the consent given spares that page).
    req = await request(config);
    hostedDocuments = [];
    await page.goto(req.url);
    check(atClient(new URL(page.url())) && hostedDocuments.length === 0, `a second authorization showed pages ${hostedDocuments.join(", ")} ${await state(page)}`);
    await redeem(config, page, req.checks);
    step("a second authorization went straight back to the client");

    // 3. prompt=login asks for the password again.
    req = await request(config, { prompt: "login" });
    await page.goto(req.url);
    await signIn(page, USER);
    const askedAgain = await untilClient(page);
    const third = await redeem(config, page, req.checks);
    check(third.claims().auth_time >= firstClaims.auth_time, `auth_time went back: ${third.claims().auth_time} < ${firstClaims.auth_time}`);
    step(`prompt=login showed the form again${askedAgain ? " (and consent again)" : ""}`);

    // 4. Logout through end_session_endpoint lands on the registered URI with the state.
    const logoutState = client.randomState();
    await page.goto(
      client.buildEndSessionUrl(config, { id_token_hint: third.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: logoutState }).href,
    );
    const landed = new URL(page.url());
    check(landed.href.split("?")[0] === POST_LOGOUT_URI && landed.searchParams.get("state") === logoutState, `after logout ${await state(page)}`);
    step("end session landed on the post_logout_redirect_uri with its state");

    // 5. The session is gone: prompt=none cannot sign in silently.
    req = await request(config, { prompt: "none" });
    await page.goto(req.url);
    const silent = new URL(page.url());
    check(
      atClient(silent) && silent.searchParams.get("error") === "login_required" && silent.searchParams.get("state") === req.checks.expectedState,
      `prompt=none after logout ${await state(page)}`,
    );
    step("prompt=none after logout: error=login_required at the redirect URI");
  });

  await part("TOTP user", async () => {
    check(config, "no client");
    // 6. A user with TOTP on: enrolled through the API, then the code typed into the second form.
    // Each code is good once and the server accepts one step either side, so the page gets the
    // code of the step after the confirmation's, pinned to that step rather than to the clock.
    await registerUser(TOTP_USER);
    const token = await login(TOTP_USER);
    const setup = await api("POST", "/users/me/mfa/totp", { password }, token);
    check(setup.status === 200 && setup.body.secret, `POST /users/me/mfa/totp: ${setup.status} ${JSON.stringify(setup.body)}`);
    const confirmedAt = Date.now() / 1000;
    const confirmed = await api("POST", "/users/me/mfa/totp/confirm", { code: totp(setup.body.secret, confirmedAt) }, token);
    check(confirmed.status === 200, `POST /users/me/mfa/totp/confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
    const nextCode = totp(setup.body.secret, (Math.floor(confirmedAt / TOTP_PERIOD) + 1) * TOTP_PERIOD);

    const page = await newPage(); // a fresh profile: no session from the part before
    const req = await request(config);
    await page.goto(req.url);
    await signIn(page, TOTP_USER);
    await page.locator('input[name="code"]').waitFor().catch(async () => {
      throw new Error(`no TOTP form after the password ${await state(page)}`);
    });
    await checkLabels(page, "TOTP page");
    await typeInto(page, "code", nextCode);
    await page.getByRole("button", { name: "Verify", exact: true }).click();
    await untilClient(page);
    const claims = (await redeem(config, page, req.checks)).claims();
    check(claims.amr?.includes("pwd") && claims.amr?.includes("otp"), `amr after TOTP: ${JSON.stringify(claims.amr)}`);
    step(`TOTP user: password, then the code typed in, then Allow; amr ${JSON.stringify(claims.amr)}`);
  });
} finally {
  await browser.close();
  listener.close();
}

// Chromium applies form-action to the redirects after a form's POST too: a policy of
// form-action 'self' alone blocks the 303 from the consent (or login) form back to the client.
const refused = messages.filter((message) => /Content Security Policy|Refused to/i.test(message));
if (violations.length || refused.length) failures.push(`CSP violations:\n  ${[...new Set([...violations, ...refused])].join("\n  ")}`);
if (badHeaders.size) failures.push(`hosted pages' headers:\n  ${[...badHeaders].join("\n  ")}`);
if (offsite.length) failures.push(`requests left loopback: ${offsite.join(", ")}`);
if (failures.length) {
  console.error(`browser: FAILED\n${failures.join("\n")}`);
  process.exit(1);
}
step(`the client's listener saw ${arrivals.filter((url) => !url.startsWith("/favicon")).length} redirects`);
console.log("browser: ok");
