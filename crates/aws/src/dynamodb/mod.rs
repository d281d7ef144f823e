//! DynamoDB adapters. One table per aggregate, so each function's IAM policy names only its own.

mod codes;
mod messages;
mod oauth;
mod rate_limits;
mod refresh_tokens;
pub mod tables;
mod tasks;
mod users;

pub use codes::DynamoCodeStore;
pub use messages::DynamoMessageStore;
pub use oauth::{DynamoAuthorizationStore, DynamoClientStore};
pub use rate_limits::DynamoRateLimiter;
pub use refresh_tokens::DynamoRefreshTokenStore;
pub use tasks::DynamoTaskStore;
pub use users::DynamoUserStore;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use stratus_core::ports::StoreError;

/// The 4xx codes after which the same request may well succeed (the service is busy, or a
/// concurrent transaction held the items): the caller gets 503, not 500. Any 5xx is the
/// service's side whatever its code (`crate::is_transient`), so none needs listing here.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionConflictException",
];

pub(crate) fn store_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let retryable = crate::is_transient(&error)
        || matches!(&error, SdkError::ServiceError(service)
            if service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code)));
    let text = crate::error_text(&error);
    if retryable { StoreError::Unavailable(text) } else { StoreError::Internal(text) }
}

/// Sends a conditional PutItem: `Ok(false)` when its condition failed, which for the callers is
/// an answer (already stored, taken, changed meanwhile), not an error.
pub(crate) async fn put_if(
    put: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
) -> Result<bool, StoreError> {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    match put.send().await {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(error.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) =>
        {
            Ok(false)
        }
        Err(error) => Err(store_error(error)),
    }
}

pub(crate) fn corrupt(table: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("item in table {table} does not map to the domain: {error}"))
}

/// Concurrent transactions on the same items cancel each other; a retry then meets the winner's
/// items and fails its conditions as it should.
const TRANSACTION_ATTEMPTS: u32 = 6;

/// Runs one TransactWriteItems, retrying while it is cancelled by conflicts only. `Ok(Err(codes))`
/// is a cancellation with one reason code per item, in order (`ConditionalCheckFailed`, `None`, …).
pub(crate) async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<Result<(), Vec<String>>, StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
            Ok(_) => return Ok(Ok(())),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error()
        else {
            return Err(store_error(error));
        };
        let codes: Vec<String> =
            cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect();
        let conflicted = codes.iter().any(|c| c == "TransactionConflict");
        let condition_failed = codes.iter().any(|c| c == "ConditionalCheckFailed");
        if condition_failed {
            return Ok(Err(codes));
        }
        // Contention that outlasted the retries, or throttled items, will pass: the caller may retry.
        let retryable =
            conflicted || codes.iter().any(|c| c.contains("Throttl") || c == "ProvisionedThroughputExceeded");
        if !conflicted || attempt >= TRANSACTION_ATTEMPTS {
            return Err(if retryable {
                StoreError::Unavailable(format!("transaction cancelled: {}", codes.join(", ")))
            } else {
                store_error(error)
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
    }
}

/// Whether the item a failed condition met (`ReturnValuesOnConditionCheckFailure::AllOld`) holds
/// `token` in `attribute`: an earlier attempt of this very call was applied.
pub(crate) fn applied_before(
    error: &SdkError<UpdateItemError, impl std::fmt::Debug>,
    attribute: &str,
    token: &str,
) -> bool {
    let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = error.as_service_error() else {
        return false;
    };
    matches!(failed.item().and_then(|item| item.get(attribute)), Some(AttributeValue::S(seen)) if seen == token)
}

/// The token of one conditional write: unique, and the same in each of the SDK's attempts.
pub(crate) fn call_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
