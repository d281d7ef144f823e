//! Cold start of every function: build the dependencies once, and if that fails, say so to
//! Lambda through the Runtime API's `/init/error`, as the documented runtime contract asks.
//!
//! lambda_runtime reports to `/init/error` only what fails inside its own SnapStart hooks; an
//! error returned from `main` before the runtime starts just ends the process, and Lambda then
//! sees an anonymous `Runtime.ExitError`. Reporting it ourselves puts the cause (say, which
//! variable is missing) into the init report and the caller's error instead.

use std::future::Future;
use std::sync::Arc;

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

/// Builds an HTTP function's endpoint on the AWS wiring and serves it: the whole `main` of an
/// HTTP function is `serve_http(its_crate::build)`.
pub async fn serve_http<B>(build: B) -> Result<(), lambda_http::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<Endpoint, InitError>,
{
    let endpoint = init(async {
        let wiring = AwsWiring::from_env().await;
        let guard = wiring.origin_guard().await?;
        Ok(build(&wiring).await?.behind(guard))
    })
    .await;
    stratus_http::http::run(endpoint).await
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

/// Builds an event handler on the AWS wiring and serves it: the whole `main` of a function
/// that is not behind the API (the queue worker, the scheduled sweeper).
pub async fn serve_events<B, H>(build: B) -> Result<(), lambda_runtime::Error>
where
    B: AsyncFnOnce(&AwsWiring) -> Result<H, InitError>,
    H: EventHandler,
{
    let handler = Arc::new(
        init(async {
            let wiring = AwsWiring::from_env().await;
            build(&wiring).await
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
