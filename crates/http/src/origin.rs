//! Keeps callers from going around CloudFront to the API Gateway endpoint, which would skip the
//! edge's caching, TLS policy, WAF and security headers. HTTP APIs cannot take a WAF, so the
//! check lives in the one wrapper every HTTP function passes through: CloudFront adds a secret
//! header to every request it forwards, and a request without it gets 403.
//!
//! The secret is never in an environment variable (where `GetFunctionConfiguration` would show
//! it): a function reads it from Secrets Manager (through a [`SecretSource`]) at cold start, failing its init if it cannot,
//! and reads it again every few minutes. It accepts the current value and the previous one, so
//! the value can rotate (`stratus-admin rotate-origin-secret`) without refusing anyone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{HeaderValue, StatusCode};
use lambda_http::Request;

use crate::Problem;

/// The header CloudFront sends the secret in.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";
/// The secret's ARN; unset or empty (local runs, `sam local`) admits every request.
pub const ORIGIN_VERIFY_SECRET_ARN: &str = "ORIGIN_VERIFY_SECRET_ARN";
/// How often a function reads the secret again (default 300 s).
pub const ORIGIN_VERIFY_REFRESH_SECONDS: &str = "ORIGIN_VERIFY_REFRESH_SECONDS";

/// A value nobody holds earlier than this after the last read is no reason to read again:
/// without the bound, anyone could make every request cost a Secrets Manager call.
const FORCED_READ_INTERVAL: Duration = Duration::from_secs(30);

/// Where the accepted values come from: a port, so that this guard makes no SDK call
/// (`stratus_aws::secrets::SecretsManagerSource` reads them on AWS).
pub use stratus_core::ports::SecretSource;

/// Values given up front: tests, and places with no Secrets Manager.
pub struct FixedSecret(pub Vec<String>);

#[async_trait]
impl SecretSource for FixedSecret {
    async fn values(&self) -> Result<Vec<String>, String> {
        Ok(self.0.clone())
    }
}

#[derive(Clone)]
pub struct OriginGuard(Option<Arc<Guarded>>);

struct Guarded {
    source: Arc<dyn SecretSource>,
    refresh_every: Duration,
    state: Mutex<Accepted>,
    reading: tokio::sync::Mutex<()>,
}

struct Accepted {
    values: Vec<Vec<u8>>,
    read_at: Instant,
}

impl OriginGuard {
    /// Admits every request: local runs and `sam local`, which have no CloudFront in front.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Reads the accepted values once, now; fails if they cannot be read, so that a function
    /// that could not tell CloudFront's requests from others answers none of them.
    pub async fn load(source: Arc<dyn SecretSource>, refresh_every: Duration) -> Result<Self, String> {
        let values = accepted(source.as_ref()).await?;
        Ok(Self(Some(Arc::new(Guarded {
            source,
            refresh_every,
            state: Mutex::new(Accepted { values, read_at: Instant::now() }),
            reading: tokio::sync::Mutex::new(()),
        }))))
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    pub async fn admit(&self, request: &Request) -> Result<(), Problem> {
        let Some(guarded) = &self.0 else { return Ok(()) };
        let refused = || {
            Problem::new(
                StatusCode::FORBIDDEN,
                "This endpoint is served through the API's public address, not directly",
            )
        };
        let presented =
            request.headers().get(ORIGIN_VERIFY_HEADER).map(HeaderValue::as_bytes).ok_or_else(refused)?;
        let (known, age) = guarded.check(presented);
        if known && age < guarded.refresh_every {
            return Ok(());
        }
        // Due for a read, or a value that may be newer than ours (a rotation under way).
        if age >= guarded.refresh_every || (!known && age >= FORCED_READ_INTERVAL) {
            guarded.read_again().await;
        }
        if guarded.check(presented).0 { Ok(()) } else { Err(refused()) }
    }
}

impl Guarded {
    /// Whether `presented` is an accepted value, and how old the values are.
    fn check(&self, presented: &[u8]) -> (bool, Duration) {
        let accepted = self.state.lock().expect("no panic while holding the lock");
        // Constant time, so the secret cannot be guessed byte by byte from response timings.
        let known = accepted
            .values
            .iter()
            .any(|value| aws_lc_rs::constant_time::verify_slices_are_equal(presented, value).is_ok());
        (known, accepted.read_at.elapsed())
    }

    async fn read_again(&self) {
        let _one_at_a_time = self.reading.lock().await;
        match accepted(self.source.as_ref()).await {
            Ok(values) => {
                *self.state.lock().expect("no panic while holding the lock") =
                    Accepted { values, read_at: Instant::now() }
            }
            // Keep the values we have, and wait a full interval before trying again: refusing
            // CloudFront because Secrets Manager blinked would be worse.
            Err(error) => {
                tracing::warn!(%error, "could not read the origin secret again; keeping the values read before");
                self.state.lock().expect("no panic while holding the lock").read_at = Instant::now();
            }
        }
    }
}

async fn accepted(source: &dyn SecretSource) -> Result<Vec<Vec<u8>>, String> {
    let values: Vec<Vec<u8>> =
        source.values().await?.into_iter().filter(|v| !v.is_empty()).map(String::into_bytes).collect();
    if values.is_empty() { Err("the origin secret is empty".into()) } else { Ok(values) }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Values a test can change, counting the reads.
    struct Rotating {
        values: Mutex<Result<Vec<String>, String>>,
        reads: AtomicUsize,
    }

    impl Default for Rotating {
        fn default() -> Self {
            Self { values: Mutex::new(Ok(Vec::new())), reads: AtomicUsize::new(0) }
        }
    }

    impl Rotating {
        fn set(&self, values: Result<Vec<&str>, &str>) {
            *self.values.lock().unwrap() =
                values.map(|v| v.into_iter().map(str::to_owned).collect()).map_err(str::to_owned);
        }
    }

    #[async_trait]
    impl SecretSource for Rotating {
        async fn values(&self) -> Result<Vec<String>, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.values.lock().unwrap().clone()
        }
    }

    fn request(value: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri("/health");
        if let Some(value) = value {
            builder = builder.header(ORIGIN_VERIFY_HEADER, value);
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    #[tokio::test]
    async fn the_current_and_the_previous_value_are_admitted_nothing_else() {
        let source = Arc::new(Rotating::default());
        source.set(Ok(vec!["new-secret-value", "old-secret-value"]));
        let guard = OriginGuard::load(source, Duration::from_secs(300)).await.unwrap();
        for admitted in ["new-secret-value", "old-secret-value"] {
            assert!(guard.admit(&request(Some(admitted))).await.is_ok(), "{admitted}");
        }
        for refused in [None, Some(""), Some("new-secret-valu"), Some("NEW-SECRET-VALUE"), Some("older")] {
            let problem = guard.admit(&request(refused)).await.unwrap_err();
            assert_eq!(problem.status(), StatusCode::FORBIDDEN, "{refused:?}");
        }
    }

    #[tokio::test]
    async fn an_unreadable_or_empty_secret_fails_the_load() {
        let source = Arc::new(Rotating::default());
        source.set(Err("AccessDeniedException"));
        assert!(OriginGuard::load(source.clone(), Duration::from_secs(1)).await.is_err());
        source.set(Ok(vec![""]));
        assert!(OriginGuard::load(source, Duration::from_secs(1)).await.is_err());
    }

    #[tokio::test]
    async fn values_are_read_again_when_due_and_kept_when_the_read_fails() {
        let source = Arc::new(Rotating::default());
        source.set(Ok(vec!["first-value"]));
        let guard = OriginGuard::load(source.clone(), Duration::from_millis(50)).await.unwrap();
        source.set(Ok(vec!["second-value", "first-value"]));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(guard.admit(&request(Some("second-value"))).await.is_ok(), "read again when due");

        source.set(Err("Secrets Manager is down"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(guard.admit(&request(Some("second-value"))).await.is_ok(), "a failed read keeps the values");
    }

    #[tokio::test]
    async fn unknown_values_cannot_make_every_request_read_the_secret() {
        let source = Arc::new(Rotating::default());
        source.set(Ok(vec!["the-value"]));
        let guard = OriginGuard::load(source.clone(), Duration::from_secs(300)).await.unwrap();
        for _ in 0..50 {
            assert!(guard.admit(&request(Some("a guess"))).await.is_err());
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 1, "only the load read the secret");
    }

    #[tokio::test]
    async fn a_disabled_guard_admits_everything() {
        assert!(OriginGuard::disabled().admit(&request(None)).await.is_ok());
    }
}
