//! Asking a signed-in user for their password again, before a change that a stolen access token
//! alone must not make (a new password, deleting the account). A token holder could guess, so
//! wrong answers are limited per user as logins are; right ones count for nothing.

use time::OffsetDateTime;

use stratus_core::domain::User;
use stratus_core::ports::{LimitError, RateLimit, RateLimiter, StoreError};

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
/// `Limited` once `limit` wrong answers have been given in its window.
pub async fn confirm_password(
    limiter: &dyn RateLimiter,
    limit: RateLimit,
    user: &User,
    field: &str,
    candidate: String,
    now: OffsetDateTime,
) -> Result<(), ReauthError> {
    let key = format!("reauth:user:{}", user.username);
    limiter.enforce(&key, limit, now).await?;
    let stored = user.password_hash.clone();
    let verified = crate::blocking(move || password::verify(&candidate, Some(&stored)))
        .await
        .map_err(|e| ReauthError::Internal(e.to_string()))?;
    match verified {
        Verified::Yes { .. } => {
            // Only wrong answers count: give the reserved hit back.
            limiter.release(&key, limit, now).await?;
            Ok(())
        }
        Verified::No => Err(ReauthError::Wrong { field: field.to_owned() }),
    }
}
