use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{corrupt, store_error};
use crate::domain::{Digest, Message, StoredMessage};
use crate::ports::{MessageStore, PutOutcome, StoreError};

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
}

#[async_trait]
impl MessageStore for DynamoMessageStore {
    async fn put(&self, stored: &StoredMessage) -> Result<PutOutcome, StoreError> {
        let item = MessageItem {
            digest: stored.digest().to_hex(),
            message: stored.message().as_str().to_owned(),
            created_at: OffsetDateTime::now_utc(),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Content-addressed: an existing item already holds these very bytes, so the
            // condition failing means "already stored", never a conflict.
            .condition_expression("attribute_not_exists(digest)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(PutOutcome::AlreadyStored)
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn get(&self, digest: &Digest) -> Result<Option<Message>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("digest", AttributeValue::S(digest.to_hex()))
            // A client that just stored a message must be able to read it back at once.
            .consistent_read(true)
            .projection_expression("message")
            .send()
            .await
            .map_err(store_error)?;
        let Some(mut item) = output.item else { return Ok(None) };
        let Some(AttributeValue::S(text)) = item.remove("message") else {
            return Err(corrupt(&self.table, "attribute `message` is missing or not a string"));
        };
        Message::try_from(text).map(Some).map_err(|e| corrupt(&self.table, e))
    }
}
