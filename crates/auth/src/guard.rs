//! Who is calling, and may they: the checks behind every handler's guard, with typed outcomes.
//! `stratus_http::guard` reads the token from the request and answers a [`Refusal`] with 401
//! (and the RFC 6750 challenge) or 403.

use stratus_core::domain::{Role, User, Username};
use stratus_core::ports::{StoreError, UserStore};

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
    pub fn require_admin(&self) -> Result<(), Refusal> {
        if self.is_admin() { Ok(()) } else { Err(Refusal::NotAdmin) }
    }
}

/// Why a caller is not let through. The text is what the caller is told; why a token failed
/// verification is logged, never told.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No bearer token at all (401 without `error="invalid_token"`).
    #[error("A Bearer access token is required")]
    NoToken,
    #[error("The access token is invalid or has expired")]
    InvalidToken,
    /// An email-verification token where an access token is needed.
    #[error("This token only verifies an email address: log in once it is verified")]
    VerificationOnly,
    /// A login's `mfa_token` where an access token is needed.
    #[error("This token only completes a login: send it with a code to POST /login/mfa")]
    MfaTokenMisused,
    /// Some other token where a login's `mfa_token` is needed.
    #[error("This is not an mfa_token from POST /login")]
    NotMfaToken,
    #[error("The mfa_token is invalid or has expired: log in again")]
    InvalidMfaToken,
    #[error("The account of this token no longer exists")]
    AccountGone,
    /// Authenticated, but not an admin (403).
    #[error("This needs an admin")]
    NotAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caller as the store knows them now. A token's claims may be minutes old; a route that
/// acts on who the caller is reads the account itself.
pub async fn current_user(users: &dyn UserStore, principal: &Principal) -> Result<User, Refusal> {
    users.get(&principal.username).await?.ok_or(Refusal::AccountGone)
}

/// The caller, if they are an admin now: a demotion counts at once, not when the token expires.
pub async fn current_admin(users: &dyn UserStore, principal: &Principal) -> Result<User, Refusal> {
    let user = current_user(users, principal).await?;
    if user.is_active_admin() { Ok(user) } else { Err(Refusal::NotAdmin) }
}

/// The caller, from a valid access token. An email-verification token is refused here: it opens
/// [`authenticate_token_to_verify_email`] only.
pub fn authenticate_token(verifier: &TokenVerifier, token: Option<&str>) -> Result<Principal, Refusal> {
    let (principal, scope) = verify(verifier, token)?;
    match scope {
        TokenScope::Access => Ok(principal),
        TokenScope::EmailVerification => Err(Refusal::VerificationOnly),
        TokenScope::Mfa => Err(Refusal::MfaTokenMisused),
    }
}

/// The caller, from an access token or from the email-verification token a login gives an
/// account that must verify its email first.
pub fn authenticate_token_to_verify_email(
    verifier: &TokenVerifier,
    token: Option<&str>,
) -> Result<Principal, Refusal> {
    match verify(verifier, token)? {
        (principal, TokenScope::Access | TokenScope::EmailVerification) => Ok(principal),
        (_, TokenScope::Mfa) => Err(Refusal::MfaTokenMisused),
    }
}

/// The user a login's `mfa_token` was issued to; refused for any other token.
pub fn authenticate_mfa_token(verifier: &TokenVerifier, token: &str) -> Result<Username, Refusal> {
    match verifier.verify(token) {
        Ok(claimed) if claimed.scope == TokenScope::Mfa => Ok(claimed.username),
        Ok(_) => Err(Refusal::NotMfaToken),
        Err(reason) => {
            tracing::info!(%reason, "mfa token refused");
            Err(Refusal::InvalidMfaToken)
        }
    }
}

fn verify(verifier: &TokenVerifier, token: Option<&str>) -> Result<(Principal, TokenScope), Refusal> {
    let Some(token) = token else { return Err(Refusal::NoToken) };
    match verifier.verify(token) {
        Ok(claimed) => Ok((Principal { username: claimed.username, role: claimed.role }, claimed.scope)),
        Err(reason) => {
            tracing::info!(%reason, "access token refused");
            Err(Refusal::InvalidToken)
        }
    }
}
