//! POST /messages: store a message, answer its SHA-256 digest. Anyone may write, so writes are
//! limited per source address, and messages may be given a lifetime (`MESSAGE_TTL_SECONDS`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stratus_core::clock::Clock;
use stratus_core::domain::{Digest, Message, StoredMessage};
use stratus_core::ports::{MessageStore, PutOutcome, RateLimit, RateLimiter};
use stratus_http::Problem;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

/// JSON may escape one byte of a message as six (`\u0001`), so the body that carries the
/// largest message can be six times its size; the message's own limit is checked after parsing.
pub const BODY_LIMIT: usize = Message::MAX_BYTES * 6 + 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateMessage {
    #[schema(value_type = Message)]
    message: String,
}

/// Where a stored message can be found.
#[derive(Serialize, ToSchema)]
struct Stored {
    digest: Digest,
}

stratus_http::openapi_part!(handle);

struct Deps {
    store: Arc<dyn MessageStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    limit: RateLimit,
    ttl: Option<time::Duration>,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let settings = wiring.settings()?;
    let deps = Deps {
        store: wiring.messages()?,
        rate_limiter: wiring.rate_limiter()?,
        clock: wiring.clock(),
        limit: settings.message_limit,
        ttl: settings.message_ttl,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Store a message
///
/// The message is stored under the SHA-256 of its UTF-8 bytes, its digest. Storing is
/// idempotent: the same message again answers 200 with the same digest. Writes are limited per
/// source address.
#[utoipa::path(
    post,
    path = "/messages",
    operation_id = "create-message",
    tag = "messages",
    request_body(content = CreateMessage, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored for the first time", body = Stored,
            headers(("Location" = String, description = "`/messages/{digest}`")),
            links(("GetMessage" = (operation_id = "get-message", parameters(("digest" = "$response.body#/digest")))))),
        (status = 200, description = "Already stored", body = Stored,
            headers(("Location" = String, description = "`/messages/{digest}`")),
            links(("GetMessage" = (operation_id = "get-message", parameters(("digest" = "$response.body#/digest")))))),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let now = deps.clock.now();
    let source = http::source_key(&request);
    deps.rate_limiter.enforce(&format!("messages:source:{source}"), deps.limit, now).await?;
    let body: CreateMessage = http::json_body(&request, BODY_LIMIT)?;
    let message = Message::try_from(body.message).map_err(|too_long| {
        Problem::payload_too_large("The message is too long")
            .with_field_error("message", too_long.to_string())
    })?;
    let stored = StoredMessage::from(message);
    let expires_at = deps.ttl.map(|ttl| now + ttl);
    let status = match deps.store.put(&stored, expires_at, now).await? {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::AlreadyStored => StatusCode::OK,
    };
    let digest = stored.digest();
    let mut response = http::json_response(status, &Stored { digest });
    let location = HeaderValue::from_str(&format!("/messages/{digest}")).expect("hex is a valid header");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}
