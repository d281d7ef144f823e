#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda_init::serve_sqs(worker::build).await
}
