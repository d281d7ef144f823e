//! DELETE /users/me: the signed-in user deletes their account, giving their password. The
//! account and its email's guard go at once, so the username and the email can be registered
//! again, and every session ends (a refresh finds no account, and a new account under the name
//! is another session generation). The last active admin's account is not deleted: the store
//! removes an admin's account and counts it out of the active admins in one conditional write.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::reauth::confirm_password;
use stratus_auth::{AuthConfig, Authenticator};
use stratus_core::clock::Clock;
use stratus_core::ports::{Deleted, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::guard::unauthorized;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, Conflict, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 4 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountDeletion {
    /// The account's password, to confirm.
    #[schema(min_length = 1, max_length = 128, format = Password)]
    password: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        rate_limiter: wiring.rate_limiter()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Delete my account
///
/// Needs the password, checked under the account's password-hashing budget (429 once it is
/// spent). The account is gone at once: its username and email are free again,
/// and no session of it can be refreshed. The last active admin cannot delete their account
/// (409): the service would have no admin left. Access tokens already issued are refused by every
/// route that reads the account, and run out within minutes.
#[utoipa::path(
    delete,
    path = "/users/me",
    operation_id = "deleteAccount",
    tag = "accounts",
    request_body(content = AccountDeletion, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let body: AccountDeletion = http::json_body(&request, BODY_LIMIT)?;
    let now = deps.clock.now();
    confirm_password(deps.rate_limiter.as_ref(), &deps.config, &user, "password", body.password, now).await?;
    match deps.users.delete(&user).await? {
        Deleted::Deleted => {}
        Deleted::Gone => return Err(unauthorized("The account of this token no longer exists", true)),
        Deleted::LastActiveAdmin => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "This is the last active admin: make another admin before deleting it",
            ));
        }
    }
    tracing::info!(username = %user.username, "account deleted");
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid"))
}
