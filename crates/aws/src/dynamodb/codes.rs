use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::{applied_before, call_token, put_if, store_error};
use stratus_core::domain::Username;
use stratus_core::ports::CodePurpose;
use stratus_core::ports::{Checked, CodeRecord, CodeStore, StoreError};

/// One item per user and purpose, `CODE#<purpose>#<username>`: `codes` maps each live code's
/// hash (hex) to its expiry and issue order, `attempts_left` counts for them all, `expires_at`
/// (the TTL) is the newest code's expiry, and `version` changes with every write, so that
/// issuing, which reads the item before it writes, never overwrites a write made in between.
///
/// Items written before codes were kept together hold one `code_hash`; they are read as one
/// code until their TTL removes them.
pub struct DynamoCodeStore {
    client: Client,
    table: String,
}

impl DynamoCodeStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

/// Issues lost to a concurrent write are retried this often before giving up (503).
const ISSUE_TRIES: usize = 5;

fn key(purpose: CodePurpose, username: &Username) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), AttributeValue::S(format!("CODE#{}#{username}", purpose.as_str())))])
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn version() -> AttributeValue {
    AttributeValue::S(uuid::Uuid::new_v4().to_string())
}

fn read_number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A code as the item holds it.
struct Stored {
    hash: String,
    /// Unix seconds.
    expires_at: i64,
    /// The order codes were issued in: the oldest is dropped first, even when two share a second.
    seq: i64,
}

/// The item's codes, oldest first.
fn codes_of(item: &HashMap<String, AttributeValue>) -> Vec<Stored> {
    let mut codes: Vec<Stored> = match item.get("codes").and_then(|c| c.as_m().ok()) {
        Some(map) => map
            .iter()
            .filter_map(|(hash, code)| {
                let code = code.as_m().ok()?;
                Some(Stored {
                    hash: hash.clone(),
                    expires_at: read_number(code, "expires_at")?,
                    seq: read_number(code, "seq")?,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    if let (Some(hash), Some(expires_at)) =
        (item.get("code_hash").and_then(|h| h.as_s().ok()), read_number(item, "expires_at"))
    {
        codes.push(Stored { hash: hash.clone(), expires_at, seq: 0 });
    }
    codes.sort_by_key(|code| code.seq);
    codes
}

fn stored(expires_at: i64, seq: i64) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("expires_at".to_owned(), number(expires_at)),
        ("seq".to_owned(), number(seq)),
    ]))
}

fn is_condition_failure<E>(error: &aws_sdk_dynamodb::error::SdkError<E>, check: impl Fn(&E) -> bool) -> bool {
    error.as_service_error().is_some_and(check)
}

#[async_trait]
impl CodeStore for DynamoCodeStore {
    /// Reads the item, keeps the newest codes that still have attempts, and writes it back on
    /// the condition that nothing wrote it meanwhile; a lost race is read and tried again.
    /// A purpose with one live code is a plain put: no read, no race.
    async fn issue(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let new_hash = hex::encode(record.code_hash);
        let keep = record.purpose.live_codes().max(1) - 1;
        for _ in 0..ISSUE_TRIES {
            let read = if keep == 0 {
                None
            } else {
                let output = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key(record.purpose, &record.username)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(store_error)?;
                output.item
            };
            // Codes out of attempts stay dead: re-arming the attempts must not bring them back.
            let earlier = match &read {
                Some(item) if read_number(item, "attempts_left").unwrap_or(0) > 0 => codes_of(item),
                _ => Vec::new(),
            };
            let seq = earlier.last().map_or(1, |code| code.seq + 1);
            let mut codes =
                HashMap::from([(new_hash.clone(), stored(record.expires_at.unix_timestamp(), seq))]);
            for code in earlier.into_iter().rev().filter(|code| code.hash != new_hash).take(keep) {
                codes.insert(code.hash, stored(code.expires_at, code.seq));
            }
            let mut item = key(record.purpose, &record.username);
            item.insert("codes".into(), AttributeValue::M(codes));
            item.insert("expires_at".into(), number(record.expires_at.unix_timestamp()));
            item.insert("attempts_left".into(), number(record.attempts_left));
            item.insert("version".into(), version());
            let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item));
            put = match read.as_ref().map(|item| item.get("version")) {
                _ if keep == 0 => put,
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(None) => {
                    put.condition_expression("attribute_exists(pk) AND attribute_not_exists(version)")
                }
                Some(Some(seen)) => put
                    .condition_expression("version = :seen")
                    .expression_attribute_values(":seen", seen.clone()),
            };
            if put_if(put).await? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable("the user's codes kept changing while a code was issued".into()))
    }

    /// One conditional decrement (an attempt left, a code unexpired) that answers the codes as
    /// they are after it; only then the comparison, here. Counting and reading in one write is
    /// what keeps concurrent guesses from all being compared against one count.
    async fn check(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Checked, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(purpose, username)))
            .condition_expression("attempts_left > :zero AND expires_at > :now")
            .update_expression("SET attempts_left = attempts_left - :one, version = :version")
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":version", version())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match counted {
            Ok(output) => output.attributes.unwrap_or_default(),
            Err(error)
                if is_condition_failure(&error, |e| {
                    matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                return Ok(Checked::NoCode);
            }
            Err(error) => return Err(store_error(error)),
        };
        let hash = hex::encode(code_hash);
        let live =
            codes_of(&item).iter().any(|code| code.hash == hash && code.expires_at > now.unix_timestamp());
        Ok(if live { Checked::Right } else { Checked::Wrong })
    }

    /// A conditional update that ends every code of the user for the purpose: the code must still
    /// be there and unexpired. An update, not a delete, so it can leave its call's token behind:
    /// an attempt whose answer was lost after it spent the code is known as this call's own when
    /// the SDK sends it again (a delete would leave nothing to tell it from another's spend, and
    /// the honest retry would be told the code is wrong). What is left has no codes and no
    /// attempts, which `check` answers as no code and `issue` writes over; TTL removes it.
    async fn spend(
        &self,
        purpose: CodePurpose,
        username: &Username,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let token = call_token();
        let spent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(purpose, username)))
            .condition_expression(
                "codes.#hash.expires_at > :now OR (code_hash = :hash AND expires_at > :now)",
            )
            .update_expression(
                "SET attempts_left = :zero, spent_by = :token, version = :version REMOVE codes, code_hash",
            )
            .expression_attribute_names("#hash", hex::encode(code_hash))
            .expression_attribute_values(":hash", AttributeValue::S(hex::encode(code_hash)))
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":token", AttributeValue::S(token.clone()))
            .expression_attribute_values(":version", version())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match spent {
            Ok(_) => Ok(true),
            Err(error) if applied_before(&error, "spent_by", &token) => Ok(true),
            Err(error)
                if is_condition_failure(&error, |e| {
                    matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                Ok(false)
            }
            Err(error) => Err(store_error(error)),
        }
    }
}
