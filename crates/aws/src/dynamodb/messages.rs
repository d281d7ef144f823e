use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{corrupt, put_if, store_error};
use stratus_core::domain::{Digest, Message, StoredMessage};
use stratus_core::ports::{Found, MessageStore, PutOutcome, StoreError};

pub struct DynamoMessageStore {
    client: Client,
    table: String,
}

impl DynamoMessageStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[derive(Serialize, Deserialize)]
struct MessageItem {
    digest: String,
    message: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Epoch seconds: DynamoDB's TTL attribute, when messages expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[async_trait]
impl MessageStore for DynamoMessageStore {
    async fn put(
        &self,
        stored: &StoredMessage,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<PutOutcome, StoreError> {
        let item = MessageItem {
            digest: stored.digest().to_hex(),
            message: stored.message().as_str().to_owned(),
            created_at: now,
            expires_at: expires_at.map(OffsetDateTime::unix_timestamp),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Content-addressed: a live item already holds these very bytes, so the condition
            // failing means "already stored", never a conflict. TTL deletes lazily: an expired
            // item may still be there and counts as absent.
            .condition_expression("attribute_not_exists(digest) OR expires_at <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()));
        Ok(if put_if(put).await? { PutOutcome::Created } else { PutOutcome::AlreadyStored })
    }

    async fn get(&self, digest: &Digest, now: OffsetDateTime) -> Result<Option<Found>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("digest", AttributeValue::S(digest.to_hex()))
            // A client that just stored a message must be able to read it back at once.
            .consistent_read(true)
            .projection_expression("message, expires_at")
            .send()
            .await
            .map_err(store_error)?;
        let Some(mut item) = output.item else { return Ok(None) };
        let Some(AttributeValue::S(text)) = item.remove("message") else {
            return Err(corrupt(&self.table, "attribute `message` is missing or not a string"));
        };
        let expires_at = match item.remove("expires_at") {
            None => None,
            Some(AttributeValue::N(seconds)) => Some(
                seconds
                    .parse::<i64>()
                    .ok()
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                    .ok_or_else(|| corrupt(&self.table, "attribute `expires_at` is not a timestamp"))?,
            ),
            Some(_) => return Err(corrupt(&self.table, "attribute `expires_at` is not a number")),
        };
        if expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let message = Message::try_from(text).map_err(|e| corrupt(&self.table, e))?;
        Ok(Some(Found { message, expires_at }))
    }
}
