//! The OpenID Provider as a relying party and a person at a browser without JavaScript meet it,
//! for the suites that run the release binaries (`Gateway`) and for measurements against
//! local-api (`HttpApi`): client registration, PKCE, the hosted pages' forms with their cookies
//! (as tests/oidc/lib.mjs's form driver goes through them), the token endpoint, and an RS256 ID
//! token checked against a served JWK Set by code of its own (aws-lc-rs, not the server's).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::Digest;

use crate::Reply;
use crate::runtime_api::Gateway;

/// Where the relying party's browser is sent back; nothing listens there (the driver stops at
/// the redirect, as a browser would hand it to the client).
pub const REDIRECT_URI: &str = "https://rp.example/cb";
pub const POST_LOGOUT_URI: &str = "https://rp.example/logged-out";
pub use crate::runtime_api::stack::PUBLIC_BASE_URL;

/// Whatever answers the API's requests: the functions behind a gateway, or a server over HTTP.
#[async_trait::async_trait]
pub trait Transport: Sync {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Reply;
}

#[async_trait::async_trait]
impl Transport for Gateway {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Reply {
        Gateway::send(self, request).await
    }
}

/// A server at `base` over HTTP (local-api), redirects not followed.
pub struct HttpApi {
    pub base: String,
    http: reqwest::Client,
}

impl HttpApi {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds");
        Self { base: base.into(), http }
    }
}

#[async_trait::async_trait]
impl Transport for HttpApi {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Reply {
        let (parts, body) = request.into_parts();
        let url = format!("{}{}", self.base, parts.uri);
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("a method");
        let mut builder = self.http.request(method, url).body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body read").to_vec();
        Reply { status, headers, body }
    }
}

/// `application/x-www-form-urlencoded`, as a browser encodes a form.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The parameters of a query string (or form body), decoded.
pub fn query_pairs(query: &str) -> BTreeMap<String, String> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                other => out.push(other),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// A PKCE pair (RFC 7636, S256).
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self { verifier, challenge }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// What a client registration gives back, and what the client needs of it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub registered: Value,
}

/// The metadata of a confidential client with every grant and scope, and a logout URI.
pub fn confidential_metadata(name: &str) -> Value {
    json!({
        "client_name": name,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [POST_LOGOUT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid profile email offline_access api",
    })
}

/// `POST /oauth/clients` with an admin's access token (RFC 7591).
pub async fn register_client(
    api: &impl Transport,
    admin_token: &str,
    metadata: &Value,
) -> Result<Client, String> {
    let reply = api.send(json_request("POST", "/oauth/clients", Some(admin_token), metadata)).await;
    if reply.status != 201 {
        return Err(format!("POST /oauth/clients: {} {}", reply.status, text(&reply)));
    }
    let registered = reply.json();
    let id = registered["client_id"].as_str().ok_or("no client_id")?.to_owned();
    let secret = registered["client_secret"].as_str().map(str::to_owned);
    Ok(Client { id, secret, registered })
}

/// A JSON request, with a bearer token if any.
pub fn json_request(method: &str, path: &str, token: Option<&str>, body: &Value) -> http::Request<Vec<u8>> {
    crate::runtime_api::request(method, path, token, Some(body))
}

/// A form post to the token, revocation or introspection endpoint, the client authenticating
/// with HTTP Basic (its registration's default).
pub fn client_form(path: &str, client: &Client, pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "stratus-e2e-rp");
    if let Some(secret) = &client.secret {
        let credentials = format!("{}:{}", form_encode_one(&client.id), form_encode_one(secret));
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        builder = builder.header("authorization", format!("Basic {basic}"));
    }
    let mut pairs = pairs.to_vec();
    if client.secret.is_none() {
        pairs.push(("client_id", &client.id));
    }
    builder.body(form_encode(&pairs).into_bytes()).expect("a valid request")
}

fn form_encode_one(text: &str) -> String {
    form_encode(&[("", text)])[1..].to_owned()
}

/// `grant_type=authorization_code` for `code` with the PKCE verifier.
pub async fn exchange_code(api: &impl Transport, client: &Client, code: &str, verifier: &str) -> Reply {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    api.send(client_form("/oauth/token", client, &pairs)).await
}

/// An authorization request's query string: code, PKCE S256, state and nonce.
pub fn authorization_query(client_id: &str, scope: &str, pkce: &Pkce, state: &str, nonce: &str) -> String {
    form_encode(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ])
}

/// The end of a trip through the hosted pages: the redirect to the client.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub location: String,
    /// The redirect's parameters: `code`, `state`, `iss` (or `error`).
    pub params: BTreeMap<String, String>,
    /// The pages met, in order: `login`, `totp`, `consent`.
    pub pages: Vec<&'static str>,
}

impl Authorized {
    pub fn code(&self) -> &str {
        self.params.get("code").map(String::as_str).unwrap_or_default()
    }
}

/// A browser: keeps the cookies the pages set, posts their forms with the `Origin` a browser
/// sends, and stops at the redirect to the client.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    /// The provider's origin (its issuer), sent as `Origin` with every form's post.
    pub origin: String,
    /// What the person types on the second factor's page (a TOTP or a recovery code), if any.
    pub second_factor: Option<String>,
}

impl Browser {
    pub fn new(origin: &str) -> Self {
        Self { cookies: BTreeMap::new(), origin: origin.to_owned(), second_factor: None }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, reply: &Reply) {
        for line in reply.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let mut parts = line.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else { continue };
            let expired = parts.any(|attribute| {
                attribute
                    .to_ascii_lowercase()
                    .strip_prefix("max-age=")
                    .is_some_and(|age| age.trim().parse::<i64>().is_ok_and(|age| age <= 0))
            });
            if expired || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// `request` with this browser's cookies, unsent (a benchmark sends it to the function it
    /// measures).
    pub fn with_cookies(&self, request: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
        let (mut parts, body) = request.into_parts();
        if !self.cookies.is_empty() {
            parts.headers.insert("cookie", self.cookie_header().parse().expect("cookies are a header value"));
        }
        parts.headers.insert("user-agent", "stratus-e2e-browser".parse().expect("a header value"));
        http::Request::from_parts(parts, body)
    }

    /// The request as this browser sends it: with its cookies; the cookies of the answer kept.
    pub async fn send(&mut self, api: &impl Transport, request: http::Request<Vec<u8>>) -> Reply {
        let reply = api.send(self.with_cookies(request)).await;
        self.keep_cookies(&reply);
        reply
    }

    pub async fn get(&mut self, api: &impl Transport, path_and_query: &str) -> Reply {
        let request = http::Request::builder().method("GET").uri(path_and_query).body(Vec::new());
        self.send(api, request.expect("a valid request")).await
    }

    /// A form's post as a browser makes it (with `Origin`), unsent and without cookies.
    pub fn form_request(&self, path: &str, pairs: &[(&str, &str)]) -> http::Request<Vec<u8>> {
        http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.origin)
            .body(form_encode(pairs).into_bytes())
            .expect("a valid request")
    }

    pub async fn post_form(&mut self, api: &impl Transport, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let request = self.form_request(path, pairs);
        self.send(api, request).await
    }

    /// What the browser posts once a person fills `form`: its hidden inputs, and the login's
    /// username and password, the second factor's `code`, or the consent's Allow. `None` for a
    /// form of another kind, or a second factor without a code to type.
    pub fn fill(
        form: &Form,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Option<(&'static str, Vec<(String, String)>)> {
        let mut pairs = form.hidden.clone();
        let page = if form.has_input("password") {
            pairs.push(("username".into(), username.into()));
            pairs.push(("password".into(), password.into()));
            "login"
        } else if form.has_input("code") {
            pairs.push(("code".into(), code?.into()));
            "totp"
        } else if form.decisions.iter().any(|d| d == "allow") {
            pairs.push(("decision".into(), "allow".into()));
            "consent"
        } else {
            return None;
        };
        Some((page, pairs))
    }

    /// `GET /authorize?{query}`, which must answer the login page, and the sign-in post a person
    /// would make on it, unsent (with the browser's cookies, the CSRF cookie among them).
    pub async fn sign_in_request(
        &mut self,
        api: &impl Transport,
        query: &str,
        username: &str,
        password: &str,
    ) -> Result<http::Request<Vec<u8>>, String> {
        let reply = self.get(api, &format!("/authorize?{query}")).await;
        let html = text(&reply);
        let form = Form::first(&html)
            .filter(|form| reply.status == 200 && form.has_input("password"))
            .ok_or_else(|| format!("{} and no login form: {}", reply.status, visible_text(&html)))?;
        let (_, pairs) = Self::fill(&form, username, password, None).expect("a login form");
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Ok(self.with_cookies(self.form_request(&form.action, &pairs)))
    }

    /// From `GET /authorize?{query}` to the redirect to the client, answering the login page
    /// with `username` and `password`, the second factor's with `second_factor`, and the consent
    /// page with Allow.
    pub async fn authorize(
        &mut self,
        api: &impl Transport,
        query: &str,
        username: &str,
        password: &str,
    ) -> Result<Authorized, String> {
        let mut pages = Vec::new();
        let mut reply = self.get(api, &format!("/authorize?{query}")).await;
        for _ in 0..10 {
            if (300..400).contains(&reply.status) {
                let location = reply.header("location").ok_or("a redirect without Location")?.to_owned();
                if let Some(query) = location.strip_prefix(REDIRECT_URI) {
                    if reply.status != 303 {
                        return Err(format!("the redirect to the client is {}, not 303", reply.status));
                    }
                    let params = query_pairs(query.trim_start_matches('?'));
                    return Ok(Authorized { location, params, pages });
                }
                let path = location.strip_prefix(&self.origin).unwrap_or(&location).to_owned();
                if !path.starts_with('/') {
                    return Err(format!("a redirect to neither the server nor the client: {location}"));
                }
                reply = self.get(api, &path).await;
                continue;
            }
            let html = text(&reply);
            if reply.status != 200 {
                return Err(format!("{} from the hosted page: {}", reply.status, visible_text(&html)));
            }
            let form =
                Form::first(&html).ok_or_else(|| format!("a page with no form: {}", visible_text(&html)))?;
            let (page, pairs) = Self::fill(&form, username, password, self.second_factor.as_deref())
                .ok_or_else(|| format!("a form this driver does not know: {}", visible_text(&html)))?;
            pages.push(page);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            reply = self.post_form(api, &form.action, &pairs).await;
        }
        Err(format!("no redirect to {REDIRECT_URI} after 10 pages ({pages:?})"))
    }
}

/// A form of a hosted page: where it posts, its hidden inputs, its other inputs' names and the
/// values of its `decision` buttons.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub inputs: Vec<String>,
    pub decisions: Vec<String>,
}

impl Form {
    pub fn first(html: &str) -> Option<Self> {
        let start = html.find("<form")?;
        let rest = &html[start..];
        let (tag_end, end) = (rest.find('>')?, rest.find("</form>")?);
        let attributes = tag_attributes(&rest[5..tag_end]);
        let inner = &rest[tag_end + 1..end];
        let mut form = Self {
            action: attributes.get("action").cloned().unwrap_or_default(),
            hidden: Vec::new(),
            inputs: Vec::new(),
            decisions: Vec::new(),
        };
        for (tag, attributes) in tags(inner) {
            let name = attributes.get("name").cloned().unwrap_or_default();
            match tag {
                "input" if attributes.get("type").map(String::as_str) == Some("hidden") => {
                    form.hidden.push((name, attributes.get("value").cloned().unwrap_or_default()));
                }
                "input" => form.inputs.push(name),
                "button" if name == "decision" => {
                    form.decisions.push(attributes.get("value").cloned().unwrap_or_default());
                }
                _ => {}
            }
        }
        Some(form)
    }

    pub fn has_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|input| input == name)
    }

    pub fn hidden(&self, name: &str) -> Option<&str> {
        self.hidden.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Every `<input>` and `<button>` tag in `html`, with its attributes.
fn tags(html: &str) -> Vec<(&'static str, BTreeMap<String, String>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        for name in ["input", "button"] {
            if tag.starts_with(name) && tag[name.len()..].starts_with([' ', '/']) {
                found.push((name, tag_attributes(&tag[name.len()..])));
            }
        }
        rest = &rest[end..];
    }
    found
}

/// A tag's attributes (`name="value"`, or bare), values unescaped.
fn tag_attributes(text: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].trim_matches('/').to_ascii_lowercase();
        rest = &rest[name_end..];
        let value = if let Some(after) = rest.strip_prefix("=\"") {
            let end = after.find('"').unwrap_or(after.len());
            let value = unescape(&after[..end]);
            rest = after.get(end + 1..).unwrap_or_default();
            value
        } else {
            String::new()
        };
        if !name.is_empty() {
            attributes.insert(name, value);
        }
        rest = rest.trim_start();
    }
    attributes
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A page's text without its tags, for failure messages.
pub fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(400).collect()
}

pub fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// The header and claims of a compact JWS, unverified.
pub fn decode_jwt(token: &str) -> Result<(Value, Value), String> {
    let mut parts = token.split('.');
    let mut part = || -> Result<Value, String> {
        let bytes =
            URL_SAFE_NO_PAD.decode(parts.next().ok_or("not a compact JWS")?).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    Ok((part()?, part()?))
}

/// Verifies an RS256 JWS against the RSA keys of a JWK Set (by `kid`) with aws-lc-rs, and
/// returns its claims. Nothing of the server's own verification code takes part.
pub fn verify_rs256(token: &str, jwks: &Value) -> Result<Value, String> {
    let (header, claims) = decode_jwt(token)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg is {}, not RS256", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid && k["kty"] == "RSA")
        .ok_or_else(|| format!("no RSA key {kid} in the JWK Set"))?;
    let number = |name: &str| {
        key[name].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok()).ok_or(format!("the key's {name}"))
    };
    let (n, e) = (number("n")?, number("e")?);
    let (signed, signature) = token.rsplit_once('.').ok_or("not a compact JWS")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|e| e.to_string())?;
    aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
        .map_err(|_| "the signature does not verify".to_owned())?;
    Ok(claims)
}

/// OIDC Core §3.1.3.6: the left half of the access token's SHA-256, base64url.
pub fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(access_token.as_bytes())[..16])
}

/// One authorization through the hosted pages (or at once, with the browser's session and a
/// consent given) and its code's exchange: the redirect and the token answer's JSON.
pub async fn code_flow(
    api: &impl Transport,
    browser: &mut Browser,
    client: &Client,
    scope: &str,
    username: &str,
    password: &str,
) -> Result<(Authorized, Value), String> {
    let pkce = Pkce::new();
    let state = uuid::Uuid::new_v4().simple().to_string();
    let query = authorization_query(&client.id, scope, &pkce, &state, "nonce");
    let authorized = browser.authorize(api, &query, username, password).await?;
    if authorized.params.get("state") != Some(&state) {
        return Err(format!("the redirect lost the state: {}", authorized.location));
    }
    let reply = exchange_code(api, client, authorized.code(), &pkce.verifier).await;
    if reply.status != 200 {
        return Err(format!("POST /oauth/token: {} {}", reply.status, text(&reply)));
    }
    Ok((authorized, reply.json()))
}

/// One person's way from the client's link to its tokens, timed: `GET /authorize` (the login
/// page), the sign-in's post, the consent's post (`prompt=consent` asks for it every time) and
/// the code's exchange at `POST /oauth/token`. A new browser each time: no session to skip a step.
pub async fn timed_round_trip(
    api: &impl Transport,
    origin: &str,
    client: &Client,
    username: &str,
    password: &str,
) -> Result<std::time::Duration, String> {
    let started = std::time::Instant::now();
    let mut browser = Browser::new(origin);
    let pkce = Pkce::new();
    let query =
        format!("{}&prompt=consent", authorization_query(&client.id, "openid profile", &pkce, "rt", "rt"));
    let authorized = browser.authorize(api, &query, username, password).await?;
    let exchanged = exchange_code(api, client, authorized.code(), &pkce.verifier).await;
    let elapsed = started.elapsed();
    if authorized.pages != ["login", "consent"] {
        return Err(format!("pages met: {:?}", authorized.pages));
    }
    if exchanged.status != 200 || !exchanged.json()["id_token"].is_string() {
        return Err(format!("POST /oauth/token: {} {}", exchanged.status, text(&exchanged)));
    }
    Ok(elapsed)
}
