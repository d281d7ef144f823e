//! The ports the functions talk through. Each has an in-memory adapter (the embedded backend
//! for local runs and fast tests) and an AWS adapter; both pass one contract suite.

use async_trait::async_trait;

use crate::Problem;
use crate::domain::{Digest, Message, StoredMessage};

/// Why a store call failed. Client mistakes never get here: they are refused before any I/O.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out, connection refused: worth a retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, a bad configuration or a corrupt item.
    #[error("store failure: {0}")]
    Internal(String),
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => Problem::unavailable(&error),
            StoreError::Internal(_) => Problem::internal(&error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyStored,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message under its digest. Telling "created" from "already stored" is atomic:
    /// of any number of concurrent puts of one new message exactly one sees `Created`.
    async fn put(&self, message: &StoredMessage) -> Result<PutOutcome, StoreError>;

    async fn get(&self, digest: &Digest) -> Result<Option<Message>, StoreError>;
}
