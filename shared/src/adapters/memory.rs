//! The embedded backend: everything in process memory, same contracts as the AWS adapters.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{Digest, Message, StoredMessage};
use crate::ports::{MessageStore, PutOutcome, StoreError};

#[derive(Default)]
pub struct MemoryMessageStore {
    messages: Mutex<HashMap<Digest, Message>>,
}

#[async_trait]
impl MessageStore for MemoryMessageStore {
    async fn put(&self, stored: &StoredMessage) -> Result<PutOutcome, StoreError> {
        let mut messages = self.messages.lock().expect("no panic while holding the lock");
        Ok(match messages.entry(stored.digest()) {
            Entry::Occupied(_) => PutOutcome::AlreadyStored,
            Entry::Vacant(slot) => {
                slot.insert(stored.message().clone());
                PutOutcome::Created
            }
        })
    }

    async fn get(&self, digest: &Digest) -> Result<Option<Message>, StoreError> {
        let messages = self.messages.lock().expect("no panic while holding the lock");
        Ok(messages.get(digest).cloned())
    }
}
