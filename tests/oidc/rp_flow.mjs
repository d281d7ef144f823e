// Stratus as an OpenID provider, seen by openid-client (panva's certified relying party): every
// ID token, userinfo answer, introspection and the RFC 9207 `iss` parameter are checked by the
// library, not by code written against this server. The hosted pages are gone through by
// lib.mjs's form driver (no browser; browser_flow.mjs does that part with chromium).
//
// Usage: BASE_URL=… ADMIN_TOKEN=… USER_PASSWORD=… node tests/oidc/rp_flow.mjs   (tests/oidc/run.sh)
import * as client from "openid-client";
import { api, atHash, base, check, decodeJwt, FormDriver, registerClient, registerUser, sections, UUID } from "./lib.mjs";

// Nothing listens here: the form driver stops at the redirect and hands its URL to the library.
const REDIRECT_URI = "http://127.0.0.1:8976/cb";
const POST_LOGOUT_URI = "http://127.0.0.1:8976/logged-out";
const USERNAME = "oidc-rp";
const step = (text) => console.log(`rp: ${text}`);
const insecure = { execute: [client.allowInsecureRequests] }; // local-api is plain http on loopback

/** Discovery for one client; the ID token's alg is pinned so the library refuses any other. */
function configure(registered, alg = "RS256") {
  const auth = registered.client_secret ? client.ClientSecretBasic(registered.client_secret) : client.None();
  return client.discovery(new URL(base), registered.client_id, { id_token_signed_response_alg: alg }, auth, insecure);
}

/** An authorization request with PKCE S256, state and nonce, through the hosted pages; the code's
 * grant performed by the library with all its checks. */
async function codeFlow(config, driver, scope, { redirectUri = REDIRECT_URI, extra = {} } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...extra,
  });
  const { redirect, seen } = await driver.authorize(url, { redirectUri, username: USERNAME });
  // The library checks `iss` only when present unless the metadata promises it: check presence here.
  check(redirect.searchParams.get("iss") === config.serverMetadata().issuer, `the redirect's iss: ${redirect}`);
  const tokens = await client.authorizationCodeGrant(config, redirect, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  return { tokens, claims: tokens.claims(), seen, nonce };
}

/** `aud` names the client (a string, or an array holding it, as OIDC Core allows). */
function audienceOf(claims, clientId) {
  return claims.aud === clientId || (Array.isArray(claims.aud) && claims.aud.includes(clientId));
}

async function usersMe(accessToken) {
  return (await api("GET", "/users/me", undefined, accessToken)).status;
}

let issuer;
let confidential, config, driver, sub;

await sections("rp", [
  [
    "discovery",
    async () => {
      const oidc = await api("GET", "/.well-known/openid-configuration");
      const oauth = await api("GET", "/.well-known/oauth-authorization-server");
      check(oidc.status === 200 && oauth.status === 200, `discovery documents: ${oidc.status}, ${oauth.status}`);
      check(JSON.stringify(oidc.body) === JSON.stringify(oauth.body), "the two discovery documents differ");
      issuer = oidc.body.issuer;
      check(new URL(issuer).href === new URL(base).href, `issuer ${issuer} is not the base URL ${base}`);
      // RFC 9207 §3: advertising it makes openid-client refuse a response without `iss`.
      check(oidc.body.authorization_response_iss_parameter_supported === true, "authorization_response_iss_parameter_supported is not true");
      const jwks = await (await fetch(oidc.body.jwks_uri)).json();
      const algs = new Set(jwks.keys?.map((k) => k.kid && k.use === "sig" && k.alg));
      check(algs.has("RS256") && algs.has("ES256"), `the JWKS lacks an RS256 or ES256 signing key with kid/alg/use: ${JSON.stringify(jwks)}`);
      step(`discovery: issuer ${issuer}, both documents alike, JWKS has RS256 and ES256`);
    },
  ],
  [
    "confidential client: code flow, userinfo, refresh, introspection, revocation",
    async () => {
      confidential = await registerClient({
        client_name: "oidc rp suite",
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [POST_LOGOUT_URI],
        grant_types: ["authorization_code", "refresh_token", "client_credentials"],
        scope: "openid profile email offline_access api",
      });
      check(confidential.client_secret_expires_at === 0, `client_secret_expires_at: ${confidential.client_secret_expires_at}`);
      step(`registered confidential client ${confidential.client_id}`);
      const read = await fetch(confidential.registration_client_uri, {
        headers: { authorization: `Bearer ${confidential.registration_access_token}` },
      });
      check(read.status === 200 && (await read.json()).client_id === confidential.client_id, `RFC 7592 read: ${read.status}`);
      step("RFC 7592: the registration reads back with its registration_access_token");

      config = await configure(confidential);
      step("openid-client discovery");
      await registerUser(USERNAME);
      driver = new FormDriver();

      // 1. openid profile email offline_access, as a person signs in and allows it.
      const first = await codeFlow(config, driver, "openid profile email offline_access");
      check(first.seen.join() === "login,consent", `pages met: ${first.seen.join(", ")} (expected login, consent)`);
      const { tokens, claims } = first;
      const idToken = decodeJwt(tokens.id_token);
      check(idToken.header.alg === "RS256" && idToken.header.typ === "JWT", `ID token header: ${JSON.stringify(idToken.header)}`);
      sub = claims.sub;
      check(UUID.test(sub), `sub is not a UUID: ${sub}`);
      check(claims.iss === issuer && audienceOf(claims, confidential.client_id), `iss/aud: ${claims.iss} ${claims.aud}`);
      check(claims.nonce === first.nonce, "nonce");
      check(Number.isInteger(claims.auth_time) && claims.auth_time <= Math.ceil(Date.now() / 1000) + 5, `auth_time: ${claims.auth_time}`);
      check(JSON.stringify(claims.amr) === '["pwd"]', `amr: ${JSON.stringify(claims.amr)}`);
      check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash} is not that of the access token`);
      check(claims.sid && claims.azp === confidential.client_id, `sid/azp: ${claims.sid} ${claims.azp}`);
      check(claims.preferred_username === USERNAME && claims.email === `${USERNAME}@example.com`, `profile/email claims: ${JSON.stringify(claims)}`);
      check(tokens.refresh_token, "no refresh_token although offline_access was granted");
      check(tokens.token_type?.toLowerCase() === "bearer" && tokens.expires_in > 0, `token_type/expires_in: ${tokens.token_type} ${tokens.expires_in}`);
      const access = decodeJwt(tokens.access_token);
      check(access.header.typ === "at+jwt" && access.header.alg === "ES256", `access token header: ${JSON.stringify(access.header)}`);
      step(`code flow (login, consent): RS256 ID token for ${sub} with nonce, auth_time, amr ["pwd"], at_hash, sid, azp`);

      const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub);
      check(userinfo.email === `${USERNAME}@example.com` && userinfo.preferred_username === USERNAME, `userinfo: ${JSON.stringify(userinfo)}`);
      step("userinfo: sub matches, email and preferred_username present");

      const without = await usersMe(tokens.access_token);
      check(without === 401 || without === 403, `GET /users/me with a token without scope api: ${without}, expected 401 or 403`);
      step(`GET /users/me without scope api: ${without}`);

      // 2. The same session asks for `api` as well: no login page, a consent page for the new scope.
      const second = await codeFlow(config, driver, "openid profile email offline_access api");
      check(!second.seen.includes("login"), `the session cookie did not spare the login page: ${second.seen.join(", ")}`);
      check(second.tokens.scope?.split(" ").includes("api"), `granted scope: ${second.tokens.scope}`);
      const withApi = await usersMe(second.tokens.access_token);
      check(withApi === 200, `GET /users/me with scope api: ${withApi}`);
      step(`second authorization with api (pages: ${second.seen.join(", ") || "none"}): GET /users/me 200`);

      // 3. Refresh: rotation, then introspection of the new access token (before the replay below
      // revokes its whole family, RFC 9700 §4.14.2).
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "the refresh did not rotate the refresh token");
      step("refresh: a new refresh token");
      const active = await client.tokenIntrospection(config, refreshed.access_token);
      check(active.active === true && active.client_id === confidential.client_id && active.sub === sub, `introspection: ${JSON.stringify(active)}`);
      step(`introspection of the access token: active, client_id ${active.client_id}`);
      await expectOAuthError(() => client.refreshTokenGrant(config, tokens.refresh_token), "invalid_grant", "the spent refresh token used again");
      step("the spent refresh token again: invalid_grant");

      // 4. Revocation of the second grant's refresh token ends that grant.
      check(second.tokens.refresh_token, "no refresh_token in the second grant");
      await client.tokenRevocation(config, second.tokens.refresh_token, { token_type_hint: "refresh_token" });
      const revoked = await client.tokenIntrospection(config, second.tokens.refresh_token, { token_type_hint: "refresh_token" });
      check(revoked.active === false, `introspection of the revoked refresh token: ${JSON.stringify(revoked)}`);
      const revokedAccess = await client.tokenIntrospection(config, second.tokens.access_token);
      check(revokedAccess.active === false, `introspection of the revoked grant's access token: ${JSON.stringify(revokedAccess)}`);
      step("revocation: the refresh token and its grant's access token introspect inactive");

      // 5. The end-session URL openid-client builds; followed without a browser only to see it
      // lands on the registered URI (browser_flow.mjs checks the session really ends).
      const state = client.randomState();
      const logout = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state });
      const answer = await driver.request(logout.href);
      const landed = answer.headers.get("location") ?? "";
      check(answer.status === 303 && landed.startsWith(POST_LOGOUT_URI) && new URL(landed).searchParams.get("state") === state, `logout: ${answer.status} ${landed}`);
      step("end session: 303 to the registered post_logout_redirect_uri with state");
    },
  ],
  [
    "client credentials",
    async () => {
      check(config, "needs the confidential client");
      const tokens = await client.clientCredentialsGrant(config, { scope: "api" });
      check(tokens.access_token && !tokens.refresh_token && !tokens.id_token, `client_credentials answer: ${Object.keys(tokens).join(", ")}`);
      check(tokens.scope === "api", `client_credentials scope: ${tokens.scope}`);
      const introspected = await client.tokenIntrospection(config, tokens.access_token);
      check(introspected.active === true && introspected.client_id === confidential.client_id, `introspection: ${JSON.stringify(introspected)}`);
      step("client_credentials with scope api: an access token, no refresh_token, no id_token");
    },
  ],
  [
    "public client",
    async () => {
      const registered = await registerClient({
        client_name: "oidc rp suite (public)",
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code"],
        scope: "openid profile",
      });
      const publicConfig = await configure(registered);
      const flow = await codeFlow(publicConfig, driver ?? new FormDriver(), "openid profile");
      check(audienceOf(flow.claims, registered.client_id), `aud: ${flow.claims.aud}`);
      check(!flow.tokens.refresh_token, "a refresh token for a client without the refresh_token grant");
      step(`public client ${registered.client_id}: code flow with PKCE, no client secret (pages: ${flow.seen.join(", ") || "none"})`);
    },
  ],
  [
    "ES256 ID tokens",
    async () => {
      // First-party as well: the contract's extension that skips the consent page.
      const registered = await registerClient({
        client_name: "oidc rp suite (ES256)",
        redirect_uris: [REDIRECT_URI],
        scope: "openid email",
        id_token_signed_response_alg: "ES256",
        first_party: true,
      });
      const esConfig = await configure(registered, "ES256");
      const flow = await codeFlow(esConfig, new FormDriver(), "openid email");
      check(decodeJwt(flow.tokens.id_token).header.alg === "ES256", `ID token alg: ${decodeJwt(flow.tokens.id_token).header.alg}`);
      check(flow.seen.join() === "login", `pages met by a first-party client: ${flow.seen.join(", ")} (expected login only)`);
      check(flow.claims.at_hash === atHash(flow.tokens.access_token), "at_hash under ES256");
      step("ES256 client: the library validated an ES256 ID token; first_party skipped consent");
    },
  ],
]);

/** Expects `call` to fail with OAuth error `code` (openid-client's ResponseBodyError). */
async function expectOAuthError(call, code, what) {
  try {
    await call();
  } catch (error) {
    check(error instanceof client.ResponseBodyError && error.error === code, `${what}: expected ${code}, got ${error.name}: ${error.error ?? error.message}`);
    return;
  }
  throw new Error(`${what}: succeeded, expected ${code}`);
}
