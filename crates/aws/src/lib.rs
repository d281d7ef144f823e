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

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client())
        .retry_config(retry_config())
        .load()
        .await
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
}
