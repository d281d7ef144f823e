use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(logout::endpoint(logout::Deps {
            refresh_tokens: shared::aws::refresh_token_store(&sdk)?,
            verifier: shared::aws::token_verifier(&sdk, &config).await?,
            clock: Arc::new(shared::clock::SystemClock),
            config,
        }))
    })
    .await
}
