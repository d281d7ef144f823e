#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let sdk = shared::aws::sdk_config().await;
    let store = shared::aws::message_store(&sdk)?;
    shared::http::run(get_message::endpoint(store)).await
}
