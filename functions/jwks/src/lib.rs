//! GET /.well-known/jwks.json, GET /.well-known/openid-configuration and GET
//! /.well-known/oauth-authorization-server: the public keys that verify Stratus tokens, and the
//! OpenID Provider's metadata (OpenID Connect Discovery 1.0 and RFC 8414 give the same
//! document). Any service can then check a token, and any relying-party library configure
//! itself, with nothing else. The keys come from the wiring (on AWS the `SIGNING_JWKS` set the
//! deploy wrote, so no call to KMS), current first, and a retired key stays listed until its
//! last tokens have expired.

use serde::Serialize;
use stratus_auth::keys::JwkSet;
use stratus_http::Problem;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, HeaderValue, Request, RequestExt, Response, StatusCode, header,
};
use stratus_http::openapi::NotFound;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const AUTHORIZATION_SERVER_PATH: &str = "/.well-known/oauth-authorization-server";

/// Keys change only with a deploy, and a retired key stays listed for longer than this, so a
/// verifier that caches the set for five minutes never misses a key that signs.
const CACHE: &str = "public, max-age=300";

struct Deps {
    jwks: String,
    /// Every token's `iss`: the public URL once there is one (`TokenIssuer::issuer_id`).
    issuer: String,
    /// The public URL (`PUBLIC_BASE_URL`): with it, the provider's endpoints are listed.
    base_url: Option<String>,
}

/// The OpenID Provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2). Without a
/// public URL only the fields a token verifier needs are given: the OAuth endpoints need one.
#[derive(Serialize, ToSchema)]
struct Discovery {
    /// Equal to the `iss` claim of every token.
    issuer: String,
    /// Where the JWK Set is.
    #[schema(format = "uri")]
    jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    userinfo_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    /// RS256 (the default, as OpenID Connect requires) and ES256.
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// PKCE: S256 only, required of every client.
    code_challenge_methods_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    /// RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    /// The claims of ID tokens, userinfo and access tokens.
    claims_supported: Vec<&'static str>,
}

stratus_http::openapi_part!(jwks, openid_configuration, oauth_authorization_server);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let keys = wiring.public_keys().await?;
    let rsa = wiring.rsa_public_keys().await?;
    let auth = wiring.settings()?.auth;
    let deps = Deps {
        jwks: serde_json::to_string(&JwkSet::with_rsa(&keys, &rsa)).expect("a JWK Set serializes"),
        issuer: auth.oidc_issuer.clone().unwrap_or(auth.issuer),
        base_url: auth.oidc_issuer,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request) }))
}

fn handle(deps: &Deps, request: Request) -> HandlerResult {
    match request.raw_http_path() {
        JWKS_PATH => jwks(deps),
        DISCOVERY_PATH => openid_configuration(deps, &request),
        AUTHORIZATION_SERVER_PATH => oauth_authorization_server(deps, &request),
        _ => Err(Problem::new(StatusCode::NOT_FOUND, "No such document")),
    }
}

/// Signing keys
///
/// The public keys access tokens are signed with, as a JWK Set (RFC 7517): the current key
/// first, then any retired key whose tokens may still be live. Pick the key by the token's
/// `kid` header.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "accounts",
    responses(
        (status = 200, description = "The public signing keys", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 404, response = NotFound),
    )
)]
fn jwks(deps: &Deps) -> HandlerResult {
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, CACHE)
        .body(Body::Text(deps.jwks.clone()))
        .expect("static parts are valid"))
}

/// Discovery
///
/// The OpenID Provider's metadata (OpenID Connect Discovery 1.0), from which relying-party
/// libraries configure themselves: the issuer, its keys and its endpoints.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openidConfiguration",
    tag = "accounts",
    responses(
        (status = 200, description = "The provider's metadata", body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 404, response = NotFound),
    )
)]
fn openid_configuration(deps: &Deps, request: &Request) -> HandlerResult {
    metadata(deps, request)
}

/// Authorization server metadata
///
/// RFC 8414's name for the same document as `/.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "oauthAuthorizationServer",
    tag = "oauth",
    responses(
        (status = 200, description = "The provider's metadata", body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 404, response = NotFound),
    )
)]
fn oauth_authorization_server(deps: &Deps, request: &Request) -> HandlerResult {
    metadata(deps, request)
}

fn metadata(deps: &Deps, request: &Request) -> HandlerResult {
    let base = match &deps.base_url {
        Some(url) => url.clone(),
        None => request_base_url(request),
    };
    let endpoint = |path: &str| deps.base_url.as_ref().map(|url| format!("{url}{path}"));
    let client_auth = vec!["client_secret_basic", "client_secret_post", "none"];
    let body = Discovery {
        issuer: deps.issuer.clone(),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        authorization_endpoint: endpoint("/authorize"),
        token_endpoint: endpoint("/oauth/token"),
        userinfo_endpoint: endpoint("/oauth/userinfo"),
        registration_endpoint: endpoint("/oauth/clients"),
        revocation_endpoint: endpoint("/oauth/revoke"),
        introspection_endpoint: endpoint("/oauth/introspect"),
        end_session_endpoint: endpoint("/oauth/logout"),
        scopes_supported: stratus_auth::oauth::clients::KNOWN_SCOPES.to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
        token_endpoint_auth_methods_supported: client_auth.clone(),
        revocation_endpoint_auth_methods_supported: client_auth.clone(),
        introspection_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported: vec!["S256"],
        prompt_values_supported: vec!["none", "login", "consent"],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "azp",
            "at_hash",
            "sid",
            "preferred_username",
            "given_name",
            "family_name",
            "name",
            "email",
            "email_verified",
            "client_id",
            "scope",
            "role",
            "jti",
            "sgen",
        ],
    };
    let mut response = http::json_response(StatusCode::OK, &body);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    Ok(response)
}

/// The URL the caller reached us at. The host is the caller's to choose, so anything but a plain
/// host name (and port) is not repeated back.
fn request_base_url(request: &Request) -> String {
    let proto = match http::header_str(request, header::HeaderName::from_static("x-forwarded-proto")) {
        Some("http") => "http",
        _ => "https",
    };
    let host = http::header_str(request, header::HOST)
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{proto}://{host}")
}
