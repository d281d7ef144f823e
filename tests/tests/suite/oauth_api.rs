//! The OpenID Provider over HTTP, against local-api on both backends, for what the outside
//! suites (tests/oidc: openid-client, chromium, the negative suite) cannot reach: a clock to
//! move (a code's 60 seconds, max_age), the account changing under a session (a password
//! change, a disable), the hosted page's limits, recovery codes, and the first-party endpoints
//! refusing OAuth's tokens.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stratus_core::clock::{Clock, ManualClock};
use stratus_core::ports::RateLimit;
use stratus_tests::{Api, Backend, LocalWiring, PASSWORD, Reply, bootstrap_admin, on_both_backends, wiring};
use time::{Duration, OffsetDateTime};

const ISSUER: &str = "https://id.stratus.test";
const REDIRECT: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

/// A clock two minutes behind real time, so that moving it on never dates a token in the
/// future (tokens are checked against real time).
fn lagging_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc() - Duration::minutes(2)))
}

/// A registered confidential client: its id and secret.
struct Client {
    id: String,
    secret: String,
}

async fn register_client(api: &Api, admin: &str, metadata: Value) -> Client {
    let reply = api.post_with_token("/oauth/clients", admin, &metadata).await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    let body = reply.json();
    Client {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().unwrap_or_default().to_owned(),
    }
}

/// local-api as the provider at `ISSUER` on `clock`, with a bootstrapped admin: the api and
/// the admin's access token.
async fn start(
    backend: Backend,
    clock: Arc<dyn Clock>,
    tune: impl FnOnce(&mut LocalWiring),
) -> (Api, String) {
    let mut wiring = wiring(backend).await;
    wiring.settings.auth.oidc_issuer = Some(ISSUER.to_owned());
    wiring.clock = clock;
    tune(&mut wiring);
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let admin = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    (api, admin)
}

/// A browser: its cookies, and redirects not followed (the test reads each `Location`).
struct Browser<'a> {
    api: &'a Api,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(api: &'a Api) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds");
        Self { api, http, cookies: HashMap::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = if cookie.is_empty() { request } else { request.header("cookie", cookie.join("; ")) };
        let reply = self.api.send(request).await;
        for set in reply.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    async fn authorize(&mut self, query: &[(&str, &str)]) -> Reply {
        let request = self.http.get(self.api.url("/authorize")).query(query);
        self.send(request).await
    }

    /// Posts the page's form with its hidden fields and `fields`.
    async fn submit(&mut self, page: &Reply, fields: &[(&str, &str)]) -> Reply {
        let mut form = hidden_fields(&text(page));
        for (name, value) in fields {
            form.push(((*name).to_owned(), (*value).to_owned()));
        }
        let request = self.http.post(self.api.url("/authorize")).form(&form);
        self.send(request).await
    }
}

/// The hidden inputs of the page's form (the page writes them as `<input type="hidden" …>`).
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let name = input.split("name=\"").nth(1).unwrap().split('"').next().unwrap();
            let value = input.split("value=\"").nth(1).unwrap().split('"').next().unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

fn title(reply: &Reply) -> String {
    let html = text(reply);
    html.split("<h1>").nth(1).and_then(|rest| rest.split("</h1>").next()).unwrap_or_default().to_owned()
}

/// The query of a redirect to the client.
fn redirect_query(reply: &Reply) -> HashMap<String, String> {
    assert_eq!(reply.status, 303, "{}", text(reply));
    let location = reply.header("location").expect("a Location");
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

fn request_query<'q>(
    client: &'q str,
    scope: &'q str,
    challenge: &'q str,
    extra: &[(&'q str, &'q str)],
) -> Vec<(&'q str, &'q str)> {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    query
}

/// Signs `username` in on a fresh page of `query` and consents where asked: the code.
async fn sign_in_for_code(browser: &mut Browser<'_>, query: &[(&str, &str)], username: &str) -> String {
    let page = browser.authorize(query).await;
    let mut reply = match page.status {
        // Signed in already and consented: straight back with a code.
        303 => page,
        200 if title(&page).starts_with("Sign in") => {
            browser.submit(&page, &[("username", username), ("password", PASSWORD)]).await
        }
        // Signed in, but the scope asked for is new to the client: straight to consent.
        200 => page,
        _ => panic!("{}", text(&page)),
    };
    if reply.status == 200 && title(&reply).starts_with("Allow") {
        reply = browser.submit(&reply, &[("decision", "allow")]).await;
    }
    let query = redirect_query(&reply);
    assert_eq!(query.get("iss").map(String::as_str), Some(ISSUER));
    query["code"].clone()
}

async fn token_request(api: &Api, client: &Client, form: &[(&str, &str)]) -> Reply {
    let request =
        api.http.post(api.url("/oauth/token")).basic_auth(&client.id, Some(&client.secret)).form(form);
    api.send(request).await
}

async fn exchange(api: &Api, client: &Client, code: &str) -> Reply {
    token_request(
        api,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

fn oauth_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", text(reply));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.json()["error"], error, "{}", text(reply));
}

fn web_client() -> Value {
    json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email offline_access api",
        "client_name": "Test <App>",
    })
}

async fn a_code_lives_sixty_seconds_and_once(backend: Backend) {
    let clock = lagging_clock();
    let (api, admin) = start(backend, clock.clone(), |_| {}).await;
    let client = register_client(&api, &admin, web_client()).await;
    assert_eq!(api.register("ada", "ada@example.com").await.status, 201);
    let challenge = challenge(VERIFIER);
    let query = request_query(&client.id, "openid offline_access", &challenge, &[]);
    let mut browser = Browser::new(&api);

    // The consent page names the client safely (its name is escaped).
    let page = browser.authorize(&query).await;
    assert!(browser.cookies.contains_key("__Host-stratus-csrf"), "{:?}", browser.cookies);
    let consent = browser.submit(&page, &[("username", "ada"), ("password", PASSWORD)]).await;
    assert!(browser.cookies.contains_key("__Host-stratus-session"), "{:?}", browser.cookies);
    assert!(text(&consent).contains("Test &lt;App&gt;"), "{}", text(&consent));
    let code = redirect_query(&browser.submit(&consent, &[("decision", "allow")]).await)["code"].clone();
    clock.advance(Duration::seconds(61));
    oauth_error(&exchange(&api, &client, &code).await, 400, "invalid_grant");

    // Within its minute: good once; the second use revokes what the first issued.
    let code = sign_in_for_code(&mut browser, &query, "ada").await;
    clock.advance(Duration::seconds(59));
    let first = exchange(&api, &client, &code).await;
    assert_eq!(first.status, 200, "{}", text(&first));
    let tokens = first.json();
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!((id_token["iss"].as_str(), id_token["nonce"].as_str()), (Some(ISSUER), Some("n-1")));
    oauth_error(&exchange(&api, &client, &code).await, 400, "invalid_grant");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let refreshed =
        token_request(&api, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    oauth_error(&refreshed, 400, "invalid_grant");
    let userinfo = api.get_with_token("/oauth/userinfo", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(userinfo.status, 401, "{}", text(&userinfo));
}

async fn the_browser_session_follows_the_account(backend: Backend) {
    let clock = lagging_clock();
    let (api, admin) = start(backend, clock.clone(), |_| {}).await;
    let client = register_client(&api, &admin, web_client()).await;
    assert_eq!(api.register("bea", "bea@example.com").await.status, 201);
    let challenge = challenge(VERIFIER);
    let query = request_query(&client.id, "openid", &challenge, &[]);
    let mut browser = Browser::new(&api);
    let code = sign_in_for_code(&mut browser, &query, "bea").await;
    let tokens = exchange(&api, &client, &code).await.json();
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["amr"], json!(["pwd"]));

    // Signed in and consented: the next authorization answers at once, prompt=none too.
    redirect_query(&browser.authorize(&query).await);
    let silent = request_query(&client.id, "openid", &challenge, &[("prompt", "none")]);
    assert!(redirect_query(&browser.authorize(&silent).await).contains_key("code"));
    // A wider scope needs consent again; prompt=none cannot ask for it.
    let wider = request_query(&client.id, "openid email", &challenge, &[("prompt", "none")]);
    assert_eq!(redirect_query(&browser.authorize(&wider).await)["error"], "consent_required");
    // max_age: a sign-in older than it asks for the password again.
    clock.advance(Duration::seconds(30));
    let fresh = request_query(&client.id, "openid", &challenge, &[("max_age", "10")]);
    assert_eq!(title(&browser.authorize(&fresh).await), "Sign in to Test &lt;App&gt;");
    let fresh_silent =
        request_query(&client.id, "openid", &challenge, &[("max_age", "10"), ("prompt", "none")]);
    assert_eq!(redirect_query(&browser.authorize(&fresh_silent).await)["error"], "login_required");

    // A password change signs every browser out, and voids the codes issued before it.
    let code = redirect_query(&browser.authorize(&query).await)["code"].clone();
    let access = api.login("bea", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let new_password = "a brand new passphrase 9";
    let changed = api
        .post_with_token(
            "/users/me/password",
            &access,
            &json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", text(&changed));
    assert_eq!(title(&browser.authorize(&query).await), "Sign in to Test &lt;App&gt;");
    oauth_error(&exchange(&api, &client, &code).await, 400, "invalid_grant");
}

async fn the_hosted_page_answers_wrong_passwords_and_limits_them(backend: Backend) {
    let (api, admin) = start(backend, lagging_clock(), |wiring| {
        wiring.settings.auth.login_limit = RateLimit { max_hits: 3, window: Duration::minutes(1) };
    })
    .await;
    let client = register_client(&api, &admin, web_client()).await;
    assert_eq!(api.register("cyd", "cyd@example.com").await.status, 201);
    let challenge = challenge(VERIFIER);
    let query = request_query(&client.id, "openid", &challenge, &[]);
    let mut browser = Browser::new(&api);
    let mut page = browser.authorize(&query).await;
    for attempt in 1..=4 {
        page = browser.submit(&page, &[("username", "cyd"), ("password", "not the password at all")]).await;
        let html = text(&page);
        assert!(html.contains("role=\"alert\""), "{html}");
        assert!(html.contains("<label for=\"password\">"), "{html}");
        if attempt <= 3 {
            assert_eq!(page.status, 401, "{html}");
        } else {
            assert_eq!(page.status, 429, "{html}");
            assert!(page.header("retry-after").is_some_and(|s| s.parse::<u32>().unwrap() >= 1));
        }
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    }
    // The form without its CSRF token is refused, and so is another site's post.
    let mut fields = hidden_fields(&text(&page));
    fields.retain(|(name, _)| name != "csrf");
    fields.push(("username".into(), "cyd".into()));
    let forged = browser.send(browser.http.post(api.url("/authorize")).form(&fields)).await;
    assert_eq!(forged.status, 403, "{}", text(&forged));
    let mut fields = hidden_fields(&text(&page));
    fields.push(("username".into(), "cyd".into()));
    let cross_site = browser
        .send(browser.http.post(api.url("/authorize")).header("origin", "https://evil.example").form(&fields))
        .await;
    assert_eq!(cross_site.status, 403, "{}", text(&cross_site));
}

async fn a_recovery_code_completes_the_second_step(backend: Backend) {
    let clock = lagging_clock();
    let (api, admin) = start(backend, clock.clone(), |wiring| {
        wiring.settings.auth.mfa_limit = RateLimit { max_hits: 10_000, window: Duration::minutes(1) };
    })
    .await;
    let client = register_client(&api, &admin, web_client()).await;
    let enrolled = crate::mfa_api::enrol(&api, "dov", clock.now()).await;
    let challenge = challenge(VERIFIER);
    let query = request_query(&client.id, "openid", &challenge, &[]);
    let mut browser = Browser::new(&api);
    let page = browser.authorize(&query).await;
    let code_page = browser.submit(&page, &[("username", "dov"), ("password", PASSWORD)]).await;
    assert_eq!(title(&code_page), "Enter your authentication code");
    let wrong = browser.submit(&code_page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 400, "{}", text(&wrong));
    let consent = browser.submit(&wrong, &[("code", &enrolled.recovery[0])]).await;
    let code = redirect_query(&browser.submit(&consent, &[("decision", "allow")]).await)["code"].clone();
    let tokens = exchange(&api, &client, &code).await.json();
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["amr"], json!(["pwd", "otp"]));
    // A recovery code works once.
    let mut other = Browser::new(&api);
    let page = other.authorize(&query).await;
    let code_page = other.submit(&page, &[("username", "dov"), ("password", PASSWORD)]).await;
    assert_eq!(other.submit(&code_page, &[("code", &enrolled.recovery[0])]).await.status, 400);
}

async fn first_party_endpoints_take_oauth_tokens_only_as_far_as_granted(backend: Backend) {
    let (api, admin) = start(backend, lagging_clock(), |_| {}).await;
    let mut metadata = web_client();
    metadata["grant_types"] = json!(["authorization_code", "refresh_token", "client_credentials"]);
    let client = register_client(&api, &admin, metadata).await;
    assert_eq!(api.register("eve", "eve@example.com").await.status, 201);
    let challenge = challenge(VERIFIER);
    let mut browser = Browser::new(&api);

    // Without `api`, the API refuses the token with RFC 6750's insufficient_scope.
    let query = request_query(&client.id, "openid offline_access", &challenge, &[]);
    let tokens = exchange(&api, &client, &sign_in_for_code(&mut browser, &query, "eve").await).await.json();
    let me = api.get_with_token("/users/me", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, 403, "{}", text(&me));
    assert!(me.header("www-authenticate").unwrap().contains("insufficient_scope"));
    // An OAuth refresh token is no first-party session: refused there, and its grant ends.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let first_party = api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await;
    assert_eq!(first_party.status, 401, "{}", text(&first_party));
    let after =
        token_request(&api, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    oauth_error(&after, 400, "invalid_grant");

    // With `api`, the user's own routes answer.
    let query = request_query(&client.id, "openid api", &challenge, &[]);
    let tokens = exchange(&api, &client, &sign_in_for_code(&mut browser, &query, "eve").await).await.json();
    let me = api.get_with_token("/users/me", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, 200, "{}", text(&me));
    assert_eq!(me.json()["username"], "eve");
    // Its grant revoked (RFC 7009), the token stops at the API at once, not when it expires.
    let access = tokens["access_token"].as_str().unwrap();
    let revoked = api
        .send(
            api.http
                .post(api.url("/oauth/revoke"))
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[("token", access)]),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", text(&revoked));
    let me = api.get_with_token("/users/me", access).await;
    assert_eq!(me.status, 401, "{}", text(&me));
    assert!(me.header("www-authenticate").unwrap().contains("invalid_token"));

    // A client's own token has no user: the API refuses it, introspection knows it.
    let own = token_request(&api, &client, &[("grant_type", "client_credentials"), ("scope", "api")]).await;
    assert_eq!(own.status, 200, "{}", text(&own));
    let own = own.json();
    assert!(own["refresh_token"].is_null() && own["id_token"].is_null(), "{own}");
    let access = own["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["sub"], client.id.as_str());
    assert_eq!(api.get_with_token("/users/me", access).await.status, 401);
    let openid =
        token_request(&api, &client, &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
    oauth_error(&openid, 400, "invalid_scope");
    let introspected = api
        .send(
            api.http
                .post(api.url("/oauth/introspect"))
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[("token", access)]),
        )
        .await;
    assert_eq!(introspected.json()["active"], true, "{}", text(&introspected));
    assert_eq!(introspected.json()["client_id"], client.id.as_str());
}

async fn clients_are_registered_by_admins_and_managed_by_their_token(backend: Backend) {
    let (api, admin) = start(backend, lagging_clock(), |_| {}).await;
    let anonymous = api.post_json("/oauth/clients", &web_client()).await;
    assert_eq!(anonymous.status, 401, "{}", text(&anonymous));
    let user = api.user_token("fay").await;
    assert_eq!(api.post_with_token("/oauth/clients", &user, &web_client()).await.status, 403);
    let insecure = api
        .post_with_token("/oauth/clients", &admin, &json!({"redirect_uris": ["http://app.example.com/cb"]}))
        .await;
    assert_eq!(insecure.status, 400);
    assert_eq!(insecure.json()["error"], "invalid_redirect_uri");

    let registered = api.post_with_token("/oauth/clients", &admin, &web_client()).await;
    assert_eq!(registered.status, 201, "{}", text(&registered));
    let body = registered.json();
    let uri = body["registration_client_uri"].as_str().unwrap();
    let path = uri.strip_prefix(ISSUER).expect("under the issuer");
    let token = body["registration_access_token"].as_str().unwrap();
    assert_eq!(registered.header("location"), Some(uri));

    let read = api.get_with_token(path, token).await;
    assert_eq!(read.status, 200, "{}", text(&read));
    assert!(read.json()["client_secret"].is_null(), "the secret is shown once");
    assert_eq!(api.get_with_token(path, &admin).await.status, 401, "only the registration token");

    let mut changed = web_client();
    changed["redirect_uris"] = json!(["https://app.example.com/other"]);
    let updated = api.send(api.http.put(api.url(path)).bearer_auth(token).json(&changed)).await;
    assert_eq!(updated.status, 200, "{}", text(&updated));
    assert_eq!(updated.json()["redirect_uris"], json!(["https://app.example.com/other"]));

    let deleted = api.send(api.http.delete(api.url(path)).bearer_auth(token)).await;
    assert_eq!(deleted.status, 204, "{}", text(&deleted));
    assert_eq!(api.get_with_token(path, token).await.status, 401);
}

on_both_backends!(
    a_code_lives_sixty_seconds_and_once,
    the_browser_session_follows_the_account,
    the_hosted_page_answers_wrong_passwords_and_limits_them,
    a_recovery_code_completes_the_second_step,
    first_party_endpoints_take_oauth_tokens_only_as_far_as_granted,
    clients_are_registered_by_admins_and_managed_by_their_token,
);
