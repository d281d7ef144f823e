//! Domain types that cannot hold a bad value: once parsed, always valid.

pub mod digest;
pub mod message;

pub use digest::{Digest, DigestError};
pub use message::{Message, MessageTooLong, StoredMessage};
