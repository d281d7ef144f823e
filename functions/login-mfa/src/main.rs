#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(login_mfa::build).await
}
