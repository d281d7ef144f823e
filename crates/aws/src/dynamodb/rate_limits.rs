use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::{applied_before, call_token, store_error};
use stratus_core::ports::{RateDecision, RateLimit, RateLimiter, StoreError, rate_window};

/// Fixed windows, one item per key and window, counted with one conditional `ADD` per hit; old
/// windows expire by TTL.
///
/// Each hit carries a token of its own, the same in every attempt the SDK makes of the call, and
/// the item remembers the last one counted: an attempt whose answer was lost after it counted
/// (a connection reset, a timeout) is recognised by the SDK's retry, which counts nothing and
/// allows the request it already counted. Without it the retry counted the request again, and
/// when the first attempt took a window's last place, refused the very request that took it.
/// The one over-count left needs another hit on the same key to land between the lost answer and
/// the retry (milliseconds, for one address or user): it counts that request twice, which errs
/// on the side of refusing. `release` is guarded the same way, so a lost answer cannot take back
/// two hits.
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(key: &str, index: i64) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(format!("{key}#{index}")))])
    }
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn condition_failed(
    error: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, impl std::fmt::Debug>,
) -> bool {
    matches!(error.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
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
        let token = call_token();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(key, index)))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :ends), last_hit = :token")
            // A full window takes no more hits: refused requests count for nothing. Nor does an
            // attempt of a hit already counted.
            .condition_expression(
                "(attribute_not_exists(hits) OR hits < :max) AND (attribute_not_exists(last_hit) OR last_hit <> :token)",
            )
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(limit.max_hits))
            .expression_attribute_values(":ends", number(ends.unix_timestamp()))
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RateDecision::Allowed),
            Err(error) if applied_before(&error, "last_hit", &token) => Ok(RateDecision::Allowed),
            Err(error) if condition_failed(&error) => Ok(RateDecision::Limited { retry_after: ends - now }),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn release(&self, key: &str, limit: RateLimit, at: OffsetDateTime) -> Result<(), StoreError> {
        let (index, _) = rate_window(limit, at);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(key, index)))
            .update_expression("ADD hits :minus_one SET last_release = :token")
            // A retry of a release already applied takes back nothing more.
            .condition_expression(
                "hits > :zero AND (attribute_not_exists(last_release) OR last_release <> :token)",
            )
            .expression_attribute_values(":minus_one", number(-1))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":token", AttributeValue::S(call_token()))
            .send()
            .await;
        match result {
            // Nothing counted in that window (it expired, or was never hit): nothing to take back.
            Ok(_) => Ok(()),
            Err(error) if condition_failed(&error) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn claim_once(&self, key: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        // Its own key space beside the windows (theirs end in `#<window>`), expiring by TTL. A
        // flag rather than the item's existence, so a release is an update too. The claim
        // carries its call's token, so an attempt whose answer was lost after it claimed is
        // known as this call's own claim, not another's.
        let token = call_token();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("once#{key}")))
            .update_expression("SET claimed = :true, expires_at = :until, claimed_by = :token")
            .condition_expression("attribute_not_exists(claimed) OR claimed = :false")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":until", number(until.unix_timestamp()))
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if applied_before(&error, "claimed_by", &token) => Ok(true),
            Err(error) if condition_failed(&error) => Ok(false),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn release_claim(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("once#{key}")))
            .update_expression("SET claimed = :false")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if condition_failed(&error) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }
}
