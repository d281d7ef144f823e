#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda_init::serve_events(signing_keys::build).await
}
