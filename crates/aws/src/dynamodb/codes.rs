use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::store_error;
use stratus_core::domain::Username;
use stratus_core::ports::CodePurpose;
use stratus_core::ports::{CodeRecord, CodeStore, Redeemed, StoreError};

/// One item per user and purpose, `CODE#<purpose>#<username>`: issuing a code replaces the last.
pub struct DynamoCodeStore {
    client: Client,
    table: String,
}

impl DynamoCodeStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn key(purpose: CodePurpose, username: &Username) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), AttributeValue::S(format!("CODE#{}#{username}", purpose.as_str())))])
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl CodeStore for DynamoCodeStore {
    async fn issue(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let mut item = key(record.purpose, &record.username);
        item.insert("code_hash".into(), AttributeValue::S(hex::encode(record.code_hash)));
        item.insert("expires_at".into(), number(record.expires_at.unix_timestamp()));
        item.insert("attempts_left".into(), number(record.attempts_left));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// A conditional delete spends a right code; when the condition fails, a conditional
    /// decrement counts a wrong one. The TTL attribute is compared too: DynamoDB deletes expired
    /// items late, so an expired code may still be there.
    async fn redeem(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: time::OffsetDateTime,
    ) -> Result<Redeemed, StoreError> {
        let spent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(purpose, username)))
            .condition_expression("code_hash = :hash AND expires_at > :now AND attempts_left > :zero")
            .expression_attribute_values(":hash", AttributeValue::S(hex::encode(code_hash)))
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        match spent {
            Ok(_) => return Ok(Redeemed::Accepted),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) => {}
            Err(error) => return Err(store_error(error)),
        }
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(purpose, username)))
            .condition_expression("attribute_exists(pk) AND expires_at > :now AND attempts_left > :zero")
            .update_expression("SET attempts_left = attempts_left - :one")
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(Redeemed::Wrong),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Redeemed::NoCode)
            }
            Err(error) => Err(store_error(error)),
        }
    }
}
