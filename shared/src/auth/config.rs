use time::Duration;

use crate::config::{ConfigError, optional, parsed_or};
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
        let seconds = |name, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::seconds(parsed_or::<u32>(name, default.whole_seconds() as u32)?.max(1).into()))
        };
        let limit = |hits_var, window_var, default: RateLimit| -> Result<RateLimit, ConfigError> {
            Ok(RateLimit {
                max_hits: parsed_or(hits_var, default.max_hits)?,
                window: seconds(window_var, default.window)?,
            })
        };
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
