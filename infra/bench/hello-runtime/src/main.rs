//! What every function pays before doing any work of its own: a tokio runtime and the Lambda
//! Runtime API client. It answers any event with a fixed API Gateway v2 response.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(
            json!({ "statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "hello" }),
        )
    }))
    .await
}
