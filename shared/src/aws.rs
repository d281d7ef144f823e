//! AWS SDK set-up, done once per cold start. The SDK reads region, credentials and
//! per-service endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, …) from the environment, which is how
//! the same binaries talk to DynamoDB Local and the SQS emulator without a code change.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamodb::tables::{self, TableSpec};
use crate::adapters::dynamodb::{
    DynamoMessageStore, DynamoRateLimiter, DynamoRefreshTokenStore, DynamoTaskStore, DynamoUserStore,
};
use crate::adapters::sqs::SqsTaskQueue;
use crate::auth::keys::{KmsSigner, PublicKey, kms_public_key};
use crate::auth::{AuthConfig, TokenIssuer, TokenVerifier};
use crate::config::{ConfigError, required};
use crate::ports::{MessageStore, RateLimiter, RefreshTokenStore, TaskQueue, TaskStore, UserStore};

/// The URL of the queue tasks travel on.
pub const TASKS_QUEUE_URL: &str = "TASKS_QUEUE_URL";

/// The ARN of the KMS key that signs access tokens.
pub const SIGNING_KEY_ARN: &str = "SIGNING_KEY_ARN";

pub type InitError = Box<dyn std::error::Error + Send + Sync>;

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

fn table(spec: &TableSpec) -> Result<String, ConfigError> {
    required(spec.env_var)
}

pub fn message_store(sdk: &SdkConfig) -> Result<Arc<dyn MessageStore>, ConfigError> {
    Ok(Arc::new(DynamoMessageStore::new(dynamodb(sdk), table(&tables::MESSAGES)?)))
}

pub fn user_store(sdk: &SdkConfig) -> Result<Arc<dyn UserStore>, ConfigError> {
    Ok(Arc::new(DynamoUserStore::new(dynamodb(sdk), table(&tables::USERS)?)))
}

pub fn refresh_token_store(sdk: &SdkConfig) -> Result<Arc<dyn RefreshTokenStore>, ConfigError> {
    Ok(Arc::new(DynamoRefreshTokenStore::new(dynamodb(sdk), table(&tables::REFRESH_TOKENS)?)))
}

pub fn rate_limiter(sdk: &SdkConfig) -> Result<Arc<dyn RateLimiter>, ConfigError> {
    Ok(Arc::new(DynamoRateLimiter::new(dynamodb(sdk), table(&tables::RATE_LIMITS)?)))
}

pub fn task_store(sdk: &SdkConfig) -> Result<Arc<dyn TaskStore>, ConfigError> {
    Ok(Arc::new(DynamoTaskStore::new(dynamodb(sdk), table(&tables::TASKS)?)))
}

pub fn task_queue(sdk: &SdkConfig) -> Result<Arc<dyn TaskQueue>, ConfigError> {
    Ok(Arc::new(SqsTaskQueue::new(aws_sdk_sqs::Client::new(sdk), required(TASKS_QUEUE_URL)?)))
}

/// Signs through KMS: only the login and refresh functions' roles may call `kms:Sign`.
pub fn token_issuer(sdk: &SdkConfig, config: AuthConfig) -> Result<TokenIssuer, ConfigError> {
    let signer = KmsSigner::new(aws_sdk_kms::Client::new(sdk), required(SIGNING_KEY_ARN)?);
    Ok(TokenIssuer::new(Arc::new(signer), config))
}

/// Fetches the signing key's public half once, at cold start.
pub async fn token_verifier(sdk: &SdkConfig, config: &AuthConfig) -> Result<TokenVerifier, InitError> {
    let key: PublicKey = kms_public_key(&aws_sdk_kms::Client::new(sdk), &required(SIGNING_KEY_ARN)?).await?;
    Ok(TokenVerifier::new(&key, config))
}
