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

/// What a Lambda function's clients run on: [`ATTEMPT_TIMEOUT`], and region, credentials and
/// endpoints from the environment alone, which is where Lambda (and `sam local`, and the
/// emulators of `tests/`) put them. Not [`sdk_config`]'s default chains: their profile files,
/// SSO, web-identity (an STS client), container and instance-metadata providers can never
/// answer in a Lambda sandbox, and linked in they made every function's binary larger, so
/// slower to load and larger in memory. Not for `stratus-admin`, which runs where people keep
/// profiles and whose control-plane calls (CloudFront, CloudFormation) take seconds.
pub fn function_sdk_config() -> SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let timeouts =
        aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT_TIMEOUT).build();
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(aws_config::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .service_config(EnvironmentEndpoints)
        .http_client(shared_https_client())
        .sleep_impl(
            aws_smithy_async::rt::sleep::default_async_sleep().expect("the tokio runtime is linked in"),
        )
        .time_source(aws_smithy_async::time::SharedTimeSource::default())
        .retry_config(retry_config())
        .timeout_config(timeouts)
        .build()
}

/// The endpoint of each service from `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, …), else `AWS_ENDPOINT_URL`, as the SDK's own loader reads
/// them, and none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`. A deployed stack sets
/// none of them: they are how the same binaries reach DynamoDB Local and moto.
#[derive(Debug)]
struct EnvironmentEndpoints;

impl aws_types::service_config::LoadServiceConfig for EnvironmentEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        configured_value(key.env(), key.service_id(), |name| std::env::var(name).ok())
    }
}

/// The value `variable` has for the service `service_id` ("DynamoDB", "Secrets Manager"), with the
/// environment read through `var`: the service's own variable (`AWS_ENDPOINT_URL_SECRETS_MANAGER`)
/// first, then the one for every service. Empty means unset, as in the SDK.
fn configured_value(
    variable: &str,
    service_id: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let is_true = |name: &str| var(name).is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if variable == "AWS_ENDPOINT_URL" && is_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        return None;
    }
    let service: String =
        service_id.chars().map(|c| if c == ' ' { '_' } else { c.to_ascii_uppercase() }).collect();
    [format!("{variable}_{service}"), variable.to_owned()]
        .into_iter()
        .find_map(|name| var(&name).filter(|value| !value.is_empty()))
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

#[cfg(test)]
mod tests {
    use super::configured_value;

    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }

    #[test]
    fn a_service_endpoint_is_read_from_its_own_variable_before_the_global_one() {
        let env = environment(&[
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL", "https://127.0.0.1:2"),
        ]);
        let endpoint = |service| configured_value("AWS_ENDPOINT_URL", service, &env);
        assert_eq!(endpoint("Secrets Manager").as_deref(), Some("https://127.0.0.1:1"));
        assert_eq!(endpoint("DynamoDB").as_deref(), Some("https://127.0.0.1:2"));
    }

    #[test]
    fn empty_variables_and_no_variables_leave_the_service_on_its_aws_endpoint() {
        let env =
            environment(&[("AWS_ENDPOINT_URL_DYNAMODB", ""), ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:3")]);
        assert_eq!(configured_value("AWS_ENDPOINT_URL", "DynamoDB", &env), None);
        assert_eq!(configured_value("AWS_ENDPOINT_URL", "SESv2", &env), None);
        assert_eq!(configured_value("AWS_ENDPOINT_URL", "KMS", &env).as_deref(), Some("http://127.0.0.1:3"));
    }

    #[test]
    fn configured_endpoints_can_be_ignored_as_the_sdk_allows() {
        let env = environment(&[
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ]);
        assert_eq!(configured_value("AWS_ENDPOINT_URL", "SQS", &env), None);
    }
}
