use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(add::endpoint(add::Deps {
            tasks: shared::aws::task_store(&sdk)?,
            queue: shared::aws::task_queue(&sdk)?,
            rate_limiter: shared::aws::rate_limiter(&sdk)?,
            verifier: shared::aws::token_verifier(&sdk, &config).await?,
            clock: Arc::new(shared::clock::SystemClock),
            limit: add::rate_limit_from_env()?,
        }))
    })
    .await
}
