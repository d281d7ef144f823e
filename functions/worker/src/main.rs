use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use worker::aws_lambda_events::event::sqs::SqsEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = Arc::new(
        shared::lambda_init::init(async {
            let sdk = shared::aws::sdk_config().await;
            Ok(worker::Deps {
                tasks: shared::aws::task_store(&sdk)?,
                clock: Arc::new(shared::clock::SystemClock),
            })
        })
        .await,
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(worker::handle(&deps, event.payload).await) }
    }))
    .await
}
