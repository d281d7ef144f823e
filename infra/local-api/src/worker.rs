//! Runs the worker Lambda's handler the way the SQS event source mapping would: receive a
//! batch, hand it over as an SQS event, delete what succeeded and let the rest become visible
//! again, to be retried and, after the last receive, dead-lettered. And the sweeper, on a timer,
//! as its schedule would.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stratus_memory::{Delivery, MemoryQueue};
use sweeper::Sweeper;
use worker::Worker;
use worker::aws_lambda_events::event::sqs::SqsEvent;

/// Where the worker's messages come from.
#[derive(Clone)]
pub enum Consumer {
    Memory(Arc<MemoryQueue>),
    Sqs { client: aws_sdk_sqs::Client, queue_url: String },
}

const BATCH_SIZE: usize = 10;

/// Polls, and sweeps every `interval`, until the returned handle is dropped.
pub fn spawn(consumer: Consumer, deps: Worker, sweeper: Sweeper, interval: Duration) -> WorkerHandle {
    let deps = Arc::new(deps);
    let worker = tokio::spawn(async move {
        loop {
            match &consumer {
                Consumer::Memory(queue) => poll_memory(queue, &deps).await,
                Consumer::Sqs { client, queue_url } => poll_sqs(client, queue_url, &deps).await,
            }
        }
    });
    let sweeper = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweeper.sweep().await;
        }
    });
    WorkerHandle([worker, sweeper])
}

pub struct WorkerHandle([tokio::task::JoinHandle<()>; 2]);

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

async fn poll_memory(queue: &MemoryQueue, deps: &Worker) {
    let batch = queue.receive(BATCH_SIZE);
    if batch.is_empty() {
        queue.wait(Duration::from_millis(100)).await;
        return;
    }
    let records: Vec<Value> = batch.iter().map(record).collect();
    let failed = invoke(deps, records).await;
    for delivery in batch.iter().filter(|d| !failed.contains(&d.message_id)) {
        queue.delete(&delivery.receipt_handle);
    }
}

async fn poll_sqs(client: &aws_sdk_sqs::Client, queue_url: &str, deps: &Worker) {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
    let received = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(BATCH_SIZE as i32)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await;
    let messages = match received {
        Ok(output) => output.messages.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "receive failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
    };
    if messages.is_empty() {
        return;
    }
    let queue_arn =
        format!("arn:aws:sqs:us-east-1:000000000000:{}", queue_url.rsplit('/').next().unwrap_or_default());
    let records: Vec<Value> = messages.iter().map(|m| sqs_record(m, &queue_arn)).collect();
    let failed = invoke(deps, records).await;
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(m.message_id().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty()
        && let Err(error) =
            client.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await
    {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "delete failed; messages will be redelivered");
    }
}

/// The SQS event record Lambda delivers for one message received from SQS (with
/// `MessageSystemAttributeNames=All`).
pub fn sqs_record(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .attributes()
        .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone()))).collect())
        .unwrap_or_default();
    let region = queue_arn.split(':').nth(3).unwrap_or("us-east-1");
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "md5OfBody": message.md5_of_body(),
        "attributes": attributes,
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

/// The SQS event record Lambda delivers for one message.
fn record(delivery: &Delivery) -> Value {
    json!({
        "messageId": delivery.message_id,
        "receiptHandle": delivery.receipt_handle,
        "body": delivery.body,
        "attributes": {
            "ApproximateReceiveCount": delivery.receive_count.to_string(),
            "SentTimestamp": (delivery.sent_at.unix_timestamp_nanos() / 1_000_000).to_string(),
            "SenderId": "local-api",
            "ApproximateFirstReceiveTimestamp": (delivery.sent_at.unix_timestamp_nanos() / 1_000_000).to_string(),
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:tasks",
        "awsRegion": "us-east-1",
    })
}

/// Runs the handler on the batch as Lambda would, through the event's JSON form; returns the
/// ids it reported failed.
async fn invoke(deps: &Worker, records: Vec<Value>) -> HashSet<String> {
    let all: HashSet<String> =
        records.iter().filter_map(|r| r["messageId"].as_str().map(str::to_owned)).collect();
    let event: SqsEvent = match serde_json::from_value(json!({ "Records": records })) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, "could not shape an SQS event");
            return all;
        }
    };
    let response = deps.handle(event).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}
