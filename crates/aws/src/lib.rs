//! Every AWS SDK call of Stratus lives in this crate: the adapters of the ports (DynamoDB stores,
//! the SQS queue, the SES mailer, the KMS signer and data key, the Secrets Manager origin
//! secret), and the one HTTPS client they share. The SDK reads region, credentials and
//! per-service endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, …) from the environment, which is how the
//! same binaries talk to DynamoDB Local and the SQS emulator without a code change.

use std::sync::OnceLock;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

pub mod dynamodb;
pub mod kms;
pub mod secrets;
pub mod ses;
pub mod sqs;

/// What went wrong with an AWS call, for the logs. An answer the SDK could not read (no error
/// code: an emulator's XML, a proxy's HTML) keeps its status and the start of its body, which is
/// where the reason is (say, which action a policy denied).
pub fn error_text<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let text = aws_smithy_types::error::display::DisplayErrorContext(error).to_string();
    let SdkError::ServiceError(service) = error else { return text };
    if service.err().code().is_some() {
        return text;
    }
    let raw: &dyn std::any::Any = service.raw();
    match raw.downcast_ref::<aws_smithy_runtime_api::http::Response>() {
        Some(response) => {
            let body = response.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
            let body: String = body.chars().take(600).collect();
            format!("{text} (HTTP {}: {body})", response.status().as_u16())
        }
        None => text,
    }
}

/// The HTTP status of the answer behind `error`, when there was one: a service's error, or an
/// answer the SDK could not read at all (`ResponseError`: a body cut short, a proxy's HTML).
pub fn answer_status<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Option<u16>
where
    R: std::fmt::Debug + 'static,
{
    let raw: &dyn std::any::Any = error.raw_response()?;
    raw.downcast_ref::<aws_smithy_runtime_api::http::Response>().map(|response| response.status().as_u16())
}

/// Whether the service, not the caller, is why `error` happened, so the same request may well
/// succeed later: no answer in time, no connection, or any 5xx, whatever its code says (a code
/// the adapter has never heard of, or no code at all, is still the service's side). The
/// adapters' lists of codes only add the 4xx that mean "later" (throttling); a 5xx must never
/// become a 500 for the client, which would blame the function for its dependency.
pub fn is_transient<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    R: std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    matches!(error, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || answer_status(error).is_some_and(|status| (500..600).contains(&status))
}

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client())
        .retry_config(retry_config())
        .load()
        .await
}

/// The longest a Lambda function waits for one attempt of a call before the SDK gives it up and
/// tries again (with the same request, so a write carrying its call's token is still applied
/// once: the late attempt, if it lands, meets the retry's work as its own). Without it a call
/// that hangs holds the request until the function's deadline answers 503 while the write is
/// still in flight: it lands after the client was told to retry, and the honest retry then
/// meets it as someone else's (a refresh token rotated, a code spent, an `mfa_token` claimed).
/// The services a function calls answer in tens of milliseconds; three attempts of 500 ms and
/// their backoff end within the 3 s timeout most functions have, so a dependency that stays slow
/// is answered by the function's own 503 path, not by the deadline's.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// What a Lambda function's clients run on: [`sdk_config`] with [`ATTEMPT_TIMEOUT`]. Not for
/// `stratus-admin`, whose control-plane calls (CloudFront, CloudFormation) take seconds.
pub async fn function_sdk_config() -> SdkConfig {
    let timeouts =
        aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT_TIMEOUT).build();
    sdk_config().await.into_builder().timeout_config(timeouts).build()
}

/// How every SDK client of every function retries: the SDK's standard mode (throttling, 5xx,
/// timeouts and connection errors), three attempts in all, backing off from 50 ms (with full
/// jitter) and at most 1 s. The SDK's own backoff starts at 1 s: its two retries could sleep up
/// to 3 s, the whole timeout of most functions, and Lambda then kills the function mid-request.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(50))
        .with_max_backoff(std::time::Duration::from_secs(1))
}

/// The HTTPS client of every SDK client of the process. Left to themselves, each service client
/// (DynamoDB, KMS, Secrets Manager, …) builds its own: its own rustls configuration with the
/// trust store parsed again, and its own connection pool. This is the SDK's default client (rustls
/// on aws-lc, proxies from the environment) built once, so a function that reads its origin
/// secret at init and then calls DynamoDB parses the roots once and keeps one pool.
fn shared_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The client of every service the adapters call, each built on the first adapter that needs
/// it and shared by every adapter of the process.
pub struct Clients {
    sdk: SdkConfig,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
    secretsmanager: OnceLock<aws_sdk_secretsmanager::Client>,
}

impl Clients {
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            kms: OnceLock::new(),
            secretsmanager: OnceLock::new(),
        }
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb.get_or_init(|| aws_sdk_dynamodb::Client::new(&self.sdk))
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk))
    }

    pub fn kms(&self) -> &aws_sdk_kms::Client {
        self.kms.get_or_init(|| aws_sdk_kms::Client::new(&self.sdk))
    }

    pub fn secretsmanager(&self) -> &aws_sdk_secretsmanager::Client {
        self.secretsmanager.get_or_init(|| aws_sdk_secretsmanager::Client::new(&self.sdk))
    }

    /// Opens a connection to the endpoint of every service whose client was built (the ones the
    /// function's adapters will call), all at once, so that the TCP and TLS handshakes happen
    /// during init instead of in the first invocation's calls. Each pool then holds a
    /// connection the first real call takes. Secrets Manager is left out: its one call, the
    /// origin secret's read, runs during init anyway and opens its own (health, over TLS, spent
    /// 6.7 ms beside the read opening a second one nothing used). Waits at most `patience`; a
    /// connection that could not be opened costs nothing more than the first call opening it,
    /// as without this.
    pub async fn open_connections(&self, patience: std::time::Duration) -> Vec<&'static str> {
        use aws_smithy_types::retry::RetryConfig;
        use futures::future::{BoxFuture, FutureExt};
        let once = RetryConfig::disabled();
        let mut opening: Vec<BoxFuture<'_, &'static str>> = Vec::new();
        if let Some(client) = self.dynamodb.get() {
            let config = aws_sdk_dynamodb::config::Builder::default().retry_config(once.clone());
            let call =
                client.list_tables().limit(1).customize().interceptor(OpenOnly).config_override(config);
            opening.push(call.send().map(|_| "dynamodb").boxed());
        }
        if let Some(client) = self.sqs.get() {
            let config = aws_sdk_sqs::config::Builder::default().retry_config(once.clone());
            let call = client.list_queues().customize().interceptor(OpenOnly).config_override(config);
            opening.push(call.send().map(|_| "sqs").boxed());
        }
        if let Some(client) = self.kms.get() {
            let config = aws_sdk_kms::config::Builder::default().retry_config(once);
            let call = client.list_keys().customize().interceptor(OpenOnly).config_override(config);
            opening.push(call.send().map(|_| "kms").boxed());
        }
        tokio::time::timeout(patience, futures::future::join_all(opening)).await.unwrap_or_default()
    }
}

/// Turns an SDK call into a bare `GET /` on its endpoint, after the client resolved the endpoint
/// and before the request leaves: the request opens (and leaves in the pool) the connection a
/// real call would use, and is no API call, so it needs no permission, changes nothing and is
/// not recorded as one. (The SDK has no way to open a connection without a request, and the
/// pool it keeps is private to its connector, which only its own requests reach.) Its answer,
/// whatever it is, fails to parse as the call's output and is dropped.
#[derive(Debug)]
struct OpenOnly;

impl aws_smithy_runtime_api::client::interceptors::Intercept for OpenOnly {
    fn name(&self) -> &'static str {
        "OpenOnly"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _config: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request_mut();
        let endpoint: http::Uri = request.uri().parse()?;
        let root = format!(
            "{}://{}/",
            endpoint.scheme_str().unwrap_or("https"),
            endpoint.authority().ok_or("the endpoint has no host")?
        );
        request.set_uri(root)?;
        request.set_method("GET")?;
        // No signature, no target, no body: nothing a service could take for a call.
        *request.headers_mut() = aws_smithy_runtime_api::http::Headers::new();
        *request.body_mut() = aws_smithy_types::body::SdkBody::empty();
        Ok(())
    }
}
