//! API Gateway's `$default` route: everything the route table does not serve gets a
//! problem+json 404, or 405 with `Allow` when the path exists under other methods.

use shared::Problem;
use shared::http::{Endpoint, HandlerResult, Request, RequestExt};
use shared::routes::{Resolution, resolve};

pub fn endpoint() -> Endpoint {
    Endpoint::new(handle)
}

pub async fn handle(request: Request) -> HandlerResult {
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
