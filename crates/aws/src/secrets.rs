//! The origin guard's secret source on AWS: the secret CloudFront sends, read from Secrets
//! Manager (`stratus_http::origin` holds the guard itself).

use async_trait::async_trait;
use stratus_core::ports::{SecretError, SecretSource};

/// The secret's `AWSCURRENT` and `AWSPREVIOUS` versions in Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into() }
    }

    async fn version(&self, stage: &str) -> Result<Option<String>, SecretError> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        match self.client.get_secret_value().secret_id(&self.secret_id).version_stage(stage).send().await {
            Ok(output) => Ok(output.secret_string),
            // A secret never rotated has no previous version.
            Err(error) if stage == "AWSPREVIOUS" && error.code() == Some("ResourceNotFoundException") => {
                Ok(None)
            }
            Err(error) => {
                let text = format!("{stage}: {}", crate::error_text(&error));
                // Throttling is a 400; any 5xx or a missing answer is Secrets Manager's side.
                let later = crate::is_transient(&error) || error.code() == Some("ThrottlingException");
                Err(if later { SecretError::Unavailable(text) } else { SecretError::Failed(text) })
            }
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn current(&self) -> Result<String, SecretError> {
        self.version("AWSCURRENT")
            .await?
            .ok_or_else(|| SecretError::Failed("the secret has no current value".into()))
    }

    async fn previous(&self) -> Result<Option<String>, SecretError> {
        self.version("AWSPREVIOUS").await
    }
}
