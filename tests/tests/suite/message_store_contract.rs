//! One contract for every MessageStore adapter: the same code runs against the in-memory store
//! and against DynamoDB Local.

use shared::domain::{Digest, Message, StoredMessage};
use shared::ports::PutOutcome;
use stratus_tests::{Backend, on_both_backends, wiring};

fn message(text: &str) -> StoredMessage {
    StoredMessage::from(Message::try_from(text.to_owned()).unwrap())
}

async fn first_put_creates_and_second_finds_it_stored(backend: Backend) {
    let store = wiring(backend).await.messages;
    let stored = message("hello");
    assert_eq!(store.put(&stored).await.unwrap(), PutOutcome::Created);
    assert_eq!(store.put(&stored).await.unwrap(), PutOutcome::AlreadyStored);
    assert_eq!(store.get(&stored.digest()).await.unwrap().unwrap().as_str(), "hello");
}

async fn absent_digest_is_none(backend: Backend) {
    let store = wiring(backend).await.messages;
    assert!(store.get(&Digest::of(b"absent")).await.unwrap().is_none());
}

async fn keeps_empty_unicode_and_largest_messages_exactly(backend: Backend) {
    let store = wiring(backend).await.messages;
    let largest = "é".repeat(Message::MAX_BYTES / 2);
    for text in ["", "ünïcödé 😀", "\u{0}\u{1}\r\n", largest.as_str()] {
        let stored = message(text);
        assert_eq!(store.put(&stored).await.unwrap(), PutOutcome::Created);
        assert_eq!(store.get(&stored.digest()).await.unwrap().unwrap().as_str(), text);
    }
}

async fn concurrent_puts_create_exactly_once(backend: Backend) {
    let store = wiring(backend).await.messages;
    let stored = message("contended");
    let outcomes = futures::future::join_all((0..16).map(|_| store.put(&stored))).await;
    let created = outcomes.iter().filter(|o| matches!(o, Ok(PutOutcome::Created))).count();
    let existing = outcomes.iter().filter(|o| matches!(o, Ok(PutOutcome::AlreadyStored))).count();
    assert_eq!((created, existing), (1, 15), "{outcomes:?}");
}

on_both_backends!(
    first_put_creates_and_second_finds_it_stored,
    absent_digest_is_none,
    keeps_empty_unicode_and_largest_messages_exactly,
    concurrent_puts_create_exactly_once,
);
