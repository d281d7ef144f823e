//! GET /health: a shallow liveness answer. It touches no table, so it costs one cheap
//! invocation and can be probed often.

use serde::Serialize;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_wiring::{InitError, Wiring};

pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    Ok(Endpoint::new(handle))
}

/// The function is up.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    #[schema(examples("ok"))]
    status: &'static str,
    /// The deployed version.
    #[schema(examples("0.1.0"))]
    version: &'static str,
}

stratus_http::openapi_part!(handle);

/// Liveness
///
/// Answers without touching any table, so it is cheap to probe often.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "meta",
    responses((status = 200, description = "Up", body = Health,
        headers(("Cache-Control" = String, description = "`no-store`"))))
)]
async fn handle(_request: Request) -> HandlerResult {
    let body = Health { status: "ok", version: env!("CARGO_PKG_VERSION") };
    let mut response = http::json_response(StatusCode::OK, &body);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
