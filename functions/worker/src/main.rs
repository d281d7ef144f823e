use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use worker::aws_lambda_events::event::sqs::SqsEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let sdk = shared::aws::sdk_config().await;
    let deps = Arc::new(worker::Deps {
        tasks: shared::aws::task_store(&sdk)?,
        clock: Arc::new(shared::clock::SystemClock),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(worker::handle(&deps, event.payload).await) }
    }))
    .await
}
