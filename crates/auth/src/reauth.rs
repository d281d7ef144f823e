//! Asking a signed-in user for their password again, before a change that a stolen access token
//! alone must not make (a new password, deleting the account, turning TOTP off). A token holder
//! could guess, so wrong answers are limited per user as logins are. And every answer, right or
//! wrong, costs an argon2 hash (a new password, a second): each counts against the account's
//! hashing budget, so that one access token cannot keep a server hashing.

use time::OffsetDateTime;

use stratus_core::config::AuthConfig;
use stratus_core::domain::User;
use stratus_core::ports::{LimitError, RateLimiter, StoreError};

use super::attempts::Reserved;
use super::password::{self, Verified};

/// Why a password was not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// Not the account's password (400 naming `field`).
    #[error("The password is not right")]
    Wrong { field: String },
    /// Too many wrong answers in the window (429).
    #[error("too many wrong passwords; retry in {retry_after}")]
    Limited { retry_after: time::Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hashing thread failed.
    #[error("{0}")]
    Internal(String),
}

impl From<LimitError> for ReauthError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Limited { retry_after } => Self::Limited { retry_after },
            LimitError::Store(error) => Self::Store(error),
        }
    }
}

/// `Ok` when `candidate` is the user's password; `Wrong` naming `field` when it is not, and
/// `Limited` once the account's hashing budget (`password_work_limit`) or its wrong answers
/// (`login_limit`) fill a window. A refused attempt hashes nothing and counts for nothing.
pub async fn confirm_password(
    limiter: &dyn RateLimiter,
    config: &AuthConfig,
    user: &User,
    field: &str,
    candidate: String,
    now: OffsetDateTime,
) -> Result<(), ReauthError> {
    let buckets = vec![
        (format!("argon2:user:{}", user.username), config.password_work_limit),
        (format!("reauth:user:{}", user.username), config.login_limit),
    ];
    let reserved = Reserved::take(limiter, buckets, now).await?;
    let stored = user.password_hash.clone();
    let verified = crate::blocking(move || password::verify(&candidate, Some(&stored)))
        .await
        .map_err(|e| ReauthError::Internal(e.to_string()))?;
    match verified {
        Verified::Yes { .. } => {
            // Only wrong answers count against the guessing limit; the hash was done all the same.
            reserved.give_back(1).await;
            Ok(())
        }
        Verified::No => Err(ReauthError::Wrong { field: field.to_owned() }),
    }
}
