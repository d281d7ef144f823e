//! GET /users/{username}: a profile, for an admin or for its owner.

use std::sync::Arc;

use stratus_auth::Authenticator;
use stratus_core::domain::{Profile, User, Username};
use stratus_core::ports::UserStore;
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, Forbidden, InternalServerError, NotFound, ServiceUnavailable, Unauthorized,
};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    users: Arc<dyn UserStore>,
    auth: Authenticator,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { users: wiring.users()?, auth: wiring.authenticator().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

stratus_http::openapi_part!(handle);

/// Read a profile
///
/// An admin may read anyone's; a user only their own.
#[utoipa::path(
    get,
    path = "/users/{username}",
    operation_id = "get-user",
    tag = "accounts",
    security(("bearer" = [])),
    params(("username" = Username, Path, description = "In any letter case")),
    responses(
        (status = 200, description = "The profile", body = Profile,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let caller = authenticate(&deps.auth, &request).await?;
    let username = Username::parse(&http::path_param(&request, "username")?).map_err(|error| {
        Problem::bad_request("The username is malformed").with_field_error("username", error.to_string())
    })?;
    if caller.username == username {
        return profile(&caller);
    }
    // The caller's role as stored now: a demoted admin reads no one else from that moment.
    if !caller.is_active_admin() {
        return Err(Problem::new(StatusCode::FORBIDDEN, "Only an admin can read another user's profile"));
    }
    let user = deps
        .users
        .get(&username)
        .await?
        .ok_or_else(|| Problem::not_found(format!("No user is named {username}")))?;
    profile(&user)
}

fn profile(user: &User) -> HandlerResult {
    let mut response = http::json_response(StatusCode::OK, &Profile::from(user));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
