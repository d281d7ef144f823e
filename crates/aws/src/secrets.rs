//! The origin guard's secret source on AWS: the secret CloudFront sends, read from Secrets
//! Manager (`stratus_http::origin` holds the guard itself).

use async_trait::async_trait;
use stratus_core::ports::SecretSource;

/// The secret's `AWSCURRENT` and `AWSPREVIOUS` versions in Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into() }
    }

    async fn version(&self, stage: &str) -> Result<Option<String>, String> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        match self.client.get_secret_value().secret_id(&self.secret_id).version_stage(stage).send().await {
            Ok(output) => Ok(output.secret_string),
            // A secret never rotated has no previous version.
            Err(error) if stage == "AWSPREVIOUS" && error.code() == Some("ResourceNotFoundException") => {
                Ok(None)
            }
            Err(error) => Err(format!("{stage}: {}", crate::error_text(&error))),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn values(&self) -> Result<Vec<String>, String> {
        // Both at once: this read is the one network wait in every HTTP function's init.
        let (current, previous) = tokio::join!(self.version("AWSCURRENT"), self.version("AWSPREVIOUS"));
        let current = current?.ok_or("the secret has no current value")?;
        let previous = previous?;
        Ok([Some(current), previous].into_iter().flatten().collect())
    }
}
