//! One contract for every MessageStore adapter: the same code runs against the in-memory store
//! and against DynamoDB Local.

use stratus_core::domain::{Digest, Message, StoredMessage};
use stratus_core::ports::PutOutcome;
use stratus_tests::{Backend, on_both_backends, wiring};
use time::{Duration, OffsetDateTime};

fn message(text: &str) -> StoredMessage {
    StoredMessage::from(Message::try_from(text.to_owned()).unwrap())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn first_put_creates_and_second_finds_it_stored(backend: Backend) {
    let store = wiring(backend).await.messages;
    let stored = message("hello");
    assert_eq!(store.put(&stored, None, now()).await.unwrap(), PutOutcome::Created);
    assert_eq!(store.put(&stored, None, now()).await.unwrap(), PutOutcome::AlreadyStored);
    let found = store.get(&stored.digest(), now()).await.unwrap().unwrap();
    assert_eq!(found.message.as_str(), "hello");
    assert_eq!(found.expires_at, None);
}

async fn absent_digest_is_none(backend: Backend) {
    let store = wiring(backend).await.messages;
    assert!(store.get(&Digest::of(b"absent"), now()).await.unwrap().is_none());
}

async fn keeps_empty_unicode_and_largest_messages_exactly(backend: Backend) {
    let store = wiring(backend).await.messages;
    let largest = "é".repeat(Message::MAX_BYTES / 2);
    for text in ["", "ünïcödé 😀", "\u{0}\u{1}\r\n", largest.as_str()] {
        let stored = message(text);
        assert_eq!(store.put(&stored, None, now()).await.unwrap(), PutOutcome::Created);
        assert_eq!(store.get(&stored.digest(), now()).await.unwrap().unwrap().message.as_str(), text);
    }
}

async fn concurrent_puts_create_exactly_once(backend: Backend) {
    let store = wiring(backend).await.messages;
    let stored = message("contended");
    let at = now();
    let outcomes = futures::future::join_all((0..16).map(|_| store.put(&stored, None, at))).await;
    let created = outcomes.iter().filter(|o| matches!(o, Ok(PutOutcome::Created))).count();
    let existing = outcomes.iter().filter(|o| matches!(o, Ok(PutOutcome::AlreadyStored))).count();
    assert_eq!((created, existing), (1, 15), "{outcomes:?}");
}

/// TTL deletes lazily (DynamoDB's as well): an expired message reads as absent, and storing it
/// again creates it anew, with its new lifetime.
async fn an_expired_message_is_absent_and_can_be_stored_again(backend: Backend) {
    let store = wiring(backend).await.messages;
    let stored = message("ephemeral");
    let start = now();
    let ends = start + Duration::hours(1);
    assert_eq!(store.put(&stored, Some(ends), start).await.unwrap(), PutOutcome::Created);
    let found = store.get(&stored.digest(), start + Duration::minutes(59)).await.unwrap().unwrap();
    assert_eq!(found.expires_at.map(OffsetDateTime::unix_timestamp), Some(ends.unix_timestamp()));
    let later = start + Duration::minutes(61);
    assert_eq!(store.get(&stored.digest(), later).await.unwrap(), None);
    let renewed = later + Duration::hours(1);
    assert_eq!(store.put(&stored, Some(renewed), later).await.unwrap(), PutOutcome::Created);
    let found = store.get(&stored.digest(), later).await.unwrap().unwrap();
    assert_eq!(found.expires_at.map(OffsetDateTime::unix_timestamp), Some(renewed.unix_timestamp()));
}

on_both_backends!(
    first_put_creates_and_second_finds_it_stored,
    absent_digest_is_none,
    keeps_empty_unicode_and_largest_messages_exactly,
    concurrent_puts_create_exactly_once,
    an_expired_message_is_absent_and_can_be_stored_again,
);
