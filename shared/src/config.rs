//! Configuration comes from environment variables only, read and checked once at cold start so
//! that a misconfigured function fails its init (visible in `/init/error`) instead of its requests.

use std::str::FromStr;

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
    default: crate::ports::RateLimit,
) -> Result<crate::ports::RateLimit, ConfigError> {
    Ok(crate::ports::RateLimit {
        max_hits: parsed_or(hits_var, default.max_hits)?,
        window: seconds(window_var, default.window)?,
    })
}
