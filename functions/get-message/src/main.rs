#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(async {
        let sdk = shared::aws::sdk_config().await;
        Ok(get_message::endpoint(shared::aws::message_store(&sdk)?))
    })
    .await
}
