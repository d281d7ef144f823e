//! One contract for the task store, run against the in-memory adapter and DynamoDB Local:
//! creation with and without an Idempotency-Key, the key's 24-hour window, expiry, completion
//! written once, and discarding a task that was never queued.

use stratus_core::domain::{Idempotency, Number, Task, TaskOutcome, TaskStatus, Username};
use stratus_core::ports::{Requeue, Submitted, TaskStore};
use stratus_tests::{Backend, on_both_backends, wiring};
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn number(text: &str) -> Number {
    Number::parse(text).unwrap()
}

fn task(owner: &str, a: &str, b: &str, at: OffsetDateTime) -> Task {
    Task::new(Username::parse(owner).unwrap(), number(a), number(b), at)
}

fn key(owner: &str, key: &str, a: &str, b: &str) -> Idempotency {
    Idempotency::new(Username::parse(owner).unwrap(), key, &number(a), &number(b)).unwrap()
}

async fn store(backend: Backend) -> std::sync::Arc<dyn TaskStore> {
    wiring(backend).await.tasks
}

async fn a_created_task_reads_back_pending(backend: Backend) {
    let tasks = store(backend).await;
    let submitted = task("ada", "5", "10", now());
    assert_eq!(tasks.create(&submitted, None, now()).await.unwrap(), Submitted::Created);
    let read = tasks.get(&submitted.id, now()).await.unwrap().expect("the task");
    assert_eq!(read, submitted);
    assert_eq!(read.status, TaskStatus::Pending);
    let absent = task("ada", "1", "1", now());
    assert_eq!(tasks.get(&absent.id, now()).await.unwrap(), None);
}

async fn an_expired_task_reads_as_absent(backend: Backend) {
    // DynamoDB deletes expired items late, if at all soon: the store must not return them.
    let tasks = store(backend).await;
    let submitted = task("ada", "5", "10", now());
    tasks.create(&submitted, None, now()).await.unwrap();
    let last_moment = submitted.expires_at - Duration::seconds(1);
    assert!(tasks.get(&submitted.id, last_moment).await.unwrap().is_some());
    assert_eq!(tasks.get(&submitted.id, submitted.expires_at + Duration::seconds(1)).await.unwrap(), None);
}

async fn completion_is_written_once(backend: Backend) {
    let tasks = store(backend).await;
    let submitted = task("ada", "5", "10", now());
    tasks.create(&submitted, None, now()).await.unwrap();
    let done_at = now() + Duration::seconds(2);
    assert!(tasks.complete(&submitted.id, &TaskOutcome::Succeeded(number("15")), done_at).await.unwrap());
    // A second delivery, even with another outcome, changes nothing.
    let late = TaskOutcome::Failed("late duplicate".into());
    assert!(!tasks.complete(&submitted.id, &late, done_at + Duration::seconds(5)).await.unwrap());
    let read = tasks.get(&submitted.id, done_at).await.unwrap().unwrap();
    assert_eq!(read.status, TaskStatus::Succeeded);
    assert_eq!(read.value, Some(number("15")));
    assert_eq!(read.error, None);
    assert_eq!(read.completed_at, Some(done_at));
    // An unknown task is not created by completing it.
    let unknown = task("ada", "1", "1", now());
    assert!(!tasks.complete(&unknown.id, &TaskOutcome::Succeeded(number("2")), done_at).await.unwrap());
    assert_eq!(tasks.get(&unknown.id, done_at).await.unwrap(), None);
}

async fn one_key_names_one_task_for_24_hours(backend: Backend) {
    let tasks = store(backend).await;
    let order = key("ada", "order-42", "2", "3");
    let first = task("ada", "2", "3", now());
    assert_eq!(tasks.create(&first, Some(&order), now()).await.unwrap(), Submitted::Created);

    let retry = task("ada", "2", "3", now() + Duration::hours(23));
    assert_eq!(
        tasks.create(&retry, Some(&order), now() + Duration::hours(23)).await.unwrap(),
        Submitted::Existing(first.id)
    );
    assert_eq!(tasks.get(&retry.id, now()).await.unwrap(), None, "the retry wrote no task");

    let changed = task("ada", "2", "4", now());
    let changed_key = key("ada", "order-42", "2", "4");
    assert_eq!(tasks.create(&changed, Some(&changed_key), now()).await.unwrap(), Submitted::KeyReused);

    // The same key from someone else is theirs.
    let theirs = task("grace", "2", "3", now());
    let their_key = key("grace", "order-42", "2", "3");
    assert_eq!(tasks.create(&theirs, Some(&their_key), now()).await.unwrap(), Submitted::Created);

    // Past the window, the key is free again: a new task.
    let later = now() + Idempotency::WINDOW + Duration::seconds(1);
    let next_day = task("ada", "2", "3", later);
    assert_eq!(tasks.create(&next_day, Some(&order), later).await.unwrap(), Submitted::Created);
    assert!(tasks.get(&next_day.id, later).await.unwrap().is_some());
}

async fn concurrent_creations_with_one_key_make_one_task(backend: Backend) {
    let tasks = store(backend).await;
    let order = key("ada", "checkout-7", "20", "22");
    let attempts: Vec<Task> = (0..10).map(|_| task("ada", "20", "22", now())).collect();
    let results =
        futures::future::join_all(attempts.iter().map(|t| tasks.create(t, Some(&order), now()))).await;
    let results: Vec<Submitted> = results.into_iter().map(Result::unwrap).collect();
    let created: Vec<&Task> =
        attempts.iter().zip(&results).filter(|(_, r)| **r == Submitted::Created).map(|(t, _)| t).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    let winner = created[0].id;
    for result in &results {
        assert!(matches!(result, Submitted::Created | Submitted::Existing(_)), "{result:?}");
        if let Submitted::Existing(id) = result {
            assert_eq!(*id, winner);
        }
    }
}

async fn discarding_removes_the_task_and_frees_its_key(backend: Backend) {
    let tasks = store(backend).await;
    let order = key("ada", "never-queued", "1", "2");
    let lost = task("ada", "1", "2", now());
    tasks.create(&lost, Some(&order), now()).await.unwrap();
    tasks.discard(&lost, Some(&order)).await.unwrap();
    assert_eq!(tasks.get(&lost.id, now()).await.unwrap(), None);

    // A retry with the same key is a fresh attempt, not a replay of the failure.
    let retry = task("ada", "1", "2", now());
    assert_eq!(tasks.create(&retry, Some(&order), now()).await.unwrap(), Submitted::Created);
    // Discarding the old task again must not release the key the retry now holds.
    tasks.discard(&lost, Some(&order)).await.unwrap();
    let again = task("ada", "1", "2", now());
    assert_eq!(tasks.create(&again, Some(&order), now()).await.unwrap(), Submitted::Existing(retry.id));
}

/// Only pending tasks that have waited long enough are stale; a re-queue restarts the wait and
/// counts, up to its maximum; a completed task is stale no more.
async fn stale_pending_tasks_are_found_and_requeued_a_bounded_number_of_times(backend: Backend) {
    let tasks = store(backend).await;
    let start = now();
    let old = task("sweep", "1", "2", start);
    let young = task("sweep", "3", "4", start + Duration::minutes(30));
    let done = task("sweep", "5", "6", start);
    for t in [&old, &young, &done] {
        assert_eq!(tasks.create(t, None, t.created_at).await.unwrap(), Submitted::Created);
    }
    assert!(tasks.complete(&done.id, &TaskOutcome::Failed("done".into()), start).await.unwrap());
    let cutoff = start + Duration::minutes(10);
    assert_eq!(tasks.stale(cutoff, 100).await.unwrap(), vec![old.id]);

    assert_eq!(tasks.requeue(&old.id, cutoff, 2).await.unwrap(), Requeue::Requeued);
    assert!(tasks.stale(cutoff, 100).await.unwrap().is_empty(), "the wait restarted");
    let later = cutoff + Duration::minutes(25);
    assert_eq!(tasks.stale(later, 100).await.unwrap().len(), 2, "{:?}", tasks.stale(later, 100).await);
    assert_eq!(tasks.requeue(&old.id, later, 2).await.unwrap(), Requeue::Requeued);
    assert_eq!(tasks.requeue(&old.id, later, 2).await.unwrap(), Requeue::Exhausted);
    assert_eq!(tasks.get(&old.id, later).await.unwrap().unwrap().requeues, 2);
    assert_eq!(tasks.requeue(&done.id, later, 2).await.unwrap(), Requeue::NotPending);

    assert!(tasks.complete(&old.id, &TaskOutcome::Failed("given up".into()), later).await.unwrap());
    let much_later = later + Duration::hours(1);
    assert_eq!(tasks.stale(much_later, 100).await.unwrap(), vec![young.id]);
    assert_eq!(tasks.requeue(&old.id, much_later, 5).await.unwrap(), Requeue::NotPending);
}

on_both_backends!(
    stale_pending_tasks_are_found_and_requeued_a_bounded_number_of_times,
    a_created_task_reads_back_pending,
    an_expired_task_reads_as_absent,
    completion_is_written_once,
    one_key_names_one_task_for_24_hours,
    concurrent_creations_with_one_key_make_one_task,
    discarding_removes_the_task_and_frees_its_key,
);
