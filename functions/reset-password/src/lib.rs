//! POST /password/reset: a mailed code and a new password. Every session of the account ends,
//! and the email counts as verified: the code was read at that address.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::codes::{CodePurpose, OneTimeCode, check, spend};
use stratus_auth::{AuthConfig, Password, password};
use stratus_core::clock::Clock;
use stratus_core::domain::Email;
use stratus_core::ports::{Checked, CodeStore, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    UnsupportedMediaType,
};
use stratus_http::problem::FieldErrors;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 4 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    codes: Arc<dyn CodeStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordReset {
    /// The account's email address, as given to `POST /password/forgot`.
    #[schema(value_type = Email)]
    email: String,
    /// The 8-digit code from the mail (spaces and hyphens are ignored).
    #[schema(pattern = r"^[0-9 -]{8,32}$", examples("12345678"))]
    code: String,
    /// The new password: the registration policy applies.
    #[schema(value_type = Password)]
    new_password: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        codes: wiring.codes()?,
        rate_limiter: wiring.rate_limiter()?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Reset a forgotten password
///
/// Takes the code `POST /password/forgot` mailed. A code works once, for 15 minutes, and a few
/// wrong tries spend it. Every session of the account ends; the email counts as verified.
#[utoipa::path(
    post,
    path = "/password/reset",
    operation_id = "resetPassword",
    tag = "accounts",
    request_body(content = PasswordReset, content_type = "application/json"),
    security(()),
    responses(
        (status = 204, description = "The password is reset; every session has ended"),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let now = deps.clock.now();
    let source = http::source_key(&request);
    deps.rate_limiter.enforce(&format!("recovery:source:{source}"), deps.config.recovery_limit, now).await?;
    let body: PasswordReset = http::json_body(&request, BODY_LIMIT)?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&body.email));
    let code = errors.check("code", OneTimeCode::parse(&body.code));
    let (Some(email), Some(code)) = (email, code) else {
        return Err(errors.into_problem("The reset has invalid fields"));
    };
    // The password is judged twice, around the code. Before it, only by what needs no account
    // (length, common passwords, the address as typed): the answer is the same whether or not
    // the address has one. After the code proved the caller reads the account's mail, by the
    // account's own details too. The code is counted when checked but spent only once the
    // password is in place, so neither a refusal nor a dependency's fault (the honest retry of a
    // 503 brings the same code) costs the code.
    acceptable(&body.new_password, &[&body.email])?;
    let user = deps.users.find_by_email(&email).await?;
    let Some(user) = user else { return Err(wrong_code()) };
    match check(deps.codes.as_ref(), CodePurpose::PasswordReset, &user, &code, now).await? {
        Checked::Right => {}
        Checked::Wrong | Checked::NoCode => return Err(wrong_code()),
    }
    let context = [user.username.as_str(), &body.email, user.first_name.as_str(), user.last_name.as_str()];
    let new_password = acceptable(&body.new_password, &context)?;
    let hash =
        http::blocking(move || password::hash(&new_password)).await?.map_err(|e| Problem::internal(&e))?;
    // A new session generation: every refresh token issued before stops working. Only from the
    // account as read: of two resets racing with one code, the first to set its password wins,
    // and the other finds the generation moved.
    if !deps.users.set_password(&user, &hash, uuid::Uuid::new_v4()).await? {
        return Err(wrong_code());
    }
    // Spent with the user's other reset codes. It was right when checked and the password is
    // in place: losing the spend means a request with the same code, that read the account
    // after this one set its password, set its own and spent it first. Both proved the mail.
    if !spend(deps.codes.as_ref(), CodePurpose::PasswordReset, &user, &code, now).await? {
        tracing::warn!(username = %user.username, "the reset code was spent meanwhile by another reset with it");
    }
    deps.users.mark_email_verified(&user).await?;
    tracing::info!(username = %user.username, "password reset by mailed code; every session ended");
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid"))
}

/// The new password, if the policy accepts it given `context`.
fn acceptable(text: &str, context: &[&str]) -> Result<Password, Problem> {
    Password::parse(text.to_owned(), context).map_err(|error| {
        Problem::bad_request("The new password is not acceptable")
            .with_field_error("new_password", error.to_string())
    })
}

/// One answer for an unknown address and a wrong, spent or expired code.
fn wrong_code() -> Problem {
    Problem::bad_request("The code is wrong, spent or expired")
        .with_field_error("code", "ask for a new one with POST /password/forgot")
}
