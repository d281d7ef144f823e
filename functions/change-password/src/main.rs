#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stratus_wiring::lambda_init::serve_http(change_password::build).await
}
