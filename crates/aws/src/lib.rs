//! The wiring on AWS. The SDK reads region, credentials and per-service endpoints
//! (`AWS_ENDPOINT_URL_DYNAMODB`, …) from the environment, which is how the same binaries talk to
//! DynamoDB Local and the SQS emulator without a code change. Clients are built on the first
//! port that needs them and shared by every port of the process.

use std::sync::{Arc, OnceLock};

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb::tables::{self, TableSpec};
use crate::adapters::dynamodb::{
    DynamoCodeStore, DynamoMessageStore, DynamoRateLimiter, DynamoRefreshTokenStore, DynamoTaskStore,
    DynamoUserStore, KmsDataKey,
};
use crate::adapters::mail::SesMailer;
use crate::adapters::sqs::SqsTaskQueue;
use crate::auth::TokenIssuer;
use crate::auth::keys::{JwkSet, KmsSigner, PublicKey, SIGNING_JWKS, kms_public_key};
use crate::auth::sealing::SecretBox;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Settings, optional, required};
use crate::origin::{
    ORIGIN_VERIFY_REFRESH_SECONDS, ORIGIN_VERIFY_SECRET_ARN, OriginGuard, SecretsManagerSource,
};
use crate::ports::{
    CodeStore, Mail, MailError, Mailer, MessageStore, RateLimiter, RefreshTokenStore, TaskQueue, TaskStore,
    UserStore,
};
use crate::wiring::{InitError, Wiring};

/// The URL of the queue tasks travel on.
pub const TASKS_QUEUE_URL: &str = "TASKS_QUEUE_URL";

/// The SES identity mail is sent from: a verified domain or address. The role may send from it
/// and from nothing else.
pub const MAIL_SENDER_IDENTITY: &str = "MAIL_SENDER_IDENTITY";

/// The From address; by default the identity when it is an address, else `no-reply@` it.
pub const MAIL_FROM: &str = "MAIL_FROM";

/// The ARN of the KMS key that wraps the data key TOTP secrets are sealed with.
pub const TOTP_KEY_ARN: &str = "TOTP_KEY_ARN";

/// The ARN of the KMS key that signs access tokens.
pub const SIGNING_KEY_ARN: &str = "SIGNING_KEY_ARN";

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
    aws_config::defaults(BehaviorVersion::latest()).http_client(shared_https_client()).load().await
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

/// Where the wiring finds each table's name.
#[derive(Debug, Clone)]
pub enum TableNames {
    /// The table's variable (`USERS_TABLE`, …), set by the template: a missing one fails init.
    Environment,
    /// The table's variable when set, else the prefix and the table's local name: local engines.
    Prefixed(String),
}

impl TableNames {
    fn name(&self, spec: &TableSpec) -> Result<String, ConfigError> {
        match self {
            Self::Environment => required(spec.env_var),
            Self::Prefixed(prefix) => {
                Ok(optional(spec.env_var).unwrap_or_else(|| format!("{prefix}{}", spec.local_name)))
            }
        }
    }
}

pub struct AwsWiring {
    sdk: SdkConfig,
    tables: TableNames,
    queue_url: Option<String>,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
    secretsmanager: OnceLock<aws_sdk_secretsmanager::Client>,
}

impl AwsWiring {
    /// What a Lambda function runs on: every name from the environment the template sets.
    pub async fn from_env() -> Self {
        Self::new(sdk_config().await, TableNames::Environment)
    }

    pub fn new(sdk: SdkConfig, tables: TableNames) -> Self {
        Self {
            sdk,
            tables,
            queue_url: None,
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            kms: OnceLock::new(),
            secretsmanager: OnceLock::new(),
        }
    }

    /// The task queue at `url` instead of `TASKS_QUEUE_URL`'s.
    pub fn with_queue_url(mut self, url: impl Into<String>) -> Self {
        self.queue_url = Some(url.into());
        self
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

    /// The origin guard of an HTTP function: the secret CloudFront sends, read from Secrets
    /// Manager now. If the template names a secret and it cannot be read, init fails: a function
    /// that could not tell CloudFront's requests from anyone's must answer none.
    pub async fn origin_guard(&self) -> Result<OriginGuard, InitError> {
        let Some(secret) = optional(ORIGIN_VERIFY_SECRET_ARN) else { return Ok(OriginGuard::disabled()) };
        let refresh = crate::config::seconds(ORIGIN_VERIFY_REFRESH_SECONDS, time::Duration::minutes(5))?;
        let source = Arc::new(SecretsManagerSource::new(self.secretsmanager().clone(), secret));
        let refresh = std::time::Duration::from_secs(refresh.whole_seconds().unsigned_abs());
        OriginGuard::load(source, refresh).await.map_err(|error| {
            format!("cannot read the origin secret, so no request could be admitted: {error}").into()
        })
    }

    pub fn table(&self, spec: &TableSpec) -> Result<String, ConfigError> {
        self.tables.name(spec)
    }

    fn queue_url(&self) -> Result<String, ConfigError> {
        match &self.queue_url {
            Some(url) => Ok(url.clone()),
            None => required(TASKS_QUEUE_URL),
        }
    }
}

impl Wiring for AwsWiring {
    fn settings(&self) -> Result<Settings, InitError> {
        Ok(Settings::from_env()?)
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    fn messages(&self) -> Result<Arc<dyn MessageStore>, InitError> {
        Ok(Arc::new(DynamoMessageStore::new(self.dynamodb().clone(), self.table(&tables::MESSAGES)?)))
    }

    fn users(&self) -> Result<Arc<dyn UserStore>, InitError> {
        Ok(Arc::new(DynamoUserStore::new(self.dynamodb().clone(), self.table(&tables::USERS)?)))
    }

    fn refresh_tokens(&self) -> Result<Arc<dyn RefreshTokenStore>, InitError> {
        Ok(Arc::new(DynamoRefreshTokenStore::new(
            self.dynamodb().clone(),
            self.table(&tables::REFRESH_TOKENS)?,
        )))
    }

    fn rate_limiter(&self) -> Result<Arc<dyn RateLimiter>, InitError> {
        Ok(Arc::new(DynamoRateLimiter::new(self.dynamodb().clone(), self.table(&tables::RATE_LIMITS)?)))
    }

    fn tasks(&self) -> Result<Arc<dyn TaskStore>, InitError> {
        Ok(Arc::new(DynamoTaskStore::new(self.dynamodb().clone(), self.table(&tables::TASKS)?)))
    }

    fn queue(&self) -> Result<Arc<dyn TaskQueue>, InitError> {
        Ok(Arc::new(SqsTaskQueue::new(self.sqs().clone(), self.queue_url()?)))
    }

    fn codes(&self) -> Result<Arc<dyn CodeStore>, InitError> {
        Ok(Arc::new(DynamoCodeStore::new(self.dynamodb().clone(), self.table(&tables::ONE_TIME_CODES)?)))
    }

    /// SES from `MAIL_SENDER_IDENTITY`. A stack deployed without one still registers users and
    /// answers every request; its mails are refused (and logged as errors) until it has one.
    /// Without an identity, a binary run on a laptop (never by the template) may write its mails
    /// to the local outbox file instead.
    fn mailer(&self) -> Result<Arc<dyn Mailer>, InitError> {
        let Some(identity) = optional(MAIL_SENDER_IDENTITY) else {
            return Ok(match optional(crate::adapters::mail::MAIL_OUTBOX) {
                Some(path) => Arc::new(crate::adapters::mail::OutboxMailer::new(path)),
                None => Arc::new(NoSenderMailer),
            });
        };
        let from = optional(MAIL_FROM).unwrap_or_else(|| {
            if identity.contains('@') { identity.clone() } else { format!("no-reply@{identity}") }
        });
        Ok(Arc::new(SesMailer::new(self.sdk.clone(), from)))
    }

    /// The stack's data key, wrapped by the KMS key `TOTP_KEY_ARN` and kept in the users table.
    fn totp_secrets(&self) -> Result<Arc<SecretBox>, InitError> {
        let source = KmsDataKey::new(
            self.kms().clone(),
            self.dynamodb().clone(),
            self.table(&tables::USERS)?,
            required(TOTP_KEY_ARN)?,
        );
        Ok(Arc::new(SecretBox::new(Arc::new(source))))
    }

    /// Signs through KMS: only the login and refresh functions' roles may call `kms:Sign`.
    fn issuer(&self) -> Result<TokenIssuer, InitError> {
        let signer = KmsSigner::new(self.kms().clone(), required(SIGNING_KEY_ARN)?);
        Ok(TokenIssuer::new(Arc::new(signer), self.settings()?.auth))
    }

    /// The JWK Set the template puts in `SIGNING_JWKS` (read from KMS once, at deploy time):
    /// no call at cold start. Without it (`sam local`, where custom resources do not run) the
    /// public key is fetched from KMS, which the function's role must then allow.
    async fn public_keys(&self) -> Result<Vec<PublicKey>, InitError> {
        if let Some(jwks) = optional(SIGNING_JWKS) {
            return Ok(JwkSet::parse_keys(&jwks).map_err(|reason| ConfigError::Invalid {
                name: SIGNING_JWKS,
                value: jwks.chars().take(60).collect(),
                reason,
            })?);
        }
        Ok(vec![kms_public_key(self.kms(), &required(SIGNING_KEY_ARN)?).await?])
    }
}

/// The mailer of a stack with no sender identity.
struct NoSenderMailer;

#[async_trait::async_trait]
impl Mailer for NoSenderMailer {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        Err(MailError::Refused(format!("no mail is sent: the stack has no {MAIL_SENDER_IDENTITY}")))
    }
}
