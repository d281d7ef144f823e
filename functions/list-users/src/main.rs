#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        let config = shared::auth::AuthConfig::from_env()?;
        Ok(list_users::endpoint(list_users::Deps {
            users: shared::aws::user_store(&sdk)?,
            verifier: shared::aws::token_verifier(&sdk, &config).await?,
        }))
    })
    .await
}
