//! The second factor: checking a TOTP or recovery code of a user with TOTP on, for a login's
//! second step and for turning TOTP off. Wrong codes are limited per account; a right one is
//! spent in the same conditional write that accepts it, so it works once.

use time::OffsetDateTime;

use crate::Problem;
use crate::domain::User;
use crate::http::StatusCode;
use crate::ports::{RateLimit, RateLimiter, UserStore};

use super::sealing::SecretBox;
use super::totp::{SecondFactor, TotpCode, TotpSecret};

/// The rate-limit bucket of an account's wrong codes.
pub fn limit_key(user: &User) -> String {
    format!("mfa:user:{}", user.username)
}

/// The user's TOTP secret, unsealed (bound to the user's id).
pub async fn secret_of(secrets: &SecretBox, user: &User) -> Result<TotpSecret, Problem> {
    let Some(totp) = &user.totp else {
        return Err(Problem::internal(&"asked for the secret of a user without TOTP"));
    };
    let bytes = secrets.open(&totp.sealed_secret, user.id.as_bytes()).await?;
    TotpSecret::from_bytes(&bytes).map_err(|e| Problem::internal(&e))
}

/// Parses `text` as a TOTP or recovery code (400 naming `field` if it is neither).
pub fn parse_code(text: &str, field: &str) -> Result<SecondFactor, Problem> {
    SecondFactor::parse(text)
        .map_err(|e| Problem::bad_request("The code is not valid").with_field_error(field, e))
}

/// The store's check of one code, after the rate limit: true when it was right and is now spent.
pub struct Checker<'a> {
    pub users: &'a dyn UserStore,
    pub secrets: &'a SecretBox,
    pub limiter: &'a dyn RateLimiter,
    pub limit: RateLimit,
}

impl Checker<'_> {
    /// `Ok` when `code` is a live code of the user (TOTP on), now spent; a 400 naming `field`
    /// otherwise, and 429 once `limit` wrong codes have been tried in its window.
    pub async fn check(
        &self,
        user: &User,
        code: &SecondFactor,
        field: &str,
        now: OffsetDateTime,
    ) -> Result<(), Problem> {
        let key = limit_key(user);
        self.limiter.enforce(&key, self.limit, now).await?;
        let accepted = match code {
            SecondFactor::Totp(code) => self.totp(user, code, now).await?,
            SecondFactor::Recovery(code) => self.users.spend_recovery_code(user, &code.hash(user)).await?,
        };
        if !accepted {
            return Err(wrong_code(field));
        }
        // Only wrong codes count: give the hit back.
        self.limiter.release(&key, self.limit, now).await?;
        Ok(())
    }

    async fn totp(&self, user: &User, code: &TotpCode, now: OffsetDateTime) -> Result<bool, Problem> {
        let Some(totp) = user.totp.as_ref().filter(|t| t.confirmed) else { return Ok(false) };
        let secret = secret_of(self.secrets, user).await?;
        match secret.accepts(code, now, totp.last_step) {
            // False if another request spent this step (or a later one) first: a replay.
            Some(step) => Ok(self.users.use_totp_step(user, step).await?),
            None => Ok(false),
        }
    }
}

pub fn wrong_code(field: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "The code is wrong, expired or already used").with_field_error(
        field,
        "send a current code from your authenticator app, or an unused recovery code",
    )
}
