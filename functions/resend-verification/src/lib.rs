//! POST /users/me/email/verify/resend: mails the signed-in user a new verification code.

use std::sync::Arc;

use stratus_auth::codes::{CodePurpose, send_code};
use stratus_auth::{AuthConfig, Authenticator};
use stratus_core::clock::Clock;
use stratus_core::ports::{CodeStore, Mailer, RateLimiter};
use stratus_http::Problem;
use stratus_http::guard::authenticate_to_verify_email;
use stratus_http::http::{Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    Conflict, InternalServerError, ServiceUnavailable, TooManyRequests, Unauthorized,
};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    codes: Arc<dyn CodeStore>,
    mailer: Arc<dyn Mailer>,
    rate_limiter: Arc<dyn RateLimiter>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        codes: wiring.codes()?,
        mailer: wiring.mailer()?,
        rate_limiter: wiring.rate_limiter()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Mail a new verification code
///
/// The code mailed before stops working. Limited per address, apart from the password-reset
/// mails (which anyone can ask for).
/// Accepts an access token or the `verification_token` of a login that asked for verification.
#[utoipa::path(
    post,
    path = "/users/me/email/verify/resend",
    operation_id = "resendEmailVerification",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new code is on its way"),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate_to_verify_email(&deps.auth, &request).await?;
    if user.email_verified {
        return Err(Problem::new(StatusCode::CONFLICT, "The email is verified already")
            .with_field_error("email", "verified"));
    }
    let now = deps.clock.now();
    // A bucket of its own: the reset mails' bucket is one anyone can fill for any address.
    let key = format!("mail:verification:email:{}", user.email.key());
    deps.rate_limiter.enforce(&key, deps.config.verification_mail_limit, now).await?;
    send_code(deps.codes.as_ref(), deps.mailer.as_ref(), CodePurpose::EmailVerification, &user, now).await?;
    Ok(Response::builder().status(StatusCode::ACCEPTED).body(Body::Empty).expect("static parts are valid"))
}
