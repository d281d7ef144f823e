//! POST /password/forgot: mails a password-reset code to the account with this email, if there
//! is one. The answer is the same 202, after the same time, either way.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::AuthConfig;
use stratus_auth::codes::{CodePurpose, send_code};
use stratus_core::clock::Clock;
use stratus_core::domain::Email;
use stratus_core::ports::{CodeStore, Mailer, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 4 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    codes: Arc<dyn CodeStore>,
    mailer: Arc<dyn Mailer>,
    rate_limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ForgotPassword {
    /// The account's email address.
    #[schema(value_type = Email)]
    email: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        codes: wiring.codes()?,
        mailer: wiring.mailer()?,
        rate_limiter: wiring.rate_limiter()?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Forgotten password
///
/// Mails a code to the address if an account has it; use the code with `POST /password/reset`
/// within 15 minutes. The three newest codes work: asking again does not void a mail on its
/// way. The answer is the same 202 whether or not there is an account, and it comes after the
/// same time. Limited per source address and per address mailed.
#[utoipa::path(
    post,
    path = "/password/forgot",
    operation_id = "forgotPassword",
    tag = "accounts",
    request_body(content = ForgotPassword, content_type = "application/json"),
    security(()),
    responses(
        (status = 202, description = "If an account has this address, a code is on its way"),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let arrived = tokio::time::Instant::now();
    let now = deps.clock.now();
    let source = http::source_key(&request);
    deps.rate_limiter.enforce(&format!("recovery:source:{source}"), deps.config.recovery_limit, now).await?;
    let body: ForgotPassword = http::json_body(&request, BODY_LIMIT)?;
    let email = Email::parse(&body.email).map_err(|e| {
        Problem::bad_request("The email is not valid").with_field_error("email", e.to_string())
    })?;
    // Keyed by the address, not the account: a full window answers alike for both. Anyone can
    // fill it, which is why it holds reset mails only, and why a new code leaves the last ones
    // working.
    deps.rate_limiter.enforce(&format!("mail:email:{}", email.key()), deps.config.mail_limit, now).await?;
    // Both paths read the same; only an existing account's path goes on to write and mail.
    let user = deps.users.find_by_email(&email).await?;
    if let Some(user) = user.filter(|user| !user.disabled) {
        // A failure here must not show: the answer would tell that the account exists.
        let sent =
            send_code(deps.codes.as_ref(), deps.mailer.as_ref(), CodePurpose::PasswordReset, &user, now);
        if let Err(error) = sent.await {
            tracing::error!(username = %user.username, %error, "the reset code could not be mailed");
        }
    }
    http::no_sooner_than(arrived, deps.config.forgot_password_floor, "FORGOT_PASSWORD_FLOOR_MS").await;
    Ok(Response::builder().status(StatusCode::ACCEPTED).body(Body::Empty).expect("static parts are valid"))
}
