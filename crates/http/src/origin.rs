//! Keeps callers from going around CloudFront to the API Gateway endpoint, which would skip the
//! edge's caching, TLS policy, WAF and security headers. HTTP APIs cannot take a WAF, so the
//! check lives in the one wrapper every HTTP function passes through: CloudFront adds a secret
//! header to every request it forwards, and a request without it gets 403.
//!
//! The secret is never in an environment variable (where `GetFunctionConfiguration` would show
//! it): a function reads it from Secrets Manager (through a [`SecretSource`]) at cold start, and
//! reads it again every few minutes. It accepts the current value and the previous one, so the
//! value can rotate (`stratus-admin rotate-origin-secret`) without refusing anyone.
//!
//! A cold start reads only the current value, the one CloudFront sends outside a rotation: one
//! call (one TLS handshake) on every new sandbox's path instead of two. The previous value is
//! read the first time a request presents a value the guard does not know, before that request
//! is answered, so a sandbox that starts while a rotation spreads admits the edges still sending
//! the old value; a guess costs that read once per sandbox, and then every few minutes at most,
//! as before.
//!
//! If Secrets Manager cannot be reached at cold start (throttled, a 5xx, no connection, past the
//! SDK's retries), the function starts anyway and fails closed: a request that presents a value
//! gets 503 with `Retry-After` (no request can take effect while the guard cannot tell CloudFront
//! from anyone), and the secret is read again, at most once per [`UNKNOWN_SECRET_RETRY`], until
//! it is known. Failing init instead would make API Gateway answer 500 for Secrets Manager's
//! fault, and Lambda would pay a whole new init for every request. A secret that cannot be read
//! for a reason waiting will not fix (no such secret, no grant) still fails init.

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

/// While the secret is unknown (the read at cold start failed), how long after a failed read the
/// next request may read again: one read (with the SDK's retries) per second at most, so a
/// sandbox does not hammer a Secrets Manager that is already failing.
pub const UNKNOWN_SECRET_RETRY: Duration = Duration::from_secs(1);

/// Where the accepted values come from: a port, so that this guard makes no SDK call
/// (`stratus_aws::secrets::SecretsManagerSource` reads them on AWS).
pub use stratus_core::ports::{SecretError, SecretSource};

/// Values given up front, the current one first: tests, and places with no Secrets Manager.
pub struct FixedSecret(pub Vec<String>);

#[async_trait]
impl SecretSource for FixedSecret {
    async fn current(&self) -> Result<String, SecretError> {
        self.0.first().cloned().ok_or_else(|| SecretError::Failed("no value given".into()))
    }

    async fn previous(&self) -> Result<Option<String>, SecretError> {
        Ok(self.0.get(1).cloned())
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
    /// Empty only while no read has succeeded (the one at cold start failed): then nothing is
    /// admitted.
    values: Vec<Vec<u8>>,
    /// Whether `values` holds the previous value as well (or there is none).
    previous: Previous,
    /// When the values were read, or the last read was tried.
    read_at: Instant,
}

/// The previous value, which a cold start does not wait for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Previous {
    /// Only the current value was read (at cold start).
    NotRead,
    /// A read of both was tried and failed: the next may be tried after [`UNKNOWN_SECRET_RETRY`].
    ReadFailed,
    Read,
}

/// What a presented value is to the guard.
enum Verdict {
    Admitted,
    /// Not among the values read, and the previous value was read.
    Unknown,
    /// Not the current value, and the previous one has not been read: it may be that one.
    MaybePrevious(Previous),
    /// No value has been read yet: nobody can be told apart.
    SecretUnknown,
}

impl OriginGuard {
    /// Admits every request: local runs and `sam local`, which have no CloudFront in front.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Reads the current value once, now (the previous one when a request needs it). A read
    /// that may succeed later (Secrets Manager throttled, failing or unreachable) still gives a
    /// guard, one that admits nobody until a later read succeeds; any other failure (no such
    /// secret, no grant, an empty value) is returned, so that a function that could never tell
    /// CloudFront's requests from others fails its init.
    pub async fn load(source: Arc<dyn SecretSource>, refresh_every: Duration) -> Result<Self, SecretError> {
        let values = match source.current().await.and_then(non_empty) {
            Ok(current) => vec![current],
            Err(SecretError::Unavailable(error)) => {
                tracing::warn!(%error, "could not read the origin secret at start; answering 503 until it can be read");
                Vec::new()
            }
            Err(failed) => return Err(failed),
        };
        Ok(Self(Some(Arc::new(Guarded {
            source,
            refresh_every,
            state: Mutex::new(Accepted { values, previous: Previous::NotRead, read_at: Instant::now() }),
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
        let (verdict, read_at) = guarded.check(presented);
        let age = read_at.elapsed();
        let due = match verdict {
            Verdict::Admitted => age >= guarded.refresh_every,
            // A value that may be newer than ours (a rotation under way).
            Verdict::Unknown => age >= guarded.refresh_every || age >= FORCED_READ_INTERVAL,
            // Once per sandbox, so that the edges still sending the old value are not refused;
            // after a failed read, no more often than while the secret is unknown.
            Verdict::MaybePrevious(previous) => previous == Previous::NotRead || age >= UNKNOWN_SECRET_RETRY,
            Verdict::SecretUnknown => age >= UNKNOWN_SECRET_RETRY,
        };
        if due {
            guarded.read_again(read_at).await;
        }
        match guarded.check(presented).0 {
            Verdict::Admitted => Ok(()),
            Verdict::Unknown => Err(refused()),
            // Fail closed, and say "later": the fault is Secrets Manager's, not the caller's.
            Verdict::SecretUnknown | Verdict::MaybePrevious(_) => Err(Problem::unavailable(
                &"the origin secret could not be read yet, so no request can be admitted",
            )),
        }
    }
}

impl Guarded {
    /// What `presented` is, and when the values were read (or a read last tried).
    fn check(&self, presented: &[u8]) -> (Verdict, Instant) {
        let accepted = self.state.lock().expect("no panic while holding the lock");
        if accepted.values.is_empty() {
            return (Verdict::SecretUnknown, accepted.read_at);
        }
        // Constant time, so the secret cannot be guessed byte by byte from response timings.
        let known = accepted
            .values
            .iter()
            .any(|value| aws_lc_rs::constant_time::verify_slices_are_equal(presented, value).is_ok());
        let verdict = match accepted.previous {
            _ if known => Verdict::Admitted,
            Previous::Read => Verdict::Unknown,
            previous => Verdict::MaybePrevious(previous),
        };
        (verdict, accepted.read_at)
    }

    /// Reads the values again, unless another request did since `seen` (the read this one found
    /// due): requests that queue behind one read do not each make their own.
    async fn read_again(&self, seen: Instant) {
        let _one_at_a_time = self.reading.lock().await;
        if self.state.lock().expect("no panic while holding the lock").read_at != seen {
            return;
        }
        match both(self.source.as_ref()).await {
            Ok(values) => {
                *self.state.lock().expect("no panic while holding the lock") =
                    Accepted { values, previous: Previous::Read, read_at: Instant::now() }
            }
            // Keep the values we have (none, if no read has succeeded yet), and wait before
            // trying again: refusing CloudFront because Secrets Manager blinked would be worse,
            // and so would a read per request while it is down.
            Err(error) => {
                tracing::warn!(%error, "could not read the origin secret again; keeping the values read before");
                let mut state = self.state.lock().expect("no panic while holding the lock");
                state.read_at = Instant::now();
                if state.previous == Previous::NotRead {
                    state.previous = Previous::ReadFailed;
                }
            }
        }
    }
}

/// The current value and the previous one, read at once.
async fn both(source: &dyn SecretSource) -> Result<Vec<Vec<u8>>, SecretError> {
    let (current, previous) = tokio::join!(source.current(), source.previous());
    let mut values = vec![non_empty(current?)?];
    values.extend(previous?.filter(|value| !value.is_empty()).map(String::into_bytes));
    Ok(values)
}

fn non_empty(value: String) -> Result<Vec<u8>, SecretError> {
    if value.is_empty() {
        Err(SecretError::Failed("the origin secret is empty".into()))
    } else {
        Ok(value.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Values a test can change, the current one first, then the previous one; counts the reads
    /// of each.
    struct Rotating {
        values: Mutex<Result<Vec<String>, SecretError>>,
        current_reads: AtomicUsize,
        previous_reads: AtomicUsize,
    }

    impl Default for Rotating {
        fn default() -> Self {
            Self {
                values: Mutex::new(Ok(Vec::new())),
                current_reads: AtomicUsize::new(0),
                previous_reads: AtomicUsize::new(0),
            }
        }
    }

    impl Rotating {
        fn set(&self, values: Result<Vec<&str>, SecretError>) {
            *self.values.lock().unwrap() = values.map(|v| v.into_iter().map(str::to_owned).collect());
        }
    }

    impl Rotating {
        /// (current, previous) reads so far.
        fn reads(&self) -> (usize, usize) {
            (self.current_reads.load(Ordering::SeqCst), self.previous_reads.load(Ordering::SeqCst))
        }
    }

    #[async_trait]
    impl SecretSource for Rotating {
        async fn current(&self) -> Result<String, SecretError> {
            self.current_reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.values.lock().unwrap().clone()?.first().cloned().unwrap_or_default())
        }

        async fn previous(&self) -> Result<Option<String>, SecretError> {
            self.previous_reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.values.lock().unwrap().clone()?.get(1).cloned())
        }
    }

    /// A guard loaded from `values` (the current one first), refreshed every 5 minutes.
    async fn loaded(values: Vec<&str>) -> (Arc<Rotating>, OriginGuard) {
        let source = Arc::new(Rotating::default());
        source.set(Ok(values));
        let guard = OriginGuard::load(source.clone(), Duration::from_secs(300)).await.unwrap();
        (source, guard)
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
        source.set(Err(SecretError::Failed("AccessDeniedException".into())));
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

        source.set(Err(SecretError::Unavailable("Secrets Manager is down".into())));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(guard.admit(&request(Some("second-value"))).await.is_ok(), "a failed read keeps the values");
    }

    #[tokio::test]
    async fn unknown_values_cannot_make_every_request_read_the_secret() {
        let (source, guard) = loaded(vec!["the-value"]).await;
        for _ in 0..50 {
            assert!(guard.admit(&request(Some("a guess"))).await.is_err());
        }
        assert_eq!(source.reads(), (2, 1), "the load, and one read of both for the first guess");
    }

    #[tokio::test]
    async fn a_cold_start_waits_for_the_current_value_only() {
        let (source, guard) = loaded(vec!["new-secret-value", "old-secret-value"]).await;
        assert_eq!(source.reads(), (1, 0), "init read the current value alone");
        assert!(guard.admit(&request(Some("new-secret-value"))).await.is_ok());
        assert_eq!(source.reads(), (1, 0), "the value CloudFront sends needs no other read");

        // A sandbox started while a rotation spreads: an edge still sends the old value.
        assert!(guard.admit(&request(Some("old-secret-value"))).await.is_ok());
        assert_eq!(source.reads(), (2, 1));
        assert!(guard.admit(&request(Some("old-secret-value"))).await.is_ok());
        assert_eq!(guard.admit(&request(Some("older"))).await.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert_eq!(source.reads(), (2, 1), "read once per sandbox");
    }

    #[tokio::test]
    async fn a_previous_value_that_cannot_be_read_yet_is_503_and_read_again_a_second_later() {
        let (source, guard) = loaded(vec!["new-secret-value", "old-secret-value"]).await;
        source.set(Err(SecretError::Unavailable("ThrottlingException".into())));
        for _ in 0..3 {
            let problem = guard.admit(&request(Some("old-secret-value"))).await.unwrap_err();
            assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE, "it may be CloudFront's value");
        }
        assert_eq!(source.reads(), (2, 1), "no read again within the retry interval");
        assert!(guard.admit(&request(Some("new-secret-value"))).await.is_ok(), "the current value still is");

        source.set(Ok(vec!["new-secret-value", "old-secret-value"]));
        tokio::time::sleep(UNKNOWN_SECRET_RETRY + Duration::from_millis(50)).await;
        assert!(guard.admit(&request(Some("old-secret-value"))).await.is_ok());
        assert_eq!(guard.admit(&request(Some("a guess"))).await.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert_eq!(source.reads(), (3, 2));
    }

    #[tokio::test]
    async fn a_secret_unreachable_at_start_fails_closed_with_503_until_a_read_succeeds() {
        let source = Arc::new(Rotating::default());
        source.set(Err(SecretError::Unavailable("ThrottlingException".into())));
        let guard = OriginGuard::load(source.clone(), Duration::from_secs(300)).await.expect("a guard");
        for presented in [Some("the-value"), Some("a guess")] {
            let problem = guard.admit(&request(presented)).await.unwrap_err();
            assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE, "{presented:?}");
            let response = problem.into_response();
            assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        }
        // Nothing presented: nothing could ever admit it.
        assert_eq!(guard.admit(&request(None)).await.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert_eq!(source.reads(), (1, 0), "no read again within the retry interval");

        // Still down a second later: one more read, still 503.
        tokio::time::sleep(UNKNOWN_SECRET_RETRY + Duration::from_millis(50)).await;
        let problem = guard.admit(&request(Some("the-value"))).await.unwrap_err();
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(source.reads(), (2, 1));

        // Back: the next request after the interval reads it, and the guard works as ever.
        source.set(Ok(vec!["the-value"]));
        tokio::time::sleep(UNKNOWN_SECRET_RETRY + Duration::from_millis(50)).await;
        assert!(guard.admit(&request(Some("the-value"))).await.is_ok());
        assert_eq!(guard.admit(&request(Some("a guess"))).await.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert_eq!(source.reads(), (3, 2));
    }

    #[tokio::test]
    async fn a_disabled_guard_admits_everything() {
        assert!(OriginGuard::disabled().admit(&request(None)).await.is_ok());
    }
}
