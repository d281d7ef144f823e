use time::Duration;

use crate::config::{ConfigError, optional, rate_limit as limit, seconds};
use crate::ports::RateLimit;

/// Token and rate-limit settings, from the environment, with the defaults of DESIGN.md.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub login_limit: RateLimit,
    pub register_limit: RateLimit,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "stratus".into(),
            audience: "stratus-api".into(),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            login_limit: RateLimit { max_hits: 5, window: Duration::minutes(1) },
            register_limit: RateLimit { max_hits: 10, window: Duration::minutes(1) },
        }
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            issuer: optional("TOKEN_ISSUER").unwrap_or(defaults.issuer),
            audience: optional("TOKEN_AUDIENCE").unwrap_or(defaults.audience),
            access_ttl: seconds("ACCESS_TOKEN_TTL_SECONDS", defaults.access_ttl)?,
            refresh_ttl: seconds("REFRESH_TOKEN_TTL_SECONDS", defaults.refresh_ttl)?,
            login_limit: limit("LOGIN_RATE_LIMIT", "LOGIN_RATE_WINDOW_SECONDS", defaults.login_limit)?,
            register_limit: limit(
                "REGISTER_RATE_LIMIT",
                "REGISTER_RATE_WINDOW_SECONDS",
                defaults.register_limit,
            )?,
        })
    }
}
