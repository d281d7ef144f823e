use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(login::endpoint(login::Deps {
            users: shared::aws::user_store(&sdk)?,
            refresh_tokens: shared::aws::refresh_token_store(&sdk)?,
            rate_limiter: shared::aws::rate_limiter(&sdk)?,
            issuer: shared::aws::token_issuer(&sdk, config)?,
            clock: Arc::new(shared::clock::SystemClock),
        }))
    })
    .await
}
