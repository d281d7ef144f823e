//! Domain types that cannot hold a bad value: once parsed, always valid.

pub mod digest;
pub mod email;
pub mod message;
pub mod number;
pub mod person;
pub mod role;
pub mod task;
pub mod user;
pub mod username;

pub use digest::{Digest, DigestError};
pub use email::{Email, EmailError};
pub use message::{Message, MessageTooLong, StoredMessage};
pub use number::{Number, NumberError};
pub use person::{PersonName, PersonNameError};
pub use role::Role;
pub use task::{Idempotency, IdempotencyKeyError, Task, TaskId, TaskIdError, TaskOutcome, TaskStatus};
pub use user::{PasswordHash, Profile, User};
pub use username::{Username, UsernameError};
