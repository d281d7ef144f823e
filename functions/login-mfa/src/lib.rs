//! POST /login/mfa: a login's second step, for an account with TOTP on. Takes the `mfa_token`
//! the password step answered and a code from the authenticator app (or a recovery code), and
//! answers what a login without TOTP does.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::TokenIssuer;
use stratus_auth::mfa::{self, Checker};
use stratus_auth::sealing::SecretBox;
use stratus_auth::session::{Session, TokenPair, issue_pair};
use stratus_auth::totp::SecondFactor;
use stratus_auth::{AuthConfig, Authenticator, Refusal};
use stratus_core::clock::Clock;
use stratus_core::domain::User;
use stratus_core::ports::{RateLimiter, RefreshTokenStore, UserStore};
use stratus_http::Problem;
use stratus_http::guard::{self, authenticate_mfa_token};
use stratus_http::http::{self, Endpoint, HandlerResult, Request};
use stratus_http::openapi::{
    BadRequest, Forbidden, InternalServerError, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use time::OffsetDateTime;
use utoipa::ToSchema;

const BODY_LIMIT: usize = 8 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    secrets: Arc<SecretBox>,
    issuer: TokenIssuer,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SecondStep {
    /// The `mfa_token` `POST /login` answered (good for 5 minutes).
    #[schema(min_length = 1, max_length = 4096)]
    mfa_token: String,
    /// A current 6-digit code from the authenticator app, or an unused recovery code.
    #[schema(min_length = 6, max_length = 32, examples("123456"))]
    code: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        refresh_tokens: wiring.refresh_tokens()?,
        rate_limiter: wiring.rate_limiter()?,
        secrets: wiring.totp_secrets()?,
        issuer: wiring.issuer()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Finish a login with a TOTP code
///
/// The second step of a login for an account with TOTP on. A code is good once; a recovery
/// code is good once in place of one. Wrong codes are limited per account and source address,
/// and per account under a higher ceiling.
#[utoipa::path(
    post,
    path = "/login/mfa",
    operation_id = "loginMfa",
    tag = "accounts",
    request_body(content = SecondStep, content_type = "application/json"),
    security(()),
    responses(
        (status = 200, description = "Logged in", body = stratus_auth::session::TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let body: SecondStep = http::json_body(&request, BODY_LIMIT)?;
    // The account as it stood when the password was given: same id, same session generation
    // (a password change or TOTP turned off since ends it), not disabled.
    let step = authenticate_mfa_token(&deps.auth, &body.mfa_token).await?;
    let code = mfa::parse_code(&body.code, "code")?;
    let user = step.user;
    if !user.mfa_enabled() {
        return Err(log_in_again("TOTP was turned off since the password was given"));
    }
    let now = deps.clock.now();
    let source = http::source_key(&request);
    let checker = Checker {
        users: deps.users.as_ref(),
        secrets: &deps.secrets,
        limiter: deps.rate_limiter.as_ref(),
        config: &deps.config,
        purpose: mfa::Purpose::Login,
        source: &source,
    };
    // The token completes one login. It is claimed before anything else, so two uses at once
    // cannot both get in and a right code is never spent on a token that turns out used, and
    // given back whenever the login does not complete: a typo, or a dependency's fault, costs
    // no new login.
    let claim = format!("mfa-token:{}", step.token_id);
    if !deps.rate_limiter.claim_once(&claim, step.expires_at).await? {
        return Err(Refusal::InvalidMfaToken.into());
    }
    match complete(deps, &checker, user, &code, now).await {
        Ok(pair) => guard::tokens(&pair),
        Err(failed) => {
            deps.rate_limiter.release_claim(&claim).await?;
            Err(failed)
        }
    }
}

/// The login, once its token is claimed. Everything that can fail for a dependency's fault
/// (the signature, the stores) comes before the code is spent, which is last: the honest retry
/// of a request that met a fault finds its code still good.
async fn complete(
    deps: &Deps,
    checker: &Checker<'_>,
    user: User,
    code: &SecondFactor,
    now: OffsetDateTime,
) -> Result<TokenPair, Problem> {
    let verified = checker.verify(&user, code, "code", now).await?;
    let session = Session::begin(now);
    let pair = issue_pair(&deps.issuer, deps.refresh_tokens.as_ref(), &user, Some(session), now).await?;
    deps.users.record_login(&user.username, now, None).await?;
    if let Err(spent_meanwhile) = verified.spend(deps.users.as_ref(), &user).await {
        session.withdraw(&deps.issuer, deps.refresh_tokens.as_ref()).await?;
        return Err(spent_meanwhile.into());
    }
    Ok(pair)
}

fn log_in_again(detail: &str) -> Problem {
    guard::unauthorized(&format!("{detail}: log in again"), true)
}
