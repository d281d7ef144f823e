//! GET /messages/{digest}: the message stored under a digest.

use shared::domain::Digest;
use shared::http::{self, Body, Endpoint, HandlerResult, HeaderValue, Request, Response, StatusCode, header};
use shared::ports::MessageStore;
use shared::{InitError, Problem, Wiring};

/// Content-addressed means immutable: a digest's message never changes, so any cache
/// (CloudFront, browsers) may keep it for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let store = wiring.messages()?;
    Ok(Endpoint::with_deps(
        store,
        |store, request| async move { handle(store.as_ref().as_ref(), request).await },
    ))
}

async fn handle(store: &dyn MessageStore, request: Request) -> HandlerResult {
    let raw = http::path_param(&request, "digest")?;
    let digest = Digest::parse(&raw).map_err(|error| {
        Problem::bad_request("The digest is malformed").with_field_error("digest", error.to_string())
    })?;
    let Some(message) = store.get(&digest).await? else {
        return Err(Problem::not_found(format!("No message has the digest {digest}")));
    };
    let etag = format!("\"{digest}\"");
    let mut response = if if_none_match(&request, &etag) {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::Empty)
            .expect("static parts are valid")
    } else {
        http::json_response(StatusCode::OK, &serde_json::json!({ "message": message.as_str() }))
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

/// RFC 9110 If-None-Match: `*` or a list of entity tags, compared weakly.
fn if_none_match(request: &Request, etag: &str) -> bool {
    request.headers().get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|list| {
        list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}
