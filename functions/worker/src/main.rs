#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    stratus_wiring::lambda_init::serve_events(worker::build).await
}
