//! API Gateway's `$default` route: everything the route table does not serve gets a
//! problem+json 404, or 405 with `Allow` when the path exists under other methods.

use stratus_http::Problem;
use stratus_http::http::{Endpoint, HandlerResult, Request, RequestExt};
use stratus_routes::{Resolution, resolve};
use stratus_wiring::{InitError, Wiring};

pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    Ok(Endpoint::new(handle))
}

async fn handle(request: Request) -> HandlerResult {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    Err(match resolve(request.method().as_str(), path) {
        Resolution::MethodNotAllowed { allowed } => Problem::method_not_allowed(&allowed),
        Resolution::NotFound | Resolution::Found { .. } => {
            Problem::not_found(format!("No route serves {} {path}", request.method()))
        }
    })
}

/// `$default` is no operation: the document describes the routes, and the problem+json 404 and
/// 405 answers of the rest need no entry.
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
