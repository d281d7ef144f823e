//! GET /health: a shallow liveness answer. It touches no table, so it costs one cheap
//! invocation and can be probed often.

use shared::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use shared::{InitError, Wiring};

pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    Ok(Endpoint::new(handle))
}

async fn handle(_request: Request) -> HandlerResult {
    let body = serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") });
    let mut response = http::json_response(StatusCode::OK, &body);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
