//! POST /users/me/password: the signed-in user changes their password, giving the current one.
//! The new one meets the registration policy, and every session of the account ends (every
//! refresh token stops working); access tokens already issued run out within minutes.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::reauth::confirm_password;
use stratus_auth::{AuthConfig, Authenticator, Password, password};
use stratus_core::clock::Clock;
use stratus_core::ports::{RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::guard::unauthorized;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized,
    UnsupportedMediaType,
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
struct PasswordChange {
    /// The password the account has now.
    #[schema(min_length = 1, max_length = 128, format = Password)]
    current_password: String,
    /// The new password: the registration policy applies (8 to 128 characters, not a common or
    /// guessable one), and it must differ from the current one.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    new_password: String,
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

/// Change password
///
/// Needs the current password. Every session of the account ends: log in again with the new
/// password. Wrong current passwords are limited per user, as logins are, and every attempt
/// counts against the account's password-hashing budget, shared with deleting the account and
/// turning TOTP off (429 once it is spent).
#[utoipa::path(
    post,
    path = "/users/me/password",
    operation_id = "changePassword",
    tag = "accounts",
    request_body(content = PasswordChange, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every session has ended"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let body: PasswordChange = http::json_body(&request, BODY_LIMIT)?;
    let context =
        [user.username.as_str(), user.email.as_str(), user.first_name.as_str(), user.last_name.as_str()];
    let new_password = Password::parse(body.new_password.clone(), &context).map_err(|error| {
        Problem::bad_request("The new password is not acceptable")
            .with_field_error("new_password", error.to_string())
    })?;
    if body.new_password == body.current_password {
        return Err(Problem::bad_request("The new password is the current one")
            .with_field_error("new_password", "must differ from the current password"));
    }
    let now = deps.clock.now();
    // Every attempt, right or wrong, counts against the account's hashing budget.
    let limiter = deps.rate_limiter.as_ref();
    confirm_password(limiter, &deps.config, &user, "current_password", body.current_password, now).await?;
    let hash =
        http::blocking(move || password::hash(&new_password)).await?.map_err(|e| Problem::internal(&e))?;
    // A new session generation: every refresh token issued before stops working.
    if !deps.users.set_password(&user, &hash, uuid::Uuid::new_v4()).await? {
        return Err(unauthorized(
            "The account changed since this token was issued (deleted, or its password set)",
            true,
        ));
    }
    tracing::info!(username = %user.username, "password changed; every session ended");
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid"))
}
