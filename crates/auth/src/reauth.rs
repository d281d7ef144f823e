//! Asking a signed-in user for their password again, before a change that a stolen access token
//! alone must not make (a new password, deleting the account). A token holder could guess, so
//! wrong answers are limited per user as logins are; right ones count for nothing.

use time::OffsetDateTime;

use crate::Problem;
use crate::domain::User;
use crate::http::{self, StatusCode};
use crate::ports::{RateLimit, RateLimiter};

use super::password::{self, Verified};

/// `Ok` when `candidate` is the user's password; a 400 naming `field` when it is not, and a 429
/// once `limit` wrong answers have been given in its window.
pub async fn confirm_password(
    limiter: &dyn RateLimiter,
    limit: RateLimit,
    user: &User,
    field: &str,
    candidate: String,
    now: OffsetDateTime,
) -> Result<(), Problem> {
    let key = format!("reauth:user:{}", user.username);
    limiter.enforce(&key, limit, now).await?;
    let stored = user.password_hash.clone();
    let verified = http::blocking(move || password::verify(&candidate, Some(&stored))).await?;
    match verified {
        Verified::Yes { .. } => {
            // Only wrong answers count: give the reserved hit back.
            limiter.release(&key, limit, now).await?;
            Ok(())
        }
        Verified::No => Err(Problem::new(StatusCode::BAD_REQUEST, "The password is not right")
            .with_field_error(field, "is not the account's password")),
    }
}
