//! Who is calling, and may they: the checks behind every handler's guard, with typed outcomes.
//! `stratus_http::guard` reads the token from the request and answers a [`Refusal`] with 401
//! (and the challenge RFC 6750 asks for) or 403.
//!
//! A signature proves only that the token was issued; whether its session still stands is the
//! account's to say. So every authenticated request reads the account (one key lookup) and
//! checks that it is the very account the token was issued to (by id: a name can be freed and
//! registered again), that it is not disabled, and that it is still in the session generation
//! the token names. A password change, a reset, a disable, TOTP turned on or off thereby end
//! every session at once, access tokens included, and an admin route sees the current role.
//!
//! An OAuth access token also names its grant (the refresh-token family, `sid`). A grant ends
//! when its code is used twice, its client revokes it, or its refresh token is reused; its
//! access tokens end with it, at the API as at userinfo (one more key lookup, for OAuth tokens
//! only).

use std::sync::Arc;

use stratus_core::clock::Clock;
use stratus_core::domain::User;
use stratus_core::ports::{RefreshTokenStore, StoreError, UserStore};

use super::TokenVerifier;
use super::tokens::{Claimed, FIRST_PARTY_SCOPE as API_SCOPE, TokenKind};

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
    /// Some other token, or one spent or expired, where a login's `mfa_token` is needed.
    #[error("The mfa_token is invalid, used or expired: log in again")]
    InvalidMfaToken,
    /// The account was deleted (and its name perhaps registered again by someone else).
    #[error("The account of this token no longer exists")]
    AccountGone,
    /// The account moved to a new session generation since the token was issued.
    #[error(
        "This session has ended (the password or the second factor changed, or the account was disabled): log in again"
    )]
    SessionEnded,
    /// An OAuth access token whose grant was revoked since it was issued.
    #[error("The access token's grant was revoked")]
    GrantRevoked,
    /// A genuine token of a disabled account (403).
    #[error("This account is disabled")]
    Disabled,
    /// Authenticated, but not an admin (403).
    #[error("This needs an admin")]
    NotAdmin,
    /// An OAuth access token whose scope does not cover the route (403, RFC 6750's
    /// `insufficient_scope`): the API needs `api`, userinfo `openid`.
    #[error("The access token's scope does not include {0}")]
    InsufficientScope(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks tokens and the accounts they speak for. Built once per cold start.
#[derive(Clone)]
pub struct Authenticator {
    verifier: TokenVerifier,
    users: Arc<dyn UserStore>,
    grants: Arc<dyn RefreshTokenStore>,
    clock: Arc<dyn Clock>,
}

/// A login's first step, proven by its `mfa_token`: the account, and the token's id and expiry,
/// by which it is spent once (`stratus_core::ports::RateLimiter::claim_once`).
#[derive(Debug)]
pub struct MfaStep {
    pub user: User,
    pub token_id: String,
    pub expires_at: time::OffsetDateTime,
}

impl Authenticator {
    /// `grants` is the refresh-token store, where an OAuth grant's revocation is recorded.
    pub fn new(
        verifier: TokenVerifier,
        users: Arc<dyn UserStore>,
        grants: Arc<dyn RefreshTokenStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { verifier, users, grants, clock }
    }

    pub fn users(&self) -> &dyn UserStore {
        self.users.as_ref()
    }

    /// The caller's account as stored now, from a valid access token.
    pub async fn caller(&self, token: Option<&str>) -> Result<User, Refusal> {
        let token = token.ok_or(Refusal::NoToken)?;
        match TokenVerifier::kind_of(token) {
            Some(TokenKind::EmailVerification) => return Err(Refusal::VerificationOnly),
            Some(TokenKind::MfaStep) => return Err(Refusal::MfaTokenMisused),
            Some(TokenKind::Access) | None => {}
        }
        let claimed = self.verified(token, TokenKind::Access, Refusal::InvalidToken)?;
        // An OAuth client acts as the user at the API only with the user's consent to `api`.
        if !claimed.grants(API_SCOPE) {
            return Err(Refusal::InsufficientScope(API_SCOPE));
        }
        self.current(&claimed).await
    }

    /// The account an access token speaks for and what it grants, if the token grants `scope`:
    /// for OAuth's userinfo, which needs `openid` rather than `api`.
    pub async fn grant_holder(
        &self,
        token: Option<&str>,
        scope: &'static str,
    ) -> Result<(User, Claimed), Refusal> {
        let token = token.ok_or(Refusal::NoToken)?;
        let claimed = self.verified(token, TokenKind::Access, Refusal::InvalidToken)?;
        if !claimed.grants(scope) || claimed.scope.is_none() {
            return Err(Refusal::InsufficientScope(scope));
        }
        let user = self.current(&claimed).await?;
        Ok((user, claimed))
    }

    /// The caller, if they are an admin now: a demotion or a disable counts at once, not when the
    /// token expires.
    pub async fn admin(&self, token: Option<&str>) -> Result<User, Refusal> {
        let user = self.caller(token).await?;
        if user.is_active_admin() { Ok(user) } else { Err(Refusal::NotAdmin) }
    }

    /// The caller, from an access token or from the email-verification token a login gives an
    /// account that must verify its email first.
    pub async fn caller_to_verify_email(&self, token: Option<&str>) -> Result<User, Refusal> {
        let token = token.ok_or(Refusal::NoToken)?;
        let kind = match TokenVerifier::kind_of(token) {
            Some(TokenKind::MfaStep) => return Err(Refusal::MfaTokenMisused),
            Some(TokenKind::EmailVerification) => TokenKind::EmailVerification,
            Some(TokenKind::Access) | None => TokenKind::Access,
        };
        let claimed = self.verified(token, kind, Refusal::InvalidToken)?;
        self.current(&claimed).await
    }

    /// The account a login's `mfa_token` was issued to, if it still stands as it did then. The
    /// caller spends the token once the code is right.
    pub async fn mfa_step(&self, token: &str) -> Result<MfaStep, Refusal> {
        let claimed = self.verified(token, TokenKind::MfaStep, Refusal::InvalidMfaToken)?;
        let user = self.current(&claimed).await.map_err(|refusal| match refusal {
            Refusal::Store(error) => Refusal::Store(error),
            Refusal::Disabled => Refusal::Disabled,
            _ => Refusal::InvalidMfaToken,
        })?;
        Ok(MfaStep { user, token_id: claimed.jti, expires_at: claimed.expires_at })
    }

    fn verified(&self, token: &str, kind: TokenKind, refusal: Refusal) -> Result<Claimed, Refusal> {
        self.verifier.verify(token, kind).map_err(|reason| {
            tracing::info!(%reason, ?kind, "token refused");
            refusal
        })
    }

    /// The account the token was issued to, if it still exists as that account, is enabled and
    /// is in the token's session generation, and the token's OAuth grant, if it has one, stands.
    async fn current(&self, claimed: &Claimed) -> Result<User, Refusal> {
        let (user, revoked) = match claimed.grant {
            // Both reads at once: the grant check costs an OAuth request no extra round trip.
            Some(family) => {
                let (user, revoked) = tokio::join!(
                    self.users.get(&claimed.username),
                    self.grants.is_family_revoked(family, self.clock.now()),
                );
                (user?, revoked?)
            }
            None => (self.users.get(&claimed.username).await?, false),
        };
        let user = user.ok_or(Refusal::AccountGone)?;
        if claimed.account.is_some_and(|id| id != user.id) {
            return Err(Refusal::AccountGone);
        }
        if claimed.generation.is_some_and(|generation| generation != user.session_generation) {
            return Err(Refusal::SessionEnded);
        }
        if user.disabled {
            return Err(Refusal::Disabled);
        }
        if revoked {
            return Err(Refusal::GrantRevoked);
        }
        Ok(user)
    }
}
