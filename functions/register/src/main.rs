use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(register::endpoint(register::Deps {
            users: shared::aws::user_store(&sdk)?,
            rate_limiter: shared::aws::rate_limiter(&sdk)?,
            verifier: shared::aws::token_verifier(&sdk, &config).await?,
            clock: Arc::new(shared::clock::SystemClock),
            config,
        }))
    })
    .await
}
