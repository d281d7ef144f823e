#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(totp_mfa::build).await
}
