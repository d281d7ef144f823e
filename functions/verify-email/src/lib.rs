//! POST /users/me/email/verify: the signed-in user types back the code mailed to their address.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::Authenticator;
use stratus_auth::codes::{CodePurpose, OneTimeCode, check, spend};
use stratus_core::clock::Clock;
use stratus_core::ports::{Checked, CodeStore, UserStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate_to_verify_email;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    codes: Arc<dyn CodeStore>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailVerification {
    /// The 8-digit code from the mail (spaces and hyphens are ignored).
    #[schema(pattern = r"^[0-9 -]{8,32}$", examples("12345678"))]
    code: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        codes: wiring.codes()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Verify the email address
///
/// Takes the code mailed at registration (or by `POST /users/me/email/verify/resend`). A code
/// works once, for 15 minutes, and a few wrong tries spend it. Accepts an access token or the
/// `verification_token` a login answers with when verified emails are required.
#[utoipa::path(
    post,
    path = "/users/me/email/verify",
    operation_id = "verifyEmail",
    tag = "accounts",
    request_body(content = EmailVerification, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The email is verified"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate_to_verify_email(&deps.auth, &request).await?;
    let body: EmailVerification = http::json_body(&request, BODY_LIMIT)?;
    let code = OneTimeCode::parse(&body.code)
        .map_err(|e| Problem::bad_request("The code is not valid").with_field_error("code", e))?;
    if user.email_verified {
        return Ok(no_content());
    }
    let now = deps.clock.now();
    match check(deps.codes.as_ref(), CodePurpose::EmailVerification, &user, &code, now).await? {
        Checked::Right => {}
        Checked::Wrong | Checked::NoCode => {
            return Err(Problem::bad_request("The code is wrong, spent or expired")
                .with_field_error("code", "ask for a new one with POST /users/me/email/verify/resend"));
        }
    }
    // False only if the account changed since the code was mailed: the code proved nothing then.
    if !deps.users.mark_email_verified(&user).await? {
        return Err(Problem::bad_request("The account changed since the code was mailed")
            .with_field_error("code", "ask for a new one with POST /users/me/email/verify/resend"));
    }
    // Spent last: a dependency's fault before this leaves the code good for the honest retry,
    // and one after it leaves the address verified, which the retry answers at once. Losing the
    // spend to another request with the same code changes nothing: the address is verified.
    spend(deps.codes.as_ref(), CodePurpose::EmailVerification, &user, &code, now).await?;
    tracing::info!(username = %user.username, "email verified");
    Ok(no_content())
}

fn no_content() -> Response<Body> {
    Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid")
}
