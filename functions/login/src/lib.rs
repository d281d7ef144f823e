//! POST /login: credentials (JSON body or HTTP Basic) for an access and a refresh token.
//! Rate-limited per username and per source address; an unknown user and a wrong password
//! get the same answer in the same time.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use stratus_auth::TokenIssuer;
use stratus_auth::login::{Login, LoginError, LoginOutcome as Outcome};
use stratus_core::clock::Clock;
use stratus_core::domain::Username;
use stratus_core::ports::{RateLimiter, RefreshTokenStore, UserStore};
use stratus_http::Problem;
use stratus_http::guard;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, Forbidden, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 4 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    #[schema(value_type = Username)]
    username: String,
    #[schema(min_length = 1, max_length = 128, format = Password)]
    password: String,
}

/// What a login answers, for an account with TOTP on, in place of tokens.
#[derive(serde::Serialize, ToSchema)]
struct MfaChallenge {
    /// Always true: send a code with `mfa_token` to `POST /login/mfa`.
    mfa_required: bool,
    /// Opens `POST /login/mfa` and nothing else.
    mfa_token: String,
    /// Seconds `mfa_token` stays good.
    expires_in: i64,
}

/// A login's answer.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documents the two shapes of the 200.
enum LoginOutcome {
    Tokens(stratus_auth::session::TokenPair),
    MfaRequired(MfaChallenge),
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        refresh_tokens: wiring.refresh_tokens()?,
        rate_limiter: wiring.rate_limiter()?,
        issuer: wiring.issuer()?,
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Log in
///
/// Credentials come as a JSON body or as HTTP Basic (`Authorization: Basic`, which then wins
/// over any body). An unknown user and a wrong password get the same answer in the same time.
/// Failed attempts are limited per source address, per username from one address, and per
/// username from all addresses (a much higher ceiling); successful ones count for nothing.
#[utoipa::path(
    post,
    path = "/login",
    operation_id = "login",
    tag = "accounts",
    request_body(content = Credentials, content_type = "application/json",
        description = "Required unless the credentials come as HTTP Basic"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Logged in; or, for an account with TOTP on, the token to send a code with to `POST /login/mfa`", body = LoginOutcome,
            headers(("Cache-Control" = String, description = "`no-store`")),
            links(
                ("Refresh" = (operation_id = "refresh-token",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, response = BadRequest),
        (status = 401, description = "Invalid username or password", body = stratus_http::Problem,
            content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"stratus\"`"))),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let credentials = credentials(&request)?;
    let login = Login {
        users: deps.users.as_ref(),
        refresh_tokens: deps.refresh_tokens.as_ref(),
        rate_limiter: deps.rate_limiter.as_ref(),
        issuer: &deps.issuer,
    };
    let source = http::source_key(&request);
    match login.attempt(&credentials.username, credentials.password, &source, deps.clock.now()).await {
        Ok(Outcome::Tokens(pair)) => guard::tokens(&pair),
        Ok(Outcome::MfaRequired { mfa_token, expires_in }) => {
            // The password is right; the tokens wait for a code (POST /login/mfa).
            let challenge = MfaChallenge { mfa_required: true, mfa_token, expires_in };
            let mut response = http::json_response(StatusCode::OK, &challenge);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        // The owner proved the password: hand them the one token that lets them verify.
        Ok(Outcome::VerificationRequired { verification_token, expires_in }) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Verify your email address first: POST the mailed code to /users/me/email/verify with this verification_token as the Bearer token",
        )
        .with_extension("email_verification_required", true)
        .with_extension("verification_token", verification_token)
        .with_extension("expires_in", expires_in)),
        Err(LoginError::InvalidCredentials) => Err(invalid_credentials()),
        Err(LoginError::Disabled) => Err(Problem::new(StatusCode::FORBIDDEN, "This account is disabled")),
        Err(LoginError::Limited { retry_after }) => Err(http::too_many_requests(retry_after)),
        Err(LoginError::Store(error)) => Err(error.into()),
        Err(LoginError::Sign(error)) => Err(error.into()),
        Err(LoginError::Internal(cause)) => Err(Problem::internal(&cause)),
    }
}

/// One answer for every failure, so it tells nobody which usernames exist.
fn invalid_credentials() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "Invalid username or password")
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="stratus""#))
}

/// HTTP Basic when the request carries it, the JSON body otherwise. Another scheme (a Bearer
/// token a client sends everywhere) is not credentials for a login and is ignored.
fn credentials(request: &Request) -> Result<Credentials, Problem> {
    let basic = http::header_str(request, header::AUTHORIZATION)
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    let Some((_, encoded)) = basic else {
        return http::json_body(request, BODY_LIMIT);
    };
    let basic = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|decoded| {
            decoded
                .split_once(':')
                .map(|(u, p)| Credentials { username: u.to_owned(), password: p.to_owned() })
        });
    basic.ok_or_else(|| {
        Problem::bad_request(
            "The Authorization header must be HTTP Basic credentials (base64 of username:password)",
        )
    })
}
