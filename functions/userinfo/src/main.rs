#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stratus_wiring::lambda_init::serve_http(userinfo::build).await
}
