use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Number, Username};

/// A task's id: a random UUID, shown hyphenated and lower-case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(uuid::Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task id is a UUID such as 7c9e6679-7425-40de-944b-e07fc1f90ae7")]
pub struct TaskIdError;

impl TaskId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(text: &str) -> Result<Self, TaskIdError> {
        // Only the hyphenated form the API hands out; `{…}` and URN forms are not ours.
        if text.len() != 36 {
            return Err(TaskIdError);
        }
        uuid::Uuid::try_parse(text).map(Self).map_err(|_| TaskIdError)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// `pending` until the worker has run the task, then `succeeded` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Succeeded(Number),
    Failed(String),
}

/// `add a + b`, owned by the user who submitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub owner: Username,
    pub a: Number,
    pub b: Number,
    pub status: TaskStatus,
    pub value: Option<Number>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
    /// Results are kept 7 days; after that the task reads as absent.
    pub expires_at: OffsetDateTime,
    /// While pending: since when it has waited (its creation, or its last re-queue).
    pub pending_since: Option<OffsetDateTime>,
    /// How often the sweeper has queued it again.
    pub requeues: u32,
}

impl Task {
    pub const RETENTION: time::Duration = time::Duration::days(7);

    pub fn new(owner: Username, a: Number, b: Number, now: OffsetDateTime) -> Self {
        Self {
            id: TaskId::generate(),
            owner,
            a,
            b,
            status: TaskStatus::Pending,
            value: None,
            error: None,
            created_at: now,
            completed_at: None,
            expires_at: now + Self::RETENTION,
            pending_since: Some(now),
            requeues: 0,
        }
    }

    /// What the worker computes: the exact sum, or why there is none.
    pub fn compute(&self) -> TaskOutcome {
        match self.a.checked_add(&self.b) {
            Ok(sum) => TaskOutcome::Succeeded(sum),
            Err(error) => TaskOutcome::Failed(format!("the sum cannot be represented: {error}")),
        }
    }

    pub fn complete(&mut self, outcome: TaskOutcome, at: OffsetDateTime) {
        match outcome {
            TaskOutcome::Succeeded(value) => {
                self.status = TaskStatus::Succeeded;
                self.value = Some(value);
            }
            TaskOutcome::Failed(reason) => {
                self.status = TaskStatus::Failed;
                self.error = Some(reason);
            }
        }
        self.completed_at = Some(at);
        self.pending_since = None;
    }
}

/// An `Idempotency-Key` as one user sent it, with a fingerprint of the request it came with,
/// so that the same key with a different request is told apart from a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub owner: Username,
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an Idempotency-Key is 1 to 255 visible ASCII characters")]
pub struct IdempotencyKeyError;

impl Idempotency {
    pub const WINDOW: time::Duration = time::Duration::hours(24);

    pub fn new(owner: Username, key: &str, a: &Number, b: &Number) -> Result<Self, IdempotencyKeyError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(IdempotencyKeyError);
        }
        let fingerprint = super::Digest::of(format!("add {a} {b}").as_bytes()).to_hex();
        Ok(Self { owner, key: key.to_owned(), fingerprint })
    }
}
