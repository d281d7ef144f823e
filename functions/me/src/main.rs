#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let sdk = shared::aws::sdk_config().await;
    let config = shared::auth::AuthConfig::from_env()?;
    let deps = me::Deps {
        users: shared::aws::user_store(&sdk)?,
        verifier: shared::aws::token_verifier(&sdk, &config).await?,
    };
    shared::http::run(me::endpoint(deps)).await
}
