use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(result::endpoint(result::Deps {
            tasks: shared::aws::task_store(&sdk)?,
            verifier: shared::aws::token_verifier(&sdk, &config).await?,
            clock: Arc::new(shared::clock::SystemClock),
        }))
    })
    .await
}
