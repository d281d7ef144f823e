#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda_init::serve_http(update_user::build).await
}
