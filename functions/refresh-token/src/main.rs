use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(refresh_token::endpoint(refresh_token::Deps {
            users: shared::aws::user_store(&sdk)?,
            refresh_tokens: shared::aws::refresh_token_store(&sdk)?,
            issuer: shared::aws::token_issuer(&sdk, config)?,
            clock: Arc::new(shared::clock::SystemClock),
        }))
    })
    .await
}
