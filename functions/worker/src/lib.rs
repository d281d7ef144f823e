//! The SQS consumer: computes pending tasks, a batch at a time, concurrently.
//!
//! Failed messages are reported in `batchItemFailures`, so SQS redelivers only those; after the
//! queue's `maxReceiveCount` (`MAX_RECEIVES`) they go to the dead-letter queue, their task marked
//! failed. Completion is conditional on the task being pending, so a duplicate delivery writes
//! nothing; a message whose task no longer exists is let go at once.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use stratus_core::clock::Clock;
use stratus_core::domain::{TaskOutcome, TaskStatus};
use stratus_core::ports::{TaskMessage, TaskStore};
use stratus_wiring::lambda_init::{EventFailed, EventHandler};
use stratus_wiring::{InitError, Wiring};

pub use aws_lambda_events;

pub use stratus_core::ports::MAX_RECEIVES;

pub struct Worker {
    tasks: Arc<dyn TaskStore>,
    clock: Arc<dyn Clock>,
}

pub async fn build(wiring: &impl Wiring) -> Result<Worker, InitError> {
    Ok(Worker { tasks: wiring.tasks()?, clock: wiring.clock() })
}

impl EventHandler for Worker {
    type Event = SqsEvent;
    type Output = SqsBatchResponse;

    /// Never fails the invocation: a failed task is reported in the batch response, so that
    /// only its message comes back.
    async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, EventFailed> {
        Ok(Worker::handle(self, event).await)
    }
}

impl Worker {
    /// Processes the batch concurrently; the failed messages are the response.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results =
            futures::future::join_all(event.records.iter().map(|record| process(self, record))).await;
        let mut response = SqsBatchResponse::default();
        for (record, result) in event.records.iter().zip(results) {
            if let Err(reason) = result {
                let id = record.message_id.clone().unwrap_or_default();
                tracing::warn!(message_id = %id, %reason, "message failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

async fn process(deps: &Worker, record: &SqsMessage) -> Result<(), String> {
    let body = record.body.as_deref().unwrap_or_default();
    let message: TaskMessage =
        serde_json::from_str(body).map_err(|e| format!("the message is not a task message: {e}"))?;
    let now = deps.clock.now();
    let result = async {
        let task = deps.tasks.get(&message.task_id, now).await.map_err(|e| e.to_string())?;
        let Some(task) = task else {
            // Read consistently, so gone for good: taken back by `add` when its SendMessage's
            // answer was lost, expired, or never written. Nothing is left to apply, and a
            // redelivery would find the same: the message is let go, not sent to the DLQ.
            tracing::info!(task_id = %message.task_id, "no such task: its message is let go");
            return Ok(());
        };
        if task.status != TaskStatus::Pending {
            return Ok(());
        }
        let outcome = task.compute();
        let written = deps.tasks.complete(&task.id, &outcome, now).await.map_err(|e| e.to_string())?;
        tracing::info!(task_id = %task.id, written, succeeded = matches!(outcome, TaskOutcome::Succeeded(_)), "task processed");
        Ok(())
    }
    .await;
    if let Err(reason) = &result
        && receive_count(record) >= MAX_RECEIVES
    {
        let failed = TaskOutcome::Failed(format!("gave up after {MAX_RECEIVES} attempts: {reason}"));
        if let Err(error) = deps.tasks.complete(&message.task_id, &failed, now).await {
            tracing::error!(task_id = %message.task_id, %error, "could not mark an abandoned task failed");
        }
    }
    result
}

fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}
