//! The second factor: checking a TOTP or recovery code of a user with TOTP on, for a login's
//! second step and for turning TOTP off. A right code is spent in a conditional write, so it
//! works once; callers verify it first and spend it only once what it unlocks is signed and
//! stored, so a dependency failing in between leaves the code good for the honest retry.
//!
//! Wrong codes are limited as failed logins are (`crate::login`): per account from one source
//! address, and per account from every address under a much higher ceiling, so whoever knows
//! the password can exhaust their own address's tries but not the owner's. Each use of a code
//! (the login's second step, turning TOTP on, turning it off) has buckets of its own: guessing
//! at one never blocks another.

use time::OffsetDateTime;

use stratus_core::config::AuthConfig;
use stratus_core::domain::User;
use stratus_core::ports::{LimitError, RateLimiter, StoreError, UserStore};

use super::attempts::Reserved;
use super::sealing::{SealError, SecretBox};
use super::totp::{SecondFactor, TotpSecret};

/// What a code is checked for; each has rate-limit buckets of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The second step of a login.
    Login,
    /// Turning TOTP on with a first code.
    Confirm,
    /// Turning TOTP off.
    Remove,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Confirm => "confirm",
            Self::Remove => "remove",
        }
    }
}

/// Counts one code attempt of `user` from `source` (the caller's address as the rate limits key
/// it) for `purpose`: the source's bucket first, then the account's ceiling. Give the hits back
/// ([`Reserved::give_back_all`]) when the code was right: only wrong codes count.
pub async fn reserve<'a>(
    limiter: &'a dyn RateLimiter,
    config: &AuthConfig,
    purpose: Purpose,
    user: &User,
    source: &str,
    now: OffsetDateTime,
) -> Result<Reserved<'a>, MfaError> {
    let purpose = purpose.as_str();
    let name = &user.username;
    let buckets = vec![
        (format!("mfa:{purpose}:user-source:{name}:{source}"), config.mfa_limit),
        (format!("mfa:{purpose}:user:{name}"), config.mfa_user_limit),
    ];
    Ok(Reserved::take(limiter, buckets, now).await?)
}

/// Why a second factor was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Not a TOTP or recovery code at all (400 naming `field`).
    #[error("The code is not valid")]
    Malformed { field: String, reason: String },
    /// Wrong, expired or already used (400 naming `field`).
    #[error("The code is wrong, expired or already used")]
    Wrong { field: String },
    /// Too many wrong codes from this address, or for the account, in the window (429).
    #[error("too many wrong codes; retry in {retry_after}")]
    Limited { retry_after: time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Ours: a state that cannot be.
    #[error("{0}")]
    Internal(String),
}

impl MfaError {
    pub fn wrong(field: &str) -> Self {
        Self::Wrong { field: field.to_owned() }
    }
}

impl From<LimitError> for MfaError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Limited { retry_after } => Self::Limited { retry_after },
            LimitError::Store(error) => Self::Store(error),
        }
    }
}

/// The user's TOTP secret, unsealed (bound to the user's id).
pub async fn secret_of(secrets: &SecretBox, user: &User) -> Result<TotpSecret, MfaError> {
    let Some(totp) = &user.totp else {
        return Err(MfaError::Internal("asked for the secret of a user without TOTP".into()));
    };
    let bytes = secrets.open(&totp.sealed_secret, user.id.as_bytes()).await?;
    TotpSecret::from_bytes(&bytes).map_err(|e| MfaError::Internal(e.to_string()))
}

/// Parses `text` as a TOTP or recovery code (`Malformed`, naming `field`, if it is neither).
pub fn parse_code(text: &str, field: &str) -> Result<SecondFactor, MfaError> {
    SecondFactor::parse(text)
        .map_err(|e| MfaError::Malformed { field: field.to_owned(), reason: e.to_string() })
}

/// The store's check of one code, after the rate limits.
pub struct Checker<'a> {
    pub users: &'a dyn UserStore,
    pub secrets: &'a SecretBox,
    pub limiter: &'a dyn RateLimiter,
    pub config: &'a AuthConfig,
    pub purpose: Purpose,
    /// The caller's address, as the rate limits key it (`stratus_http::http::source_key`).
    pub source: &'a str,
}

impl Checker<'_> {
    /// `Ok` when `code` is a live code of the user (TOTP on), now spent; `Wrong` naming `field`
    /// otherwise, and `Limited` once the source's or the account's wrong codes fill a window.
    pub async fn check(
        &self,
        user: &User,
        code: &SecondFactor,
        field: &str,
        now: OffsetDateTime,
    ) -> Result<(), MfaError> {
        self.verify(user, code, field, now).await?.spend(self.users, user).await
    }

    /// `Ok` when `code` is a live code of the user as loaded (TOTP on), not yet spent: what a
    /// caller does next before spending it (sign, store) can fail for a dependency's fault
    /// without costing the person their code, so the honest retry of the same request works.
    /// `Wrong` and `Limited` as [`Self::check`].
    pub async fn verify(
        &self,
        user: &User,
        code: &SecondFactor,
        field: &str,
        now: OffsetDateTime,
    ) -> Result<Verified, MfaError> {
        let reserved = reserve(self.limiter, self.config, self.purpose, user, self.source, now).await?;
        let live = match user.totp.as_ref().filter(|t| t.confirmed) {
            None => None,
            Some(totp) => match code {
                SecondFactor::Totp(code) => {
                    let secret = secret_of(self.secrets, user).await?;
                    secret.accepts(code, now, totp.last_step).map(Spend::Step)
                }
                SecondFactor::Recovery(code) => {
                    let hash = code.hash(user);
                    totp.recovery_codes.contains(&hash).then_some(Spend::Recovery(hash))
                }
            },
        };
        let Some(spend) = live else { return Err(MfaError::wrong(field)) };
        // Only wrong codes count: give the hits back.
        reserved.give_back_all().await;
        Ok(Verified { spend, field: field.to_owned() })
    }
}

/// A right code of a user, not spent yet ([`Checker::verify`]).
#[derive(Debug)]
#[must_use = "a verified code is accepted only once spent"]
pub struct Verified {
    spend: Spend,
    field: String,
}

#[derive(Debug)]
enum Spend {
    /// The TOTP time step the code was for: it and every earlier one are spent together.
    Step(i64),
    /// The recovery code's hash.
    Recovery(String),
}

impl Verified {
    /// Spends the code, in the conditional write that makes it work once: `Wrong` when another
    /// request spent it (or a later TOTP step) since it was verified, as a replay.
    pub async fn spend(self, users: &dyn UserStore, user: &User) -> Result<(), MfaError> {
        let spent = match &self.spend {
            Spend::Step(step) => users.use_totp_step(user, *step).await?,
            Spend::Recovery(hash) => users.spend_recovery_code(user, hash).await?,
        };
        if spent { Ok(()) } else { Err(MfaError::wrong(&self.field)) }
    }
}
