//! POST /messages: store a message, answer its SHA-256 digest.

use serde::Deserialize;
use shared::domain::{Message, StoredMessage};
use shared::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use shared::ports::{MessageStore, PutOutcome};
use shared::{InitError, Problem, Wiring};

/// JSON may escape one byte of a message as six (`\u0001`), so the body that carries the
/// largest message can be six times its size; the message's own limit is checked after parsing.
pub const BODY_LIMIT: usize = Message::MAX_BYTES * 6 + 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMessage {
    message: String,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let store = wiring.messages()?;
    Ok(Endpoint::with_deps(
        store,
        |store, request| async move { handle(store.as_ref().as_ref(), request).await },
    ))
}

async fn handle(store: &dyn MessageStore, request: Request) -> HandlerResult {
    let body: CreateMessage = http::json_body(&request, BODY_LIMIT)?;
    let message = Message::try_from(body.message).map_err(|too_long| {
        Problem::payload_too_large("The message is too long")
            .with_field_error("message", too_long.to_string())
    })?;
    let stored = StoredMessage::from(message);
    let status = match store.put(&stored).await? {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::AlreadyStored => StatusCode::OK,
    };
    let digest = stored.digest();
    let mut response = http::json_response(status, &serde_json::json!({ "digest": digest }));
    let location = HeaderValue::from_str(&format!("/messages/{digest}")).expect("hex is a valid header");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}
