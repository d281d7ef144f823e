//! Cold start of every function: build the dependencies once, and if that fails, say so to
//! Lambda through the Runtime API's `/init/error`, as the documented runtime contract asks.
//!
//! lambda_runtime reports to `/init/error` only what fails inside its own SnapStart hooks; an
//! error returned from `main` before the runtime starts just ends the process, and Lambda then
//! sees an anonymous `Runtime.ExitError`. Reporting it ourselves puts the cause (say, which
//! variable is missing) into the init report and the caller's error instead.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::{LambdaEvent, service_fn};
use lambda_runtime_api_client::body::Body;

use stratus_core::config::ConfigError;
use stratus_http::http::Endpoint;

use crate::InitError;
use crate::aws::AwsWiring;

/// Where Lambda publishes its Runtime API (`host:port`).
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// The `errorType` for an invalid or missing setting, in the `Category.Reason` form the
/// Runtime API documentation recommends.
pub const CONFIG_INVALID: &str = "Runtime.ConfigInvalid";
/// The `errorType` for any other failure while building dependencies.
pub const INIT_FAILED: &str = "Runtime.InitError";

const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long init waits for the connections it opens (`Clients::open_connections`): a slow
/// endpoint must not hold a sandbox's start; the first call would open its connection anyway.
const CONNECTION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// The whole `main` of an HTTP function: `main_http(its_crate::build)`, which is `serve_http`
/// on a runtime of one thread (`one_thread`).
pub fn main_http<B>(build: B) -> Result<(), lambda_http::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<Endpoint, InitError>,
{
    one_thread()?.block_on(serve_http(build))
}

/// The whole `main` of a function that is not behind the API (the queue worker, the sweeper,
/// the signing-keys custom resource): `serve_events` on a runtime of one thread.
pub fn main_events<B, H>(build: B) -> Result<(), lambda_runtime::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<H, InitError>,
    H: EventHandler,
{
    one_thread()?.block_on(serve_events(build))
}

/// The runtime a function runs on: tokio's current-thread scheduler, not its multi-thread one.
/// A sandbox hands its function one invocation at a time, so worker threads add nothing but
/// their start, their stacks and malloc arenas, and a hop between threads whenever a
/// connection's task wakes the handler. Measured against the multi-thread scheduler (7
/// functions, 180 cold starts each, over TLS, the two builds taking turns): every cold request
/// 0.2–2.3 ms shorter (init 0.4–1.2 ms, the connections step 0.4–1.5 ms), the unchanged
/// hello-world 0.1 ms; peak RSS the same. Blocking work (argon2) still runs on tokio's blocking
/// pool (`stratus_auth::blocking`), so the one thread keeps serving the connections meanwhile.
fn one_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Builds an HTTP function's endpoint on the AWS wiring and serves it.
///
/// The origin secret's read (one round trip to Secrets Manager, for the current value only:
/// `stratus_http::origin`) runs beside the function's own
/// start-up: building its ports, then opening the connections its first request will use. Init
/// ends when both are done, so the secret is known before any request is handled. Handling the
/// first request while the read is still under way, and checking before answering, would save
/// little more (the first request arrives as init ends) and would let a request that did not come
/// through CloudFront take effect (a registration, a write) before it is refused. If Secrets
/// Manager is unavailable past the SDK's retries, init still ends: the guard answers 503 with
/// `Retry-After` and reads again (`stratus_http::origin`), where a failed init would be API
/// Gateway's 500 and a new init per request.
async fn serve_http<B>(build: B) -> Result<(), lambda_http::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<Endpoint, InitError>,
{
    let endpoint = init(async {
        let mut steps = InitSteps::start();
        let wiring = AwsWiring::from_env();
        steps.took("sdk_config");
        let ((guard, secret), (endpoint, built, opened)) =
            tokio::join!(timed(wiring.origin_guard()), start_up(&wiring, build));
        steps.add("origin_secret", secret).add("build", built).add("connections", opened);
        let endpoint = endpoint?.behind(guard?);
        steps.report();
        Ok(endpoint)
    })
    .await;
    stratus_http::http::run(endpoint).await
}

/// Builds the function's dependencies, then opens the connections they will use.
async fn start_up<T>(
    wiring: &AwsWiring,
    build: impl AsyncFnOnce(&AwsWiring) -> Result<T, InitError>,
) -> (Result<T, InitError>, Duration, Duration) {
    // Boxed: a function's build is a deep future, and nesting it in init's join unboxed makes
    // its type deeper than the compiler's layout limit for the biggest functions.
    let (built, build_took) = timed(Box::pin(build(wiring))).await;
    if built.is_err() {
        return (built, build_took, Duration::ZERO);
    }
    let (_, open_took) = timed(wiring.clients().open_connections(CONNECTION_PATIENCE)).await;
    (built, build_took, open_took)
}

async fn timed<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let done = work.await;
    (done, started.elapsed())
}

/// What each step of init took, logged once at its end (`initialised`): `make bench` reads the
/// line to name every step a cold start keeps and what it costs.
struct InitSteps {
    started: Instant,
    last: Instant,
    steps: Vec<(&'static str, Duration)>,
}

impl InitSteps {
    fn start() -> Self {
        let now = Instant::now();
        Self { started: now, last: now, steps: Vec::new() }
    }

    /// The step that ended now, begun when the last one ended.
    fn took(&mut self, step: &'static str) -> &mut Self {
        let now = Instant::now();
        self.steps.push((step, now - self.last));
        self.last = now;
        self
    }

    /// A step that ran beside others: its own time.
    fn add(&mut self, step: &'static str, took: Duration) -> &mut Self {
        self.steps.push((step, took));
        self
    }

    fn report(&self) {
        let millis = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
        let steps: serde_json::Map<String, serde_json::Value> =
            self.steps.iter().map(|(step, took)| ((*step).to_owned(), millis(*took).into())).collect();
        tracing::info!(
            total_ms = millis(self.started.elapsed()),
            steps = %serde_json::Value::Object(steps),
            "initialised"
        );
    }
}

/// What a function invoked by an event source does: its event in, its answer out (an SQS
/// consumer answers the messages that failed).
pub trait EventHandler: Send + Sync + 'static {
    type Event: serde::de::DeserializeOwned + Send;
    type Output: serde::Serialize + Send;
    /// `Err` fails the invocation, so that the event source delivers the event again (an
    /// asynchronous caller, such as CloudFormation's custom resources, twice more).
    fn handle(&self, event: Self::Event) -> impl Future<Output = Result<Self::Output, EventFailed>> + Send;
}

/// An invocation that must fail, and why (Lambda reports it as the invocation's error).
#[derive(Debug)]
pub struct EventFailed(pub String);

impl std::fmt::Display for EventFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventFailed {}

/// What Lambda records as the invocation's error: `errorType` `Function.EventFailed`.
impl From<EventFailed> for lambda_runtime::Diagnostic {
    fn from(failed: EventFailed) -> Self {
        Self { error_type: "Function.EventFailed".into(), error_message: failed.0 }
    }
}

/// Builds an event handler on the AWS wiring and serves it (`main_events` runs it).
async fn serve_events<B, H>(build: B) -> Result<(), lambda_runtime::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<H, InitError>,
    H: EventHandler,
{
    let handler = Arc::new(
        init(async {
            let mut steps = InitSteps::start();
            let wiring = AwsWiring::from_env();
            steps.took("sdk_config");
            let (handler, built, opened) = start_up(&wiring, build).await;
            steps.add("build", built).add("connections", opened);
            if handler.is_ok() {
                steps.report();
            }
            handler
        })
        .await,
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<H::Event>| {
        let handler = handler.clone();
        async move { handler.handle(event.payload).await }
    }))
    .await
}

/// Starts telemetry, then awaits `build`. On failure the error is logged, reported to
/// `/init/error` and the process exits with status 1: nothing after init can work without
/// its dependencies, and Lambda expects the runtime to exit after reporting.
pub async fn init<T, Fut>(build: Fut) -> T
where
    Fut: Future<Output = Result<T, InitError>>,
{
    stratus_core::telemetry::init();
    match build.await {
        Ok(deps) => deps,
        Err(error) => {
            let error_type = error_type(error.as_ref());
            let message = error.to_string();
            tracing::error!(error_type, error = %message, "initialisation failed");
            if let Err(report) = report_init_error(error_type, &message).await {
                tracing::error!(error = %report, "could not report the failure to the Runtime API");
            }
            std::process::exit(1);
        }
    }
}

fn error_type(error: &(dyn std::error::Error + 'static)) -> &'static str {
    if error.is::<ConfigError>() { CONFIG_INVALID } else { INIT_FAILED }
}

/// POSTs `{"errorMessage", "errorType"}` to `/init/error`, over the same hyper client
/// lambda_runtime itself uses, so the functions carry no second HTTP stack.
pub async fn report_init_error(error_type: &str, message: &str) -> Result<(), InitError> {
    let api = std::env::var(RUNTIME_API).map_err(|_| format!("{RUNTIME_API} is not set"))?;
    let base: http::Uri = format!("http://{api}").parse()?;
    let client = lambda_runtime_api_client::PooledClient::builder().with_endpoint(base).build();
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string();
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri(INIT_ERROR_PATH)
        .header(ERROR_TYPE_HEADER, error_type)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))?;
    // Bounded: the process must exit even if nobody answers.
    let response = tokio::time::timeout(REPORT_TIMEOUT, client.call(request))
        .await
        .map_err(|_| format!("no answer from the Runtime API within {REPORT_TIMEOUT:?}"))??;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the Runtime API answered {} to {INIT_ERROR_PATH}", response.status()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_are_told_apart_from_other_failures() {
        let missing: InitError = Box::new(ConfigError::Missing("USERS_TABLE"));
        assert_eq!(error_type(missing.as_ref()), CONFIG_INVALID);
        let other: InitError = "KMS is unreachable".into();
        assert_eq!(error_type(other.as_ref()), INIT_FAILED);
    }
}
