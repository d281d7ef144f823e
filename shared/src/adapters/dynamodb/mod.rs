//! DynamoDB adapters. One table per aggregate, so each function's IAM policy names only its own.

mod messages;
mod rate_limits;
mod refresh_tokens;
pub mod tables;
mod tasks;
mod users;

pub use messages::DynamoMessageStore;
pub use rate_limits::DynamoRateLimiter;
pub use refresh_tokens::DynamoRefreshTokenStore;
pub use tasks::DynamoTaskStore;
pub use users::DynamoUserStore;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::StoreError;

/// Error codes after which the same request may well succeed: the caller gets 503, not 500.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionConflictException",
];

pub(crate) fn store_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => {
            service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code))
        }
        _ => false,
    };
    let text = DisplayErrorContext(&error).to_string();
    if retryable { StoreError::Unavailable(text) } else { StoreError::Internal(text) }
}

pub(crate) fn corrupt(table: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("item in table {table} does not map to the domain: {error}"))
}
