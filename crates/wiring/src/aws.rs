//! The wiring on AWS: every port of a function on its SDK adapter (`stratus_aws`). Clients are
//! built on the first port that needs them and shared by every port of the process; every name
//! comes from the environment the template sets.

use std::sync::{Arc, OnceLock};

use stratus_auth::TokenIssuer;
use stratus_auth::keys::{
    JwkSet, KeySealer, PublicKey, PublicKeySource, RsaPublicKey, SIGNING_JWKS, SealedKey,
};
use stratus_auth::sealing::SecretBox;
use stratus_aws::dynamodb::tables::{self, TableSpec};
use stratus_aws::dynamodb::{
    DynamoAuthorizationStore, DynamoClientStore, DynamoCodeStore, DynamoMessageStore, DynamoRateLimiter,
    DynamoRefreshTokenStore, DynamoTaskStore, DynamoUserStore,
};
use stratus_aws::kms::{
    KmsDataKey, KmsPublicKeys, KmsSealer, KmsSigner, SealedSigner, kms_public_key, kms_rsa_public_key,
};
use stratus_aws::secrets::SecretsManagerSource;
use stratus_aws::ses::SesMailer;
use stratus_aws::sqs::SqsTaskQueue;
use stratus_core::clock::{Clock, SystemClock};
use stratus_core::config::{ConfigError, Settings, optional, required};
use stratus_core::ports::{
    AuthorizationStore, ClientStore, CodeStore, Mail, MailError, Mailer, MessageStore, RateLimiter,
    RefreshTokenStore, TaskQueue, TaskStore, TokenSigner, UserStore,
};
use stratus_http::origin::{ORIGIN_VERIFY_REFRESH_SECONDS, ORIGIN_VERIFY_SECRET_ARN, OriginGuard};

use crate::{InitError, Wiring};

use stratus_aws::Clients;
pub use stratus_aws::{SdkConfig, function_sdk_config, sdk_config};

/// The URL of the queue tasks travel on.
pub const TASKS_QUEUE_URL: &str = "TASKS_QUEUE_URL";

/// The SES identity mail is sent from: a verified domain or address. The role may send from it
/// and from nothing else.
pub const MAIL_SENDER_IDENTITY: &str = "MAIL_SENDER_IDENTITY";

/// The From address; by default the identity when it is an address, else `no-reply@` it.
pub const MAIL_FROM: &str = "MAIL_FROM";
/// The SES configuration set every mail is sent with (suppression, bounce and complaint counts).
pub const MAIL_CONFIGURATION_SET: &str = "MAIL_CONFIGURATION_SET";

/// The ARN of the KMS key that wraps the data key TOTP secrets are sealed with.
pub const TOTP_KEY_ARN: &str = "TOTP_KEY_ARN";

/// The ARN of the KMS key that signs access tokens.
pub const SIGNING_KEY_ARN: &str = "SIGNING_KEY_ARN";

/// The signing key of a `sealed` slot (`sealed1.<kid>.<ciphertext>`, docs/signing.md): set in
/// place of `SIGNING_KEY_ARN` when the slot that signs holds a sealed key.
pub const SIGNING_KEY_SEALED: &str = "SIGNING_KEY_SEALED";

/// The ARN of the KMS key sealed signing keys are sealed under (`TokenSealingKey`).
pub const TOKEN_SEALING_KEY_ARN: &str = "TOKEN_SEALING_KEY_ARN";

/// The ARN of the KMS RSA key that signs RS256 ID tokens.
pub const ID_TOKEN_KEY_ARN: &str = "ID_TOKEN_KEY_ARN";

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
    clients: Clients,
    tables: TableNames,
    queue_url: Option<String>,
    /// The settings tree, read from the environment on first use and never again: a build
    /// asks for it more than once (its own settings, the issuer's, the verifier's).
    settings: OnceLock<Settings>,
}

impl AwsWiring {
    /// What a Lambda function runs on: every name from the environment the template sets.
    pub fn from_env() -> Self {
        Self::new(function_sdk_config(), TableNames::Environment)
    }

    pub fn new(sdk: SdkConfig, tables: TableNames) -> Self {
        Self { clients: Clients::new(sdk), tables, queue_url: None, settings: OnceLock::new() }
    }

    /// The task queue at `url` instead of `TASKS_QUEUE_URL`'s.
    pub fn with_queue_url(mut self, url: impl Into<String>) -> Self {
        self.queue_url = Some(url.into());
        self
    }

    /// The SDK clients the adapters share.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Reads the public half of signing keys from KMS: the deploy-time custom resource.
    pub fn public_key_source(&self) -> Arc<dyn PublicKeySource> {
        Arc::new(KmsPublicKeys(self.clients.kms().clone()))
    }

    /// Seals keys under a KMS key: the deploy-time custom resource that makes sealed signing keys.
    pub fn key_sealer(&self) -> Arc<dyn KeySealer> {
        Arc::new(KmsSealer(self.clients.kms().clone()))
    }

    /// The ES256 signer of the slot that signs: its sealed key, unsealed once per sandbox
    /// (`SIGNING_KEY_SEALED`, starting now in the background), or its KMS key
    /// (`SIGNING_KEY_ARN`), one `kms:Sign` a token.
    fn signer(&self) -> Result<Arc<dyn TokenSigner>, InitError> {
        if let Some(text) = optional(SIGNING_KEY_SEALED) {
            let sealed = SealedKey::parse(&text).map_err(|reason| ConfigError::Invalid {
                name: SIGNING_KEY_SEALED,
                value: text.chars().take(60).collect(),
                reason,
            })?;
            let signer = Arc::new(SealedSigner::new(
                self.clients.kms().clone(),
                required(TOKEN_SEALING_KEY_ARN)?,
                sealed,
            ));
            signer.prefetch();
            return Ok(signer);
        }
        Ok(Arc::new(KmsSigner::new(self.clients.kms().clone(), required(SIGNING_KEY_ARN)?)))
    }

    /// The origin guard of an HTTP function: the secret CloudFront sends, its current value read
    /// from Secrets Manager now (the previous one when a request presents another). If Secrets Manager is only unavailable, the guard answers 503 until a later
    /// read succeeds (`OriginGuard::load`); if the secret cannot be read for any other reason
    /// (no such secret, no grant), init fails: a function that could not tell CloudFront's
    /// requests from anyone's must answer none.
    pub async fn origin_guard(&self) -> Result<OriginGuard, InitError> {
        let Some(secret) = optional(ORIGIN_VERIFY_SECRET_ARN) else { return Ok(OriginGuard::disabled()) };
        let refresh =
            stratus_core::config::seconds(ORIGIN_VERIFY_REFRESH_SECONDS, time::Duration::minutes(5))?;
        let source = Arc::new(SecretsManagerSource::new(self.clients.secretsmanager().clone(), secret));
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
        if let Some(settings) = self.settings.get() {
            return Ok(settings.clone());
        }
        let read = Settings::from_env()?;
        Ok(self.settings.get_or_init(|| read).clone())
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    fn messages(&self) -> Result<Arc<dyn MessageStore>, InitError> {
        Ok(Arc::new(DynamoMessageStore::new(self.clients.dynamodb().clone(), self.table(&tables::MESSAGES)?)))
    }

    fn users(&self) -> Result<Arc<dyn UserStore>, InitError> {
        Ok(Arc::new(DynamoUserStore::new(self.clients.dynamodb().clone(), self.table(&tables::USERS)?)))
    }

    fn refresh_tokens(&self) -> Result<Arc<dyn RefreshTokenStore>, InitError> {
        Ok(Arc::new(DynamoRefreshTokenStore::new(
            self.clients.dynamodb().clone(),
            self.table(&tables::REFRESH_TOKENS)?,
        )))
    }

    fn rate_limiter(&self) -> Result<Arc<dyn RateLimiter>, InitError> {
        Ok(Arc::new(DynamoRateLimiter::new(
            self.clients.dynamodb().clone(),
            self.table(&tables::RATE_LIMITS)?,
        )))
    }

    fn tasks(&self) -> Result<Arc<dyn TaskStore>, InitError> {
        Ok(Arc::new(DynamoTaskStore::new(self.clients.dynamodb().clone(), self.table(&tables::TASKS)?)))
    }

    fn queue(&self) -> Result<Arc<dyn TaskQueue>, InitError> {
        Ok(Arc::new(SqsTaskQueue::new(self.clients.sqs().clone(), self.queue_url()?)))
    }

    fn codes(&self) -> Result<Arc<dyn CodeStore>, InitError> {
        Ok(Arc::new(DynamoCodeStore::new(
            self.clients.dynamodb().clone(),
            self.table(&tables::ONE_TIME_CODES)?,
        )))
    }

    /// SES from `MAIL_SENDER_IDENTITY`. A stack deployed without one still registers users and
    /// answers every request; its mails are refused (and logged as errors) until it has one.
    /// Without an identity, a binary run on a laptop (never by the template) may write its mails
    /// to the local outbox file instead.
    fn mailer(&self) -> Result<Arc<dyn Mailer>, InitError> {
        let Some(identity) = optional(MAIL_SENDER_IDENTITY) else {
            return Ok(match optional(stratus_memory::mail::MAIL_OUTBOX) {
                Some(path) => Arc::new(stratus_memory::mail::OutboxMailer::new(path)),
                None => Arc::new(NoSenderMailer),
            });
        };
        let from = optional(MAIL_FROM).unwrap_or_else(|| {
            if identity.contains('@') { identity.clone() } else { format!("no-reply@{identity}") }
        });
        let mailer = SesMailer::new(self.clients.sdk().clone(), from);
        Ok(Arc::new(match optional(MAIL_CONFIGURATION_SET) {
            Some(set) => mailer.with_configuration_set(set),
            None => mailer,
        }))
    }

    /// The stack's data key, wrapped by the KMS key `TOTP_KEY_ARN` and kept in the users table.
    fn totp_secrets(&self) -> Result<Arc<SecretBox>, InitError> {
        let source = KmsDataKey::new(
            self.clients.kms().clone(),
            self.clients.dynamodb().clone(),
            self.table(&tables::USERS)?,
            required(TOTP_KEY_ARN)?,
        );
        Ok(Arc::new(SecretBox::new(Arc::new(source))))
    }

    /// Signs with the live slot's key: only the roles of the functions that sign may call
    /// `kms:Sign` on a KMS key, or `kms:Decrypt` on the key a sealed one is sealed under.
    fn issuer(&self) -> Result<TokenIssuer, InitError> {
        Ok(TokenIssuer::new(self.signer()?, self.settings()?.auth))
    }

    fn oidc_issuer(&self) -> Result<TokenIssuer, InitError> {
        let rsa = KmsSigner::rsa(self.clients.kms().clone(), required(ID_TOKEN_KEY_ARN)?);
        Ok(self.issuer()?.with_rsa(Arc::new(rsa)))
    }

    fn oauth_clients(&self) -> Result<Arc<dyn ClientStore>, InitError> {
        Ok(Arc::new(DynamoClientStore::new(
            self.clients.dynamodb().clone(),
            self.table(&tables::OAUTH_CLIENTS)?,
        )))
    }

    fn authorizations(&self) -> Result<Arc<dyn AuthorizationStore>, InitError> {
        Ok(Arc::new(DynamoAuthorizationStore::new(
            self.clients.dynamodb().clone(),
            self.table(&tables::AUTHORIZATIONS)?,
        )))
    }

    /// The RS256 keys of the JWK Set in `SIGNING_JWKS`; without it (`sam local`), the ID-token
    /// key's public half from KMS.
    async fn rsa_public_keys(&self) -> Result<Vec<RsaPublicKey>, InitError> {
        if let Some(jwks) = optional(SIGNING_JWKS) {
            let (_, rsa) = JwkSet::parse_all(&jwks).map_err(|reason| ConfigError::Invalid {
                name: SIGNING_JWKS,
                value: jwks.chars().take(60).collect(),
                reason,
            })?;
            return Ok(rsa);
        }
        match optional(ID_TOKEN_KEY_ARN) {
            Some(arn) => Ok(vec![kms_rsa_public_key(self.clients.kms(), &arn).await?]),
            None => Ok(Vec::new()),
        }
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
        Ok(vec![kms_public_key(self.clients.kms(), &required(SIGNING_KEY_ARN)?).await?])
    }
}

/// The mailer of a stack with no sender identity.
struct NoSenderMailer;

#[async_trait::async_trait]
impl Mailer for NoSenderMailer {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        // Undeliverable, not refused: every function still answers (docs/api.md), logging the mail.
        Err(MailError::Undeliverable(format!("no mail is sent: the stack has no {MAIL_SENDER_IDENTITY}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_read_from_the_environment_once() {
        let wiring = AwsWiring::new(SdkConfig::builder().build(), TableNames::Environment);
        // SAFETY: no other test of this crate reads or writes this variable, and none runs
        // code that reads the environment concurrently with these writes.
        unsafe { std::env::set_var("STALE_TASK_SECONDS", "42") };
        assert_eq!(wiring.settings().unwrap().stale_task_after, time::Duration::seconds(42));
        unsafe { std::env::set_var("STALE_TASK_SECONDS", "43") };
        assert_eq!(wiring.settings().unwrap().stale_task_after, time::Duration::seconds(42));
        unsafe { std::env::remove_var("STALE_TASK_SECONDS") };
    }
}
