//! AWS SDK set-up, done once per cold start. The SDK reads region, credentials and
//! per-service endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, …) from the environment, which is how
//! the same binaries talk to DynamoDB Local and the SQS emulator without a code change.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The DynamoDB message store named by `MESSAGES_TABLE`.
pub async fn message_store_from_env()
-> Result<std::sync::Arc<dyn crate::ports::MessageStore>, crate::config::ConfigError> {
    use crate::adapters::dynamodb::{DynamoMessageStore, tables};
    let table = crate::config::required(tables::MESSAGES.env_var)?;
    let client = dynamodb(&sdk_config().await);
    Ok(std::sync::Arc::new(DynamoMessageStore::new(client, table)))
}
