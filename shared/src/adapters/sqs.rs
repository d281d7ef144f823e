//! The task queue on SQS.

use async_trait::async_trait;

use crate::domain::TaskId;
use crate::ports::{QueueError, TaskMessage, TaskQueue};

pub struct SqsTaskQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsTaskQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl TaskQueue for SqsTaskQueue {
    async fn enqueue(&self, id: &TaskId) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(&TaskMessage { task_id: *id }).map_err(|e| QueueError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
