//! POST /login: credentials (JSON body or HTTP Basic) for an access and a refresh token.
//! Rate-limited per username and per source address; an unknown user and a wrong password
//! get the same answer in the same time.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use stratus_auth::TokenIssuer;
use stratus_auth::password::{self, Verified};
use stratus_auth::session::logged_in;
use stratus_core::clock::Clock;
use stratus_core::domain::Username;
use stratus_core::ports::{RateDecision, RateLimit, RateLimiter, RefreshTokenStore, UserStore};
use stratus_http::Problem;
use stratus_http::guard;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, Forbidden, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use time::OffsetDateTime;
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
    let now = deps.clock.now();
    let attempt = Attempt::new(deps, &request, &credentials.username, now);
    attempt.reserve().await?;

    let username = Username::parse(&credentials.username).ok();
    let user = match &username {
        Some(username) => deps.users.get(username).await?,
        None => None,
    };
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let candidate = credentials.password;
    let (verified, candidate) =
        http::blocking(move || (password::verify(&candidate, stored.as_ref()), candidate)).await?;
    let (Verified::Yes { rehash }, Some(user)) = (verified, user) else {
        return Err(invalid_credentials());
    };
    attempt.succeeded().await;
    // Only after the right password: a disabled account says so to its owner, and to nobody else.
    if user.disabled {
        return Err(Problem::new(StatusCode::FORBIDDEN, "This account is disabled"));
    }
    if deps.issuer.config().require_verified_email && !user.email_verified {
        // The owner proved the password: hand them the one token that lets them verify.
        let (token, expires_in) = deps.issuer.email_verification_token(&user, now).await?;
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Verify your email address first: POST the mailed code to /users/me/email/verify with this verification_token as the Bearer token",
        )
        .with_extension("email_verification_required", true)
        .with_extension("verification_token", token)
        .with_extension("expires_in", expires_in));
    }
    if user.mfa_enabled() {
        // The password is right; the tokens wait for a code (POST /login/mfa).
        let (mfa_token, expires_in) = deps.issuer.mfa_token(&user, now).await?;
        let challenge = MfaChallenge { mfa_required: true, mfa_token, expires_in };
        let mut response = http::json_response(StatusCode::OK, &challenge);
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    let rehashed = if rehash {
        Some(http::blocking(move || password::rehash(&candidate)).await?.map_err(|e| Problem::internal(&e))?)
    } else {
        None
    };
    let pair = logged_in(
        deps.users.as_ref(),
        &deps.issuer,
        deps.refresh_tokens.as_ref(),
        user,
        rehashed.as_ref(),
        now,
    )
    .await?;
    guard::tokens(&pair)
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

/// The limits a login attempt counts against, the source address's first: once it is full,
/// an attempt counts against nothing else. Then the username from that source, and the username
/// from every source together (a much higher ceiling), so a stranger at one address can never lock
/// a user out of their own address, while guessing from many addresses stays slow.
///
/// Only failed attempts count. Each bucket is reserved before the password is checked, so a burst
/// of concurrent attempts cannot overrun a limit, and given back when the login succeeds.
struct Attempt<'a> {
    limiter: &'a dyn RateLimiter,
    buckets: [(String, RateLimit); 3],
    at: OffsetDateTime,
}

impl<'a> Attempt<'a> {
    fn new(deps: &'a Deps, request: &Request, username: &str, at: OffsetDateTime) -> Self {
        let config = deps.issuer.config();
        let source = http::source_key(request);
        // A name that cannot be a username can never log in: all such attempts share one bucket.
        let name = Username::parse(username).map_or_else(|_| "(invalid)".to_owned(), |u| u.to_string());
        Self {
            limiter: deps.rate_limiter.as_ref(),
            buckets: [
                (format!("login:source:{source}"), config.login_limit),
                (format!("login:user-source:{name}:{source}"), config.login_limit),
                (format!("login:user:{name}"), config.login_user_limit),
            ],
            at,
        }
    }

    /// Counts the attempt in every bucket; 429 from the first that is full, with what was counted
    /// taken back.
    async fn reserve(&self) -> Result<(), Problem> {
        for (counted, (key, limit)) in self.buckets.iter().enumerate() {
            if let RateDecision::Limited { retry_after } = self.limiter.hit(key, *limit, self.at).await? {
                self.release(counted).await;
                return Err(http::too_many_requests(retry_after));
            }
        }
        Ok(())
    }

    /// Takes back the hits of the first `count` buckets.
    async fn release(&self, count: usize) {
        for (key, limit) in &self.buckets[..count] {
            if let Err(error) = self.limiter.release(key, *limit, self.at).await {
                tracing::warn!(%error, "could not take back a login attempt's count");
            }
        }
    }

    /// A successful login counts for nothing.
    async fn succeeded(&self) {
        self.release(self.buckets.len()).await;
    }
}
