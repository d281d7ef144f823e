//! Guards for handlers: who is calling, and may they.

use crate::Problem;
use crate::domain::{Role, User, Username};
use crate::http::{HeaderValue, Request, StatusCode, header, header_str};
use crate::ports::UserStore;

use super::TokenVerifier;
use super::tokens::TokenScope;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: Username,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// What the token says; an admin route confirms it with [`current_admin`].
    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.is_admin() { Ok(()) } else { Err(forbidden_unless_admin()) }
    }
}

/// The caller as the store knows them now. A token's claims may be minutes old; a route that
/// acts on who the caller is reads the account itself.
pub async fn current_user(users: &dyn UserStore, principal: &Principal) -> Result<User, Problem> {
    users
        .get(&principal.username)
        .await?
        .ok_or_else(|| unauthorized("The account of this token no longer exists", true))
}

/// The caller, if they are an admin now: a demotion counts at once, not when the token expires.
pub async fn current_admin(users: &dyn UserStore, principal: &Principal) -> Result<User, Problem> {
    let user = current_user(users, principal).await?;
    if user.is_active_admin() { Ok(user) } else { Err(forbidden_unless_admin()) }
}

fn forbidden_unless_admin() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "This needs an admin")
}

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

/// The caller, from a valid access token; 401 otherwise. Why a token failed is logged, not told.
/// An email-verification token is refused here: it opens [`authenticate_to_verify_email`] only.
pub fn authenticate(verifier: &TokenVerifier, request: &Request) -> Result<Principal, Problem> {
    let (principal, scope) = verify(verifier, request)?;
    match scope {
        TokenScope::Access => Ok(principal),
        TokenScope::EmailVerification => {
            Err(unauthorized("This token only verifies an email address: log in once it is verified", true))
        }
        TokenScope::Mfa => Err(mfa_token_misused()),
    }
}

/// The caller, from an access token or from the email-verification token a login gives an
/// account that must verify its email first.
pub fn authenticate_to_verify_email(
    verifier: &TokenVerifier,
    request: &Request,
) -> Result<Principal, Problem> {
    match verify(verifier, request)? {
        (principal, TokenScope::Access | TokenScope::EmailVerification) => Ok(principal),
        (_, TokenScope::Mfa) => Err(mfa_token_misused()),
    }
}

/// The user a login's `mfa_token` was issued to; 401 for any other token or none.
pub fn authenticate_mfa_token(verifier: &TokenVerifier, token: &str) -> Result<Username, Problem> {
    match verifier.verify(token) {
        Ok(claimed) if claimed.scope == TokenScope::Mfa => Ok(claimed.username),
        Ok(_) => Err(unauthorized("This is not an mfa_token from POST /login", true)),
        Err(reason) => {
            tracing::info!(%reason, "mfa token refused");
            Err(unauthorized("The mfa_token is invalid or has expired: log in again", true))
        }
    }
}

fn mfa_token_misused() -> Problem {
    unauthorized("This token only completes a login: send it with a code to POST /login/mfa", true)
}

fn verify(verifier: &TokenVerifier, request: &Request) -> Result<(Principal, TokenScope), Problem> {
    let Some(token) = bearer(request) else {
        return Err(unauthorized("A Bearer access token is required", false));
    };
    match verifier.verify(token) {
        Ok(claimed) => Ok((Principal { username: claimed.username, role: claimed.role }, claimed.scope)),
        Err(reason) => {
            tracing::info!(%reason, "access token refused");
            Err(unauthorized("The access token is invalid or has expired", true))
        }
    }
}
