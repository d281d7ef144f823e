use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use super::{corrupt, store_error};
use crate::ports::{RateDecision, RateLimit, RateLimiter, StoreError, rate_window};

/// Fixed windows counted with one atomic `ADD` per hit; old windows expire by TTL.
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

#[async_trait]
impl RateLimiter for DynamoRateLimiter {
    async fn hit(
        &self,
        key: &str,
        limit: RateLimit,
        now: OffsetDateTime,
    ) -> Result<RateDecision, StoreError> {
        let (index, ends) = rate_window(limit, now);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([("pk".to_owned(), AttributeValue::S(format!("{key}#{index}")))])))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :ends)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ends", AttributeValue::N(ends.unix_timestamp().to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(store_error)?;
        let hits = match output.attributes.as_ref().and_then(|a| a.get("hits")) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|e| corrupt(&self.table, e))?,
            _ => return Err(corrupt(&self.table, "UpdateItem returned no hit count")),
        };
        Ok(if hits > u64::from(limit.max_hits) {
            RateDecision::Limited { retry_after: ends - now }
        } else {
            RateDecision::Allowed
        })
    }
}
