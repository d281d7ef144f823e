//! GET /users/me (and its older name GET /getUserData): the caller's own profile.

use stratus_auth::Authenticator;
use stratus_core::domain::Profile;
use stratus_http::guard::authenticate;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{InternalServerError, ServiceUnavailable, Unauthorized};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    auth: Authenticator,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { auth: wiring.authenticator().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

stratus_http::openapi_part!(handle, get_user_data);

/// The caller's profile
#[utoipa::path(
    get,
    path = "/users/me",
    operation_id = "me",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = Profile,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let mut response = http::json_response(StatusCode::OK, &Profile::from(&user));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// The caller's profile, under its older name
///
/// The same as `GET /users/me`, kept for clients of the first API.
#[utoipa::path(
    get,
    path = "/getUserData",
    operation_id = "getUserData",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = Profile,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
#[allow(dead_code)] // Documents the second route of `handle`.
fn get_user_data() {}
