//! Configuration comes from environment variables only, read and checked once at cold start so
//! that a misconfigured function fails its init (visible in `/init/error`) instead of its requests.

use std::str::FromStr;

use crate::ports::RateLimit;

mod auth;
pub use auth::{AuthConfig, PUBLIC_BASE_URL, RegistrationPrivacy, public_base_url};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

pub fn parsed_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// A duration in whole seconds (at least 1).
pub fn seconds(name: &'static str, default: time::Duration) -> Result<time::Duration, ConfigError> {
    Ok(time::Duration::seconds(parsed_or::<u32>(name, default.whole_seconds() as u32)?.max(1).into()))
}

/// A rate limit from a hit count and a window length in seconds.
pub fn rate_limit(
    hits_var: &'static str,
    window_var: &'static str,
    default: RateLimit,
) -> Result<RateLimit, ConfigError> {
    Ok(RateLimit {
        max_hits: parsed_or(hits_var, default.max_hits)?,
        window: seconds(window_var, default.window)?,
    })
}

/// Every tunable of the service, with the defaults written below (README.md's Configuration
/// table lists each variable with its default); the environment overrides them. Read once per
/// cold start, when a function is built, never per request.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth: AuthConfig,
    /// Task submissions per user.
    pub add_limit: RateLimit,
    /// Messages stored per source address: anyone may write, so nobody may write without bound.
    pub message_limit: RateLimit,
    /// How long a message is kept; for ever when not set.
    pub message_ttl: Option<time::Duration>,
    /// How long a task may stay pending before the sweeper queues it again.
    pub stale_task_after: time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            add_limit: RateLimit { max_hits: 120, window: time::Duration::minutes(1) },
            message_limit: RateLimit { max_hits: 100, window: time::Duration::minutes(1) },
            message_ttl: None,
            stale_task_after: time::Duration::minutes(10),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        // 0, like unset, keeps messages for ever: the template's parameter needs a number.
        let message_ttl = match parsed_or::<u32>("MESSAGE_TTL_SECONDS", 0)? {
            0 => None,
            seconds => Some(time::Duration::seconds(seconds.into())),
        };
        Ok(Self {
            auth: AuthConfig::from_env()?,
            add_limit: rate_limit("ADD_RATE_LIMIT", "ADD_RATE_WINDOW_SECONDS", defaults.add_limit)?,
            message_limit: rate_limit(
                "MESSAGE_RATE_LIMIT",
                "MESSAGE_RATE_WINDOW_SECONDS",
                defaults.message_limit,
            )?,
            message_ttl,
            stale_task_after: seconds("STALE_TASK_SECONDS", defaults.stale_task_after)?,
        })
    }
}

/// Whether `url` names this machine (`localhost` or a loopback address, IPv6 in brackets
/// included): local engines may be provisioned there, never a real account.
pub fn is_loopback_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => authority,
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    matches!(scheme, "http" | "https")
        && (host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_told_from_remote_ones() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:4566/",
            "http://[::1]:8000",
            "https://127.0.0.2",
            "http://LOCALHOST",
        ] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://10.0.0.1:8000",
            "http://[2001:db8::1]:8000",
            "127.0.0.1:8000",
            "ftp://127.0.0.1",
            "http://localhost.example.com",
            "",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
    }
}
