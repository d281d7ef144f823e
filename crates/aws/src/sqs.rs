//! The task queue on SQS.

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;

use stratus_core::domain::TaskId;
use stratus_core::ports::{MAX_RECEIVES, QueueError, TaskMessage, TaskQueue};

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
        let body = serde_json::to_string(&TaskMessage { task_id: *id })
            .map_err(|e| QueueError::Refused(e.to_string()))?;
        self.client.send_message().queue_url(&self.queue_url).message_body(body).send().await.map_err(
            |error| {
                // Throttling is a 4xx whose code names it (`RequestThrottled` in SQS's query
                // protocol, `ThrottlingException` in its JSON one); any 5xx is SQS's side.
                let later = crate::is_transient(&error)
                    || matches!(error.code(), Some("RequestThrottled" | "ThrottlingException"));
                let text = crate::error_text(&error);
                if later { QueueError::Unavailable(text) } else { QueueError::Refused(text) }
            },
        )?;
        Ok(())
    }
}

/// The task queue `name` and its dead-letter queue `name-dlq`, as the template declares them:
/// dead-lettered after [`MAX_RECEIVES`] receives. Returns the task queue's URL. For local engines only:
/// on AWS the template owns the queues.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility: std::time::Duration,
) -> Result<String, QueueError> {
    use aws_sdk_sqs::error::DisplayErrorContext;
    use aws_sdk_sqs::types::QueueAttributeName;
    let failed = |what: &str, e: &dyn std::fmt::Display| QueueError::Refused(format!("{what}: {e}"));
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(|e| failed("create the dead-letter queue", &DisplayErrorContext(e)))?
        .queue_url
        .ok_or_else(|| QueueError::Refused("the dead-letter queue has no URL".into()))?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("read the dead-letter queue's ARN", &DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| QueueError::Refused("the dead-letter queue has no ARN".into()))?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string() });
    sqs.create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.as_secs().to_string())
        .send()
        .await
        .map_err(|e| failed("create the task queue", &DisplayErrorContext(e)))?
        .queue_url
        .ok_or_else(|| QueueError::Refused("the task queue has no URL".into()))
}
