//! A login's password step, as a typed outcome: tokens, or what the account needs first (a code
//! from its authenticator, a verified email address), or why it is refused. `POST /login` maps
//! the outcome to HTTP (`functions/login`); a hosted login page can map the same to a form.
//!
//! Failed attempts are limited per source address, per username from that source, and per
//! username from every source (a much higher ceiling), so a stranger at one address can never lock
//! a user out of their own address, while guessing from many addresses stays slow. An unknown
//! user and a wrong password take the same time and get the same refusal.

use time::OffsetDateTime;

use stratus_core::domain::{PasswordHash, User, Username};
use stratus_core::ports::{
    LimitError, RateLimit, RateLimiter, RefreshTokenStore, SignError, StoreError, UserStore,
};

use crate::TokenIssuer;
use crate::attempts::Reserved;
use crate::password::{self, Verified};
use crate::session::{IssueError, TokenPair, logged_in};
use crate::tokens::Issued;

/// What a right password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A session began.
    Tokens(TokenPair),
    /// TOTP is on: the tokens wait for a code sent with `mfa_token` (its lifetime in seconds).
    MfaRequired { mfa_token: String, expires_in: i64 },
    /// The deployment requires a verified email address and this one is not: the token opens the
    /// verification routes only.
    VerificationRequired { verification_token: String, expires_in: i64 },
}

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: one answer for both.
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// The right password for a disabled account: said to its owner only.
    #[error("This account is disabled")]
    Disabled,
    /// A limit on failed attempts is full.
    #[error("too many failed logins; retry in {retry_after}")]
    Limited { retry_after: time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The hashing thread failed.
    #[error("{0}")]
    Internal(String),
}

impl From<LimitError> for LoginError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Limited { retry_after } => Self::Limited { retry_after },
            LimitError::Store(error) => Self::Store(error),
        }
    }
}

impl From<IssueError> for LoginError {
    fn from(error: IssueError) -> Self {
        match error {
            IssueError::Sign(error) => Self::Sign(error),
            IssueError::Store(error) => Self::Store(error),
        }
    }
}

/// What a login needs: the ports, and the issuer whose settings hold the limits.
pub struct Login<'a> {
    pub users: &'a dyn UserStore,
    pub refresh_tokens: &'a dyn RefreshTokenStore,
    pub rate_limiter: &'a dyn RateLimiter,
    pub issuer: &'a TokenIssuer,
}

/// A right password for an enabled account: the account, and the password's new hash when
/// its parameters were out of date.
#[derive(Debug)]
pub struct PasswordChecked {
    pub user: User,
    pub rehashed: Option<PasswordHash>,
}

impl Login<'_> {
    /// Checks `password` for `username`, asked from `source` (the caller's address as the rate
    /// limits key it), and says what follows.
    pub async fn attempt(
        &self,
        username: &str,
        password: String,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<LoginOutcome, LoginError> {
        let PasswordChecked { user, rehashed } = self.check_password(username, password, source, now).await?;
        if self.issuer.config().require_verified_email && !user.email_verified {
            let Issued { token: verification_token, expires_in } =
                self.issuer.email_verification_token(&user, now).await?;
            return Ok(LoginOutcome::VerificationRequired { verification_token, expires_in });
        }
        if user.mfa_enabled() {
            let Issued { token: mfa_token, expires_in } = self.issuer.mfa_token(&user, now).await?;
            return Ok(LoginOutcome::MfaRequired { mfa_token, expires_in });
        }
        let pair =
            logged_in(self.users, self.issuer, self.refresh_tokens, user, rehashed.as_ref(), now).await?;
        Ok(LoginOutcome::Tokens(pair))
    }

    /// The password step alone, under the same limits: `POST /login` and the hosted login page
    /// (`crate::oauth::authorize`) both begin with it.
    pub async fn check_password(
        &self,
        username: &str,
        password: String,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<PasswordChecked, LoginError> {
        let check = PasswordCheck {
            users: self.users,
            rate_limiter: self.rate_limiter,
            config: self.issuer.config(),
        };
        check.check(username, password, source, now).await
    }
}

/// What the password step needs, and no more: the hosted login page, which signs nothing and
/// keeps no refresh tokens, checks passwords with it.
pub struct PasswordCheck<'a> {
    pub users: &'a dyn UserStore,
    pub rate_limiter: &'a dyn RateLimiter,
    /// Where the limits are.
    pub config: &'a crate::AuthConfig,
}

impl PasswordCheck<'_> {
    /// Checks `password` for `username`, asked from `source`, under `POST /login`'s limits.
    pub async fn check(
        &self,
        username: &str,
        password: String,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<PasswordChecked, LoginError> {
        let buckets = buckets(self.config, source, username);
        let attempt = Reserved::take(self.rate_limiter, buckets, now).await?;

        let user = match Username::parse(username) {
            Ok(username) => self.users.get(&username).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let (verified, password) =
            crate::blocking(move || (password::verify(&password, stored.as_ref()), password))
                .await
                .map_err(|e| LoginError::Internal(e.to_string()))?;
        let (Verified::Yes { rehash }, Some(user)) = (verified, user) else {
            return Err(LoginError::InvalidCredentials);
        };
        // A successful login counts for nothing.
        attempt.give_back_all().await;
        // Only after the right password: a disabled account says so to its owner, and to nobody else.
        if user.disabled {
            return Err(LoginError::Disabled);
        }
        let rehashed = if rehash {
            let rehashed = crate::blocking(move || password::rehash(&password))
                .await
                .map_err(|e| LoginError::Internal(e.to_string()))?;
            Some(rehashed.map_err(|e| LoginError::Internal(e.to_string()))?)
        } else {
            None
        };
        Ok(PasswordChecked { user, rehashed })
    }
}

/// The limits a login attempt counts against, the source address's first: once it is full, an
/// attempt counts against nothing else. Only failed attempts count: each bucket is reserved
/// before the password is checked, so a burst of concurrent attempts cannot overrun a limit, and
/// given back when the login succeeds.
fn buckets(config: &crate::AuthConfig, source: &str, username: &str) -> Vec<(String, RateLimit)> {
    // A name that cannot be a username can never log in: all such attempts share one bucket.
    let name = Username::parse(username).map_or_else(|_| "(invalid)".to_owned(), |u| u.to_string());
    vec![
        (format!("login:source:{source}"), config.login_limit),
        (format!("login:user-source:{name}:{source}"), config.login_limit),
        (format!("login:user:{name}"), config.login_user_limit),
    ]
}
