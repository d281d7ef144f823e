//! Guards for handlers: who is calling, and may they. `stratus_auth` decides with typed
//! outcomes; this is where they become responses: the bearer token read from the request, 401
//! with the challenge RFC 6750 asks for, 403, 429 with Retry-After, 503 when a backing service
//! is out of reach.

use stratus_auth::codes::SendCodeError;
use stratus_auth::guard::{Authenticator, MfaStep, Refusal};
use stratus_auth::mfa::MfaError;
use stratus_auth::reauth::ReauthError;
use stratus_auth::sealing::SealError;
use stratus_auth::session::{IssueError, TokenPair};
use stratus_core::domain::User;
use stratus_core::ports::{LimitError, MailError};

use crate::Problem;
use crate::http::{self, HandlerResult, HeaderValue, Request, StatusCode, header, header_str};

/// 401 with the `WWW-Authenticate` challenge RFC 6750 asks for.
pub fn unauthorized(detail: &str, invalid_token: bool) -> Problem {
    let challenge = if invalid_token {
        HeaderValue::from_static(r#"Bearer realm="stratus", error="invalid_token""#)
    } else {
        HeaderValue::from_static(r#"Bearer realm="stratus""#)
    };
    Problem::new(StatusCode::UNAUTHORIZED, detail).with_header(header::WWW_AUTHENTICATE, challenge)
}

/// The bearer token of the request, if there is an `Authorization: Bearer …` header.
pub fn bearer(request: &Request) -> Option<&str> {
    let value = header_str(request, header::AUTHORIZATION)?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The caller's account as stored now, from a valid access token of its current session; 401
/// otherwise (403 for a disabled account). Why a token failed is logged, not told.
pub async fn authenticate(auth: &Authenticator, request: &Request) -> Result<User, Problem> {
    Ok(auth.caller(bearer(request)).await?)
}

/// The caller, if they are an admin now (403 otherwise).
pub async fn authenticate_admin(auth: &Authenticator, request: &Request) -> Result<User, Problem> {
    Ok(auth.admin(bearer(request)).await?)
}

/// The caller, from an access token or from the email-verification token a login gives an
/// account that must verify its email first.
pub async fn authenticate_to_verify_email(auth: &Authenticator, request: &Request) -> Result<User, Problem> {
    Ok(auth.caller_to_verify_email(bearer(request)).await?)
}

/// The login a `mfa_token` continues; 401 for any other token, or one spent or expired.
pub async fn authenticate_mfa_token(auth: &Authenticator, token: &str) -> Result<MfaStep, Problem> {
    Ok(auth.mfa_step(token).await?)
}

/// A login's answer: its tokens, never to be cached.
pub fn tokens(pair: &TokenPair) -> HandlerResult {
    let mut response = http::json_response(StatusCode::OK, pair);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// 400 for a second factor that is wrong, expired or already used.
pub fn wrong_code(field: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "The code is wrong, expired or already used").with_field_error(
        field,
        "send a current code from your authenticator app, or an unused recovery code",
    )
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        let detail = refusal.to_string();
        match refusal {
            Refusal::NoToken => unauthorized(&detail, false),
            Refusal::InvalidToken
            | Refusal::VerificationOnly
            | Refusal::MfaTokenMisused
            | Refusal::InvalidMfaToken
            | Refusal::AccountGone
            | Refusal::SessionEnded
            | Refusal::GrantRevoked => unauthorized(&detail, true),
            Refusal::Disabled | Refusal::NotAdmin => Problem::new(StatusCode::FORBIDDEN, detail),
            Refusal::InsufficientScope(scope) => Problem::new(StatusCode::FORBIDDEN, detail).with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!(
                    r#"Bearer realm="stratus", error="insufficient_scope", scope="{scope}""#
                ))
                .expect("a scope is a valid header value"),
            ),
            Refusal::Store(error) => error.into(),
        }
    }
}

impl From<LimitError> for Problem {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Limited { retry_after } => http::too_many_requests(retry_after),
            LimitError::Store(error) => error.into(),
        }
    }
}

impl From<SealError> for Problem {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Key(error) => error.into(),
            SealError::Corrupt(_) => Problem::internal(&error),
        }
    }
}

impl From<SendCodeError> for Problem {
    fn from(error: SendCodeError) -> Self {
        match error {
            SendCodeError::Store(error) => error.into(),
            SendCodeError::Mail(MailError::Unavailable(cause)) => Problem::unavailable(&cause),
            SendCodeError::Mail(MailError::Refused(cause)) => Problem::internal(&cause),
            // send_code logs these and answers Ok: none gets here.
            SendCodeError::Mail(MailError::Undeliverable(cause)) => Problem::internal(&cause),
        }
    }
}

impl From<IssueError> for Problem {
    fn from(error: IssueError) -> Self {
        match error {
            IssueError::Sign(error) => error.into(),
            IssueError::Store(error) => error.into(),
        }
    }
}

impl From<MfaError> for Problem {
    fn from(error: MfaError) -> Self {
        match error {
            MfaError::Malformed { field, reason } => {
                Problem::bad_request("The code is not valid").with_field_error(field, reason)
            }
            MfaError::Wrong { field } => wrong_code(&field),
            MfaError::Limited { retry_after } => http::too_many_requests(retry_after),
            MfaError::Store(error) => error.into(),
            MfaError::Seal(error) => error.into(),
            MfaError::Internal(cause) => Problem::internal(&cause),
        }
    }
}

impl From<ReauthError> for Problem {
    fn from(error: ReauthError) -> Self {
        match error {
            ReauthError::Wrong { field } => {
                Problem::new(StatusCode::BAD_REQUEST, "The password is not right")
                    .with_field_error(field, "is not the account's password")
            }
            ReauthError::Limited { retry_after } => http::too_many_requests(retry_after),
            ReauthError::Store(error) => error.into(),
            ReauthError::Internal(cause) => Problem::internal(&cause),
        }
    }
}
