//! A signed-in user's authenticator app (TOTP, RFC 6238):
//! - `POST /users/me/mfa/totp` starts setting one up, given the password, and answers the
//!   secret, once;
//! - `POST /users/me/mfa/totp/confirm` turns TOTP on with a first code and answers the recovery
//!   codes, once;
//! - `DELETE /users/me/mfa/totp` turns it off, given the password and a code.
//!
//! The password is asked at set-up, not only at removal: an access token stolen from the owner
//! must not be able to put the thief's authenticator on the account and lock the owner out.
//! Turning TOTP on or off moves the account to a new session generation, which ends every
//! session of it (one begun with a stolen password among them), and mails the owner. The caller,
//! who has just proven the second factor (or the password and a code), gets a new session in
//! the answer.
//!
//! One function for the three, as they are one resource's life and need the same grants (the
//! users table and the data key that seals secrets).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stratus_auth::mfa::{self, Checker};
use stratus_auth::reauth::confirm_password;
use stratus_auth::sealing::SecretBox;
use stratus_auth::session::{Session, TokenPair, issue_pair};
use stratus_auth::totp::{RECOVERY_CODES, RecoveryCode, TotpCode, TotpSecret};
use stratus_auth::{AuthConfig, Authenticator, TokenIssuer};
use stratus_core::clock::Clock;
use stratus_core::domain::User;
use stratus_core::ports::{Mail, Mailer, RateLimiter, RefreshTokenStore, UserStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate;
use stratus_http::guard::unauthorized;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, HeaderValue, Method, Request, RequestExt, Response, StatusCode,
    header,
};
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
    secrets: Arc<SecretBox>,
    mailer: Arc<dyn Mailer>,
    auth: Authenticator,
    issuer: TokenIssuer,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

/// The secret to give the authenticator app: typed in, or as a QR code of the URI.
#[derive(Serialize, ToSchema)]
struct TotpSetup {
    /// The shared secret, base32 without padding.
    #[schema(pattern = "^[A-Z2-7]{32}$", examples("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))]
    secret: String,
    /// The same secret as an `otpauth://totp/…` URI (SHA1, 6 digits, 30 s), for a QR code.
    #[schema(examples(
        "otpauth://totp/Stratus:ada?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Stratus&algorithm=SHA1&digits=6&period=30"
    ))]
    otpauth_uri: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpBegin {
    /// The account's password.
    #[schema(min_length = 1, max_length = 128, format = Password)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpConfirmation {
    /// The current 6-digit code the app shows.
    #[schema(pattern = r"^[0-9 ]{6,12}$", examples("123456"))]
    code: String,
}

/// Codes that each stand in for a TOTP code once, shown now and never again, and the caller's
/// new session: every earlier one has ended.
#[derive(Serialize, ToSchema)]
struct TotpOn {
    #[schema(min_items = 10, max_items = 10, examples(json!(["abcde-fghij"])))]
    recovery_codes: Vec<String>,
    #[serde(flatten)]
    session: TokenPair,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpRemoval {
    /// The account's password.
    #[schema(min_length = 1, max_length = 128, format = Password)]
    password: String,
    /// A current code from the app, or an unused recovery code.
    #[schema(min_length = 6, max_length = 32, examples("123456"))]
    code: String,
}

stratus_http::openapi_part!(begin, confirm, remove);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        rate_limiter: wiring.rate_limiter()?,
        secrets: wiring.totp_secrets()?,
        mailer: wiring.mailer()?,
        auth: wiring.authenticator().await?,
        issuer: wiring.issuer()?,
        refresh_tokens: wiring.refresh_tokens()?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let confirming = request.raw_http_path().ends_with("/confirm");
    match (request.method(), confirming) {
        (&Method::POST, false) => begin(deps, request).await,
        (&Method::POST, true) => confirm(deps, request).await,
        (&Method::DELETE, false) => remove(deps, request).await,
        _ => Err(Problem::method_not_allowed(if confirming { &["POST"] } else { &["POST", "DELETE"] })),
    }
}

/// Set up an authenticator app
///
/// Needs the account's password. Answers a new secret, pending until
/// `POST /users/me/mfa/totp/confirm` proves the app has it. Asking again before confirming
/// replaces it. 409 once TOTP is on: turn it off first.
#[utoipa::path(
    post,
    path = "/users/me/mfa/totp",
    operation_id = "beginTotp",
    tag = "accounts",
    request_body(content = TotpBegin, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pending secret", body = TotpSetup,
            headers(("Cache-Control" = String, description = "`no-store`"))),
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
async fn begin(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let body: TotpBegin = http::json_body(&request, BODY_LIMIT)?;
    if user.mfa_enabled() {
        return Err(already_on());
    }
    confirm_password(
        deps.rate_limiter.as_ref(),
        &deps.config,
        &user,
        "password",
        body.password,
        deps.clock.now(),
    )
    .await?;
    let secret = TotpSecret::generate();
    let sealed = deps.secrets.seal(secret.as_bytes(), user.id.as_bytes()).await?;
    if !deps.users.begin_totp(&user, &sealed).await? {
        // Turned on, or the account replaced, since it was read.
        return Err(already_on());
    }
    tracing::info!(username = %user.username, "TOTP set-up begun");
    let setup = TotpSetup {
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(&deps.config.totp_issuer, user.username.as_str()),
    };
    Ok(no_store(http::json_response(StatusCode::OK, &setup)))
}

/// Turn TOTP on
///
/// Takes a current code from the app set up by `POST /users/me/mfa/totp`. From now on a login
/// asks for a code after the password. Answers ten recovery codes, each good once in place of a
/// code: this is the only time they are shown. Every earlier session of the account ends; the
/// answer carries the caller's new one. The owner is mailed.
#[utoipa::path(
    post,
    path = "/users/me/mfa/totp/confirm",
    operation_id = "confirmTotp",
    tag = "accounts",
    request_body(content = TotpConfirmation, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "TOTP is on: the recovery codes and a new session", body = TotpOn,
            headers(("Cache-Control" = String, description = "`no-store`"))),
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
async fn confirm(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let body: TotpConfirmation = http::json_body(&request, BODY_LIMIT)?;
    let code = TotpCode::parse(&body.code)
        .map_err(|e| Problem::bad_request("The code is not valid").with_field_error("code", e))?;
    let pending = match &user.totp {
        Some(totp) if totp.confirmed => return Err(already_on()),
        Some(totp) => totp,
        None => {
            return Err(Problem::new(StatusCode::CONFLICT, "No authenticator is being set up")
                .with_field_error("code", "begin with POST /users/me/mfa/totp"));
        }
    };
    let now = deps.clock.now();
    let source = http::source_key(&request);
    let limiter = deps.rate_limiter.as_ref();
    let reserved = mfa::reserve(limiter, &deps.config, mfa::Purpose::Confirm, &user, &source, now).await?;
    let secret = mfa::secret_of(&deps.secrets, &user).await?;
    let Some(step) = secret.accepts(&code, now, pending.last_step) else {
        return Err(stratus_http::guard::wrong_code("code"));
    };
    // Only wrong codes count.
    reserved.give_back_all().await;
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES).map(|_| RecoveryCode::generate()).collect();
    let hashes: Vec<String> = codes.iter().map(|code| code.hash(&user)).collect();
    let generation = uuid::Uuid::new_v4();
    // The new session is signed and stored before TOTP is switched on (which ends every earlier
    // session): a throttled signature leaves the account as it was, and the caller's token good
    // for the honest retry.
    let on = User { session_generation: generation, ..user.clone() };
    let (session, tokens) = new_session(deps, &on, now).await?;
    if !deps.users.confirm_totp(&user, step, &hashes, generation).await? {
        session.withdraw(&deps.issuer, deps.refresh_tokens.as_ref()).await?;
        return Err(Problem::new(StatusCode::CONFLICT, "The set-up changed meanwhile: begin again")
            .with_field_error("code", "begin with POST /users/me/mfa/totp"));
    }
    tracing::info!(username = %user.username, "TOTP turned on");
    notify(deps, &user, "Two-step sign-in is on", "An authenticator app was set up for").await;
    let answer = TotpOn { recovery_codes: codes.iter().map(RecoveryCode::expose).collect(), session: tokens };
    Ok(no_store(http::json_response(StatusCode::OK, &answer)))
}

/// Turn TOTP off
///
/// Needs the password and a current code (or an unused recovery code): a stolen access token
/// alone cannot remove the second factor. Wrong codes here are limited apart from the login's.
/// Every earlier session of the account ends; the answer carries the caller's new one. The
/// owner is mailed.
#[utoipa::path(
    delete,
    path = "/users/me/mfa/totp",
    operation_id = "removeTotp",
    tag = "accounts",
    request_body(content = TotpRemoval, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "TOTP is off, recovery codes are void: a new session", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
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
async fn remove(deps: &Deps, request: Request) -> HandlerResult {
    let user = authenticate(&deps.auth, &request).await?;
    let body: TotpRemoval = http::json_body(&request, BODY_LIMIT)?;
    let code = mfa::parse_code(&body.code, "code")?;
    if !user.mfa_enabled() {
        return Err(Problem::new(StatusCode::CONFLICT, "TOTP is not on"));
    }
    let now = deps.clock.now();
    confirm_password(deps.rate_limiter.as_ref(), &deps.config, &user, "password", body.password, now).await?;
    let source = http::source_key(&request);
    // Buckets apart from the login's: guessing here never blocks the owner's second step.
    let checker = Checker {
        users: deps.users.as_ref(),
        secrets: &deps.secrets,
        limiter: deps.rate_limiter.as_ref(),
        config: &deps.config,
        purpose: mfa::Purpose::Remove,
        source: &source,
    };
    let verified = checker.verify(&user, &code, "code", now).await?;
    // Signed and stored before the code is spent and TOTP removed (which ends every earlier
    // session), so a throttled signature leaves the code and the caller's token good for the
    // honest retry.
    let generation = uuid::Uuid::new_v4();
    let off = User { session_generation: generation, totp: None, ..user.clone() };
    let (session, tokens) = new_session(deps, &off, now).await?;
    let removed = match verified.spend(deps.users.as_ref(), &user).await {
        Ok(()) if deps.users.remove_totp(&user, generation).await? => Ok(()),
        Ok(()) => Err(unauthorized("The account of this token changed meanwhile", true)),
        Err(error) => Err(Problem::from(error)),
    };
    if let Err(lost) = removed {
        session.withdraw(&deps.issuer, deps.refresh_tokens.as_ref()).await?;
        return Err(lost);
    }
    tracing::info!(username = %user.username, "TOTP turned off");
    notify(deps, &user, "Two-step sign-in is off", "The authenticator app was removed from").await;
    stratus_http::guard::tokens(&tokens)
}

/// The caller's session in the account's new generation, the one they proved themselves in,
/// issued before that generation is stored: withdraw the session if it never is.
async fn new_session(
    deps: &Deps,
    user: &User,
    now: time::OffsetDateTime,
) -> Result<(Session, TokenPair), Problem> {
    let session = Session::begin(now);
    let tokens = issue_pair(&deps.issuer, deps.refresh_tokens.as_ref(), user, Some(session), now).await?;
    Ok((session, tokens))
}

/// Tells the owner their second factor changed, so a change they did not make is noticed. The
/// change is made by then: a mail that cannot go out is logged, never turned into an error that
/// would hide the recovery codes.
async fn notify(deps: &Deps, user: &User, subject: &str, what_happened: &str) {
    let mail = Mail {
        to: user.email.clone(),
        subject: subject.to_owned(),
        // Nothing the account's registrant chose (names, username): they may not own the address.
        text: format!(
            "{what_happened} the account registered with this address, and every session of it was ended.\n\n\
             If this was not you, reset your password now and contact your administrator.\n"
        ),
        secret: String::new(),
    };
    if let Err(error) = deps.mailer.send(&mail).await {
        tracing::warn!(username = %user.username, %error, "the second-factor change could not be mailed");
    }
}

fn already_on() -> Problem {
    Problem::new(StatusCode::CONFLICT, "TOTP is already on: turn it off first with DELETE /users/me/mfa/totp")
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
