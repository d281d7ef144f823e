//! GET /.well-known/jwks.json and GET /.well-known/openid-configuration: the public keys that
//! verify Stratus access tokens, and where to find them. Any service can then check a token with
//! a standard JOSE library and nothing else. The keys come from the wiring (on AWS the
//! `SIGNING_JWKS` set the deploy wrote, so no call to KMS), current first, and a retired key stays
//! listed until its last tokens have expired.

use serde::Serialize;
use stratus_auth::keys::JwkSet;
use stratus_core::config::{ConfigError, optional};
use stratus_http::Problem;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, HeaderValue, Request, RequestExt, Response, StatusCode, header,
};
use stratus_http::openapi::NotFound;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The public URL of the API (`https://api.example.com`), from which `jwks_uri` is made. Unset,
/// the request's own host is used, which behind CloudFront without a custom domain is API
/// Gateway's: set it to the distribution's URL then.
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";

/// Keys change only with a deploy, and a retired key stays listed for longer than this, so a
/// verifier that caches the set for five minutes never misses a key that signs.
const CACHE: &str = "public, max-age=300";

struct Deps {
    jwks: String,
    issuer: String,
    base_url: Option<String>,
}

/// Where a verifier learns about the tokens' issuer (OpenID Connect Discovery 1.0, the fields a
/// resource server needs).
#[derive(Serialize, ToSchema)]
struct Discovery {
    /// Equal to the `iss` claim of every access token.
    issuer: String,
    /// Where the JWK Set is.
    #[schema(format = "uri")]
    jwks_uri: String,
    /// Always `["ES256"]`.
    id_token_signing_alg_values_supported: [&'static str; 1],
    /// The claims an access token carries.
    claims_supported: Vec<&'static str>,
}

stratus_http::openapi_part!(jwks, openid_configuration);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let keys = wiring.public_keys().await?;
    let base_url = match optional(PUBLIC_BASE_URL) {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(value) => {
            return Err(ConfigError::Invalid {
                name: PUBLIC_BASE_URL,
                value,
                reason: "expected an http(s) URL".into(),
            }
            .into());
        }
        None => None,
    };
    let deps = Deps {
        jwks: serde_json::to_string(&JwkSet::new(&keys)).expect("a JWK Set serializes"),
        issuer: wiring.settings()?.auth.issuer,
        base_url,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request) }))
}

fn handle(deps: &Deps, request: Request) -> HandlerResult {
    match request.raw_http_path() {
        JWKS_PATH => jwks(deps),
        DISCOVERY_PATH => openid_configuration(deps, &request),
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
/// The tokens' issuer and where its keys are (OpenID Connect Discovery), for libraries that
/// configure themselves from it.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openidConfiguration",
    tag = "accounts",
    responses(
        (status = 200, description = "The issuer and its key set", body = Discovery,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 404, response = NotFound),
    )
)]
fn openid_configuration(deps: &Deps, request: &Request) -> HandlerResult {
    let base = match &deps.base_url {
        Some(url) => url.clone(),
        None => request_base_url(request),
    };
    let body = Discovery {
        issuer: deps.issuer.clone(),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        id_token_signing_alg_values_supported: ["ES256"],
        // The access token's claims (RFC 9068 and docs/api.md); its header is `typ: at+jwt`.
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "preferred_username",
            "role",
            "email_verified",
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
