use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{applied_before, call_token, corrupt, put_if, store_error, transact};
use stratus_core::domain::{Idempotency, Number, Task, TaskId, TaskOutcome, TaskStatus, Username};
use stratus_core::ports::{Requeue, StoreError, Submitted, TaskStore};

pub struct DynamoTaskStore {
    client: Client,
    table: String,
}

impl DynamoTaskStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

type Item = HashMap<String, AttributeValue>;

fn task_pk(id: &TaskId) -> String {
    format!("TASK#{id}")
}

fn key_pk(idempotency: &Idempotency) -> String {
    format!("IDEM#{}#{}", idempotency.owner, idempotency.key)
}

fn key(pk: String) -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(pk))])
}

/// Numbers are stored as their exact decimal text, never as DynamoDB numbers (38 digits at most).
#[derive(Serialize, Deserialize)]
struct TaskItem {
    pk: String,
    id: TaskId,
    owner: Username,
    a: String,
    b: String,
    status: TaskStatus,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    completed_at: Option<OffsetDateTime>,
    /// Epoch seconds: DynamoDB's TTL attribute.
    expires_at: i64,
    /// The sparse `pending` index's keys: present only while the task is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_shard: Option<String>,
    /// Epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<i64>,
    #[serde(default)]
    requeues: u32,
}

/// The `pending` index is spread over this many partitions, so that no one partition takes
/// every task's write; the sweeper reads them all.
const PENDING_SHARDS: u8 = 8;
pub(crate) const PENDING_INDEX: &str = "pending";

fn pending_shard(id: &TaskId) -> String {
    let shard = id.to_string().bytes().fold(0u8, |sum, b| sum.wrapping_add(b)) % PENDING_SHARDS;
    format!("PENDING#{shard}")
}

impl TaskItem {
    fn from_task(task: &Task) -> Self {
        Self {
            pk: task_pk(&task.id),
            id: task.id,
            owner: task.owner.clone(),
            a: task.a.to_string(),
            b: task.b.to_string(),
            status: task.status,
            value: task.value.as_ref().map(Number::to_string),
            error: task.error.clone(),
            created_at: task.created_at,
            completed_at: task.completed_at,
            expires_at: task.expires_at.unix_timestamp(),
            pending_shard: task.pending_since.map(|_| pending_shard(&task.id)),
            pending_since: task.pending_since.map(OffsetDateTime::unix_timestamp),
            requeues: task.requeues,
        }
    }

    fn into_task(self) -> Result<Task, String> {
        let number = |text: &str| Number::parse(text).map_err(|e| e.to_string());
        Ok(Task {
            id: self.id,
            owner: self.owner,
            a: number(&self.a)?,
            b: number(&self.b)?,
            status: self.status,
            value: self.value.as_deref().map(number).transpose()?,
            error: self.error,
            created_at: self.created_at,
            completed_at: self.completed_at,
            expires_at: OffsetDateTime::from_unix_timestamp(self.expires_at).map_err(|e| e.to_string())?,
            pending_since: self
                .pending_since
                .map(OffsetDateTime::from_unix_timestamp)
                .transpose()
                .map_err(|e| e.to_string())?,
            requeues: self.requeues,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    task_id: TaskId,
    fingerprint: String,
    expires_at: i64,
}

impl DynamoTaskStore {
    async fn read_key(&self, idempotency: &Idempotency) -> Result<Option<KeyItem>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(key_pk(idempotency))))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))).transpose()
    }
}

#[async_trait]
impl TaskStore for DynamoTaskStore {
    async fn create(
        &self,
        task: &Task,
        idempotency: Option<&Idempotency>,
        now: OffsetDateTime,
    ) -> Result<Submitted, StoreError> {
        let item: Item =
            serde_dynamo::to_item(TaskItem::from_task(task)).map_err(|e| corrupt(&self.table, e))?;
        let Some(idempotency) = idempotency else {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)");
            // The id is fresh and random: an item already there is this very write, applied
            // before its answer was lost and sent again by the SDK's retry.
            put_if(put).await?;
            return Ok(Submitted::Created);
        };
        let record = KeyItem {
            pk: key_pk(idempotency),
            task_id: task.id,
            fingerprint: idempotency.fingerprint.clone(),
            expires_at: (now + Idempotency::WINDOW).unix_timestamp(),
        };
        let record: Item = serde_dynamo::to_item(record).map_err(|e| corrupt(&self.table, e))?;
        let put_task = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table and item are set");
        // An expired key (TTL deletes lazily) counts as free.
        let put_key = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
            .build()
            .expect("table and item are set");
        // Twice at most: the second try only if the blocking key vanished in between.
        for _ in 0..2 {
            let items = vec![
                TransactWriteItem::builder().put(put_task.clone()).build(),
                TransactWriteItem::builder().put(put_key.clone()).build(),
            ];
            match transact(&self.client, items).await? {
                Ok(()) => return Ok(Submitted::Created),
                Err(codes) if codes.get(1).is_some_and(|c| c == "ConditionalCheckFailed") => {
                    match self.read_key(idempotency).await? {
                        Some(existing) if existing.fingerprint == idempotency.fingerprint => {
                            return Ok(Submitted::Existing(existing.task_id));
                        }
                        Some(_) => return Ok(Submitted::KeyReused),
                        // Discarded after a failed enqueue between the two calls.
                        None => continue,
                    }
                }
                Err(codes) => return Err(StoreError::Internal(format!("task id collision: {codes:?}"))),
            }
        }
        Err(StoreError::Unavailable("the Idempotency-Key kept changing hands".into()))
    }

    async fn get(&self, id: &TaskId, now: OffsetDateTime) -> Result<Option<Task>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(task_pk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let item: TaskItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        let task = item.into_task().map_err(|e| corrupt(&self.table, e))?;
        Ok((task.expires_at > now).then_some(task))
    }

    async fn complete(
        &self,
        id: &TaskId,
        outcome: &TaskOutcome,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at =
            at.format(&time::format_description::well_known::Rfc3339).map_err(|e| corrupt(&self.table, e))?;
        let (status, field, text) = match outcome {
            TaskOutcome::Succeeded(value) => ("succeeded", "value", value.to_string()),
            TaskOutcome::Failed(reason) => ("failed", "error", reason.clone()),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(task_pk(id))))
            .update_expression(
                "SET #status = :status, #field = :text, completed_at = :at REMOVE pending_shard, pending_since",
            )
            // Only a pending task takes an outcome: a duplicate delivery writes nothing.
            .condition_expression("attribute_exists(pk) AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#field", field)
            .expression_attribute_values(":status", AttributeValue::S(status.into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":text", AttributeValue::S(text))
            .expression_attribute_values(":at", AttributeValue::S(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn discard(&self, task: &Task, idempotency: Option<&Idempotency>) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(task_pk(&task.id))))
            .send()
            .await
            .map_err(store_error)?;
        if let Some(idempotency) = idempotency {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(key_pk(idempotency))))
                .condition_expression("task_id = :id")
                .expression_attribute_values(":id", AttributeValue::S(task.id.to_string()))
                .send()
                .await;
            if let Err(error) = deleted
                && error.as_service_error().is_none_or(|e| !e.is_conditional_check_failed_exception())
            {
                return Err(store_error(error));
            }
        }
        Ok(())
    }

    async fn stale(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<TaskId>, StoreError> {
        let mut stale = Vec::new();
        for shard in 0..PENDING_SHARDS {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(PENDING_INDEX)
                    .key_condition_expression("pending_shard = :shard AND pending_since < :before")
                    .expression_attribute_values(":shard", AttributeValue::S(format!("PENDING#{shard}")))
                    .expression_attribute_values(
                        ":before",
                        AttributeValue::N(before.unix_timestamp().to_string()),
                    )
                    .set_exclusive_start_key(start.take())
                    .limit(i32::try_from(limit.saturating_sub(stale.len()).max(1)).unwrap_or(i32::MAX))
                    .send()
                    .await
                    .map_err(store_error)?;
                for item in output.items.unwrap_or_default() {
                    let Some(AttributeValue::S(pk)) = item.get("pk") else {
                        return Err(corrupt(&self.table, "a pending index entry without pk"));
                    };
                    let id = pk.strip_prefix("TASK#").and_then(|id| TaskId::parse(id).ok());
                    stale.push(id.ok_or_else(|| corrupt(&self.table, format!("pending index entry {pk}")))?);
                }
                if stale.len() >= limit {
                    return Ok(stale);
                }
                match output.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        Ok(stale)
    }

    async fn requeue(&self, id: &TaskId, at: OffsetDateTime, max: u32) -> Result<Requeue, StoreError> {
        // The re-queue carries its call's token: an attempt whose answer was lost after it
        // counted is known as this call's own, and not counted again.
        let token = call_token();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(task_pk(id))))
            .update_expression(
                "SET pending_since = :at, requeues = if_not_exists(requeues, :zero) + :one, last_requeue = :token",
            )
            .condition_expression(
                "attribute_exists(pending_shard) AND (attribute_not_exists(requeues) OR requeues < :max) \
                 AND (attribute_not_exists(last_requeue) OR last_requeue <> :token)",
            )
            .expression_attribute_values(":at", AttributeValue::N(at.unix_timestamp().to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Requeue::Requeued),
            Err(error) if applied_before(&error, "last_requeue", &token) => Ok(Requeue::Requeued),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Either no longer pending, or out of re-queues: the task says which.
                Ok(match self.get(id, at).await? {
                    Some(task) if task.status == TaskStatus::Pending => Requeue::Exhausted,
                    _ => Requeue::NotPending,
                })
            }
            Err(error) => Err(store_error(error)),
        }
    }
}
