//! GET /messages/{digest}: the message stored under a digest.

use serde::Serialize;
use std::sync::Arc;

use stratus_core::clock::Clock;
use stratus_core::domain::Digest;
use stratus_core::ports::MessageStore;
use stratus_http::Problem;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, HeaderValue, Request, Response, StatusCode, header,
};
use stratus_http::openapi::{BadRequest, InternalServerError, NotFound, ServiceUnavailable};
use stratus_wiring::{InitError, Wiring};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Content-addressed means immutable: a digest's message never changes, so any cache
/// (CloudFront, browsers) may keep it for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const ONE_YEAR: i64 = 31_536_000;

struct Deps {
    store: Arc<dyn MessageStore>,
    clock: Arc<dyn Clock>,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { store: wiring.messages()?, clock: wiring.clock() };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// The message a digest addresses.
#[derive(Serialize, ToSchema)]
struct Found<'a> {
    #[schema(value_type = stratus_core::domain::Message)]
    message: &'a str,
}

stratus_http::openapi_part!(handle);

/// Read a message by its digest
///
/// A digest always addresses the same message, so the answer may be cached for good.
#[utoipa::path(
    get,
    path = "/messages/{digest}",
    operation_id = "get-message",
    tag = "messages",
    params(
        ("digest" = Digest, Path, description = "The SHA-256 `POST /messages` answered"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag this endpoint gave: 304 if it still matches"),
    ),
    responses(
        (status = 200, description = "The message", body = Found,
            headers(
                ("ETag" = String, description = "The quoted digest"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`; when messages expire, max-age is the time this one has left"),
            )),
        (status = 304, description = "The ETag in If-None-Match still matches",
            headers(
                ("ETag" = String, description = "The quoted digest"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
            )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let raw = http::path_param(&request, "digest")?;
    let digest = Digest::parse(&raw).map_err(|error| {
        Problem::bad_request("The digest is malformed").with_field_error("digest", error.to_string())
    })?;
    let now = deps.clock.now();
    let Some(found) = deps.store.get(&digest, now).await? else {
        return Err(Problem::not_found(format!("No message has the digest {digest}")));
    };
    let etag = format!("\"{digest}\"");
    let mut response = if if_none_match(&request, &etag) {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::Empty)
            .expect("static parts are valid")
    } else {
        http::json_response(StatusCode::OK, &Found { message: found.message.as_str() })
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
    headers.insert(header::CACHE_CONTROL, cache_control(found.expires_at, now));
    Ok(response)
}

/// A digest's message never changes, so caches may keep it for good; when messages expire, no
/// longer than this one lives.
fn cache_control(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> HeaderValue {
    match expires_at {
        None => HeaderValue::from_static(IMMUTABLE),
        Some(at) => {
            let seconds = (at - now).whole_seconds().clamp(0, ONE_YEAR);
            HeaderValue::from_str(&format!("public, max-age={seconds}, immutable"))
                .expect("digits are a valid header")
        }
    }
}

/// RFC 9110 If-None-Match: `*` or a list of entity tags, compared weakly.
fn if_none_match(request: &Request, etag: &str) -> bool {
    request.headers().get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|list| {
        list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}
