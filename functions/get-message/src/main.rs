#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let store = shared::aws::message_store_from_env().await?;
    shared::http::run(get_message::endpoint(store)).await
}
