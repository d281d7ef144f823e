//! Asynchronous tasks over HTTP and through the worker, on both backends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use stratus_core::clock::{Clock, ManualClock};
use stratus_core::domain::{Idempotency, Number, Task, TaskId, TaskOutcome, Username};
use stratus_core::ports::{QueueError, Requeue, StoreError, Submitted, TaskQueue, TaskStore};
use stratus_tests::{Api, Backend, LocalWiring, Reply, on_both_backends, wiring};
use worker::aws_lambda_events::event::sqs::SqsEvent;

/// Polls a task until it is ready (bounded: 100 polls, 10 s at most).
async fn await_result(api: &Api, token: &str, location: &str) -> Value {
    for _ in 0..100 {
        let reply = api.get_with_token(location, token).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        let body = reply.json();
        if body["ready"] == true {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task at {location} never became ready");
}

async fn submit(api: &Api, token: &str, body: Value) -> (String, Value) {
    let reply = api.post_with_token("/add", token, &body).await;
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let location = reply.header("location").expect("a Location").to_owned();
    (location, reply.json())
}

/// POST /add as the token's user with an Idempotency-Key given as raw header bytes, so a test
/// can send keys that are not ASCII as well as ordinary ones.
async fn add_with_key(api: &Api, token: &str, key: &[u8], body: Value) -> Reply {
    let key = reqwest::header::HeaderValue::from_bytes(key).expect("a header value");
    api.send(api.http.post(api.url("/add")).bearer_auth(token).header("idempotency-key", key).json(&body))
        .await
}

/// local-api over `backend` whose queue records every task it is asked to enqueue.
async fn api_recording_enqueues(backend: Backend) -> (Api, Arc<RecordingQueue>) {
    let mut wiring = wiring(backend).await;
    let recording =
        Arc::new(RecordingQueue { inner: Some(wiring.queue.clone()), enqueued: Mutex::default() });
    wiring.queue = recording.clone();
    (Api::start_with(wiring).await, recording)
}

async fn five_plus_ten_is_fifteen(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("adder").await;
    let (location, accepted) = submit(&api, &token, json!({"a": 5, "b": 10})).await;
    assert_eq!(accepted["status"], "pending");
    let id = accepted["task_id"].as_str().unwrap();
    assert_eq!(location, format!("/result/{id}"));
    let result = await_result(&api, &token, &location).await;
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["successful"], true);
    assert_eq!(result["value"], json!(15));
    assert_eq!(result["error"], Value::Null);
    assert!(result["completed_at"].is_string());
}

async fn large_integers_and_decimals_are_exact(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("exact").await;
    let cases = [
        ("1180591620717411303425", "1180591620717411303425", "2361183241434822606850"),
        ("0.1", "0.2", "0.3"),
        ("-7", "2.5", "-4.5"),
        ("1e3", "0.001", "1000.001"),
        (
            "123456789012345678901234567890.000000000000000000001",
            "1",
            "123456789012345678901234567891.000000000000000000001",
        ),
    ];
    for (a, b, sum) in cases {
        let body = format!(r#"{{"a": {a}, "b": {b}}}"#);
        let reply = api
            .send(
                api.http
                    .post(api.url("/add"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, 202);
        let location = reply.header("location").unwrap().to_owned();
        let result = await_result(&api, &token, &location).await;
        let reply = api.get_with_token(&location, &token).await;
        // Compare the JSON text itself: a JSON parser would round through f64.
        let text = String::from_utf8(reply.body).unwrap();
        assert!(text.contains(&format!(r#""value":{sum}"#)), "{a} + {b}: {text}");
        assert_eq!(result["status"], "succeeded");
    }
}

async fn bad_operands_are_400(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("badops").await;
    for body in [
        json!({"a": "5", "b": 10}),
        json!({"a": true, "b": 10}),
        json!({"a": null, "b": 10}),
        json!({"a": [5], "b": 10}),
        json!({"a": {"n": 5}, "b": 10}),
        json!({"a": 5}),
        json!({"b": 5}),
        json!({"a": 5, "b": 10, "c": 1}),
        json!([5, 10]),
    ] {
        api.post_with_token("/add", &token, &body).await.problem(400);
    }
    for raw in [
        r#"{"a": NaN, "b": 1}"#,
        r#"{"a": Infinity, "b": 1}"#,
        r#"{"a": 1e999999999, "b": 1}"#,
        r#"{"a": 01, "b": 1}"#,
        "{",
    ] {
        let reply = api
            .send(
                api.http
                    .post(api.url("/add"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
        reply.problem(400);
    }
    let missing = api.post_with_token("/add", &token, &json!({"a": 1})).await.problem(400);
    assert_eq!(missing["errors"][0]["field"], "b");
    let wrong = api.post_with_token("/add", &token, &json!({"a": "x", "b": false})).await.problem(400);
    assert_eq!(wrong["errors"].as_array().unwrap().len(), 2);
}

async fn tasks_need_a_token_and_belong_to_their_owner(backend: Backend) {
    let api = Api::start(backend).await;
    api.post_json("/add", &json!({"a": 1, "b": 2})).await.problem(401);
    let owner = api.user_token("owner1").await;
    let other = api.user_token("other1").await;
    let (location, _) = submit(&api, &owner, json!({"a": 1, "b": 2})).await;
    await_result(&api, &owner, &location).await;
    api.get(&location).await.problem(401);
    api.get_with_token(&location, &other).await.problem(404);
    api.get_with_token(&format!("/result/{}", uuid::Uuid::new_v4()), &owner).await.problem(404);
    for malformed in ["not-a-uuid", "123", "%2e%2e%2f", &format!("{{{}}}", uuid::Uuid::new_v4())] {
        api.get_with_token(&format!("/result/{malformed}"), &owner).await.problem(400);
    }
}

/// Counts what is enqueued, and can refuse like an unreachable queue.
struct RecordingQueue {
    inner: Option<Arc<dyn TaskQueue>>,
    enqueued: Mutex<Vec<TaskId>>,
}

#[async_trait]
impl TaskQueue for RecordingQueue {
    async fn enqueue(&self, id: &TaskId) -> Result<(), QueueError> {
        self.enqueued.lock().unwrap().push(*id);
        match &self.inner {
            Some(inner) => inner.enqueue(id).await,
            None => Err(QueueError::Unavailable("connection refused".into())),
        }
    }
}

async fn an_unreachable_queue_is_503_and_leaves_no_task(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let refusing: Option<Arc<dyn TaskQueue>> = match backend {
        // Nothing behind the port: the double refuses as an unreachable queue would.
        Backend::Memory => None,
        // A real SQS client whose endpoint refuses connections.
        Backend::DynamoDb => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let config = aws_sdk_sqs::config::Builder::from(&stratus_aws::sdk_config().await)
                .endpoint_url(format!("http://{closed}"))
                .build();
            let client = aws_sdk_sqs::Client::from_conf(config);
            Some(Arc::new(stratus_aws::sqs::SqsTaskQueue::new(
                client,
                format!("http://{closed}/000000000000/tasks"),
            )))
        }
    };
    let recording = Arc::new(RecordingQueue { inner: refusing, enqueued: Mutex::default() });
    wiring.queue = recording.clone();
    let tasks = wiring.tasks.clone();
    let api = Api::start_with(wiring).await;
    let token = api.user_token("unlucky").await;
    let submit_with_key = || add_with_key(&api, &token, b"k-503", json!({"a": 1, "b": 2}));
    submit_with_key().await.problem(503);
    let attempted = recording.enqueued.lock().unwrap().clone();
    assert_eq!(attempted.len(), 1, "the handler tried the queue once");
    assert!(
        tasks.get(&attempted[0], time::OffsetDateTime::now_utc()).await.unwrap().is_none(),
        "an orphan task was left"
    );
    // The idempotency key was released too: a retry is a fresh attempt, not a replay of the failure.
    submit_with_key().await.problem(503);
    assert_eq!(recording.enqueued.lock().unwrap().len(), 2);
}

async fn the_same_idempotency_key_gives_the_same_task(backend: Backend) {
    let (api, recording) = api_recording_enqueues(backend).await;
    let token = api.user_token("idem").await;
    let first = add_with_key(&api, &token, b"order-42", json!({"a": 2, "b": 3})).await;
    let second = add_with_key(&api, &token, b"order-42", json!({"a": 2, "b": 3})).await;
    assert_eq!((first.status, second.status), (202, 202));
    assert_eq!(first.json()["task_id"], second.json()["task_id"]);
    assert_eq!(recording.enqueued.lock().unwrap().len(), 1, "one message on the queue");

    add_with_key(&api, &token, b"order-42", json!({"a": 2, "b": 4})).await.problem(422);
    let other = add_with_key(&api, &token, b"order-43", json!({"a": 2, "b": 3})).await;
    assert_ne!(other.json()["task_id"], first.json()["task_id"]);
    // Keys are per user: another user's identical key is a different task.
    let stranger = api.user_token("stranger").await;
    let theirs = add_with_key(&api, &stranger, b"order-42", json!({"a": 2, "b": 3})).await;
    assert_ne!(theirs.json()["task_id"], first.json()["task_id"]);
    add_with_key(&api, &token, b"has space", json!({"a": 1, "b": 1})).await.problem(400);
    assert_eq!(recording.enqueued.lock().unwrap().len(), 3);
}

async fn one_idempotency_key_sent_concurrently_makes_one_task(backend: Backend) {
    let (api, recording) = api_recording_enqueues(backend).await;
    let token = api.user_token("racer").await;
    let replies = futures::future::join_all(
        (0..10).map(|_| add_with_key(&api, &token, b"checkout-7", json!({"a": 20, "b": 22}))),
    )
    .await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
            reply.json()["task_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(recording.enqueued.lock().unwrap().len(), 1, "one message on the queue");

    // A key that is not ASCII cannot be read, and must not be mistaken for no key at all.
    let unreadable = add_with_key(&api, &token, "café".as_bytes(), json!({"a": 20, "b": 22})).await;
    let problem = unreadable.problem(400);
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key", "{problem}");
    assert_eq!(recording.enqueued.lock().unwrap().len(), 1, "nothing more enqueued");
}

async fn a_pending_result_has_the_documented_shape(backend: Backend) {
    let mut wiring = wiring(backend).await;
    // Tasks go to a queue no worker reads, so they stay pending.
    wiring.queue = Arc::new(stratus_memory::MemoryQueue::new(Duration::from_secs(30), 3));
    let api = Api::start_with(wiring).await;
    let token = api.user_token("patient").await;
    let (location, accepted) = submit(&api, &token, json!({"a": 1, "b": 1})).await;
    let pending = api.get_with_token(&location, &token).await;
    assert_eq!(pending.status, 200);
    let body = pending.json();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["completed_at", "created_at", "error", "ready", "status", "successful", "task_id", "value"]
    );
    assert_eq!(body["task_id"], accepted["task_id"]);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["ready"], false);
    assert_eq!(body["successful"], false);
    assert_eq!(body["value"], Value::Null);
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["completed_at"], Value::Null);
    assert!(body["created_at"].is_string());
}

fn sqs_event(records: &[(&str, String, u32)]) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body, receives)| {
            json!({
                "messageId": id, "receiptHandle": format!("r-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": receives.to_string()},
                "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn new_task(tasks: &dyn TaskStore, now: time::OffsetDateTime) -> Task {
    let task = Task::new(
        Username::parse("direct").unwrap(),
        Number::parse("40").unwrap(),
        Number::parse("2").unwrap(),
        now,
    );
    assert_eq!(tasks.create(&task, None, now).await.unwrap(), Submitted::Created);
    task
}

fn message_for(task: &Task) -> String {
    json!({ "task_id": task.id }).to_string()
}

async fn a_duplicate_delivery_writes_the_result_once(backend: Backend) {
    let mut wiring: LocalWiring = wiring(backend).await;
    let start = time::OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(start));
    wiring.clock = clock.clone();
    let deps = worker::build(&wiring).await.expect("the worker builds");
    let task = new_task(wiring.tasks.as_ref(), start).await;
    let event = sqs_event(&[("m1", message_for(&task), 1), ("m2", message_for(&task), 1)]);
    assert!(deps.handle(event).await.batch_item_failures.is_empty());
    let first = wiring.tasks.get(&task.id, start).await.unwrap().unwrap();
    assert_eq!(first.value.as_ref().map(Number::to_string).as_deref(), Some("42"));

    clock.advance(time::Duration::seconds(30));
    let again = sqs_event(&[("m1", message_for(&task), 2)]);
    assert!(deps.handle(again).await.batch_item_failures.is_empty());
    let second = wiring.tasks.get(&task.id, start).await.unwrap().unwrap();
    assert_eq!(second.completed_at, first.completed_at, "the second delivery rewrote the result");
}

async fn only_the_poison_message_of_a_batch_fails(backend: Backend) {
    let wiring = wiring(backend).await;
    let now = time::OffsetDateTime::now_utc();
    let deps = worker::build(&wiring).await.expect("the worker builds");
    let good = new_task(wiring.tasks.as_ref(), now).await;
    let also_good = new_task(wiring.tasks.as_ref(), now).await;
    let unknown = json!({ "task_id": uuid::Uuid::new_v4() }).to_string();
    let event = sqs_event(&[
        ("ok-1", message_for(&good), 1),
        ("poison", "this is not a task".into(), 1),
        ("unknown", unknown, 1),
        ("ok-2", message_for(&also_good), 1),
    ]);
    let response = deps.handle(event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    // A task that does not exist has nothing left to apply: its message is let go, not retried.
    assert_eq!(failed, ["poison"]);
    for task in [good, also_good] {
        assert_eq!(
            wiring.tasks.get(&task.id, now).await.unwrap().unwrap().status,
            stratus_core::domain::TaskStatus::Succeeded
        );
    }
}

/// A store whose successful completions always fail, as if its table were throttled.
struct FailingSuccesses(Arc<dyn TaskStore>);

#[async_trait]
impl TaskStore for FailingSuccesses {
    async fn create(
        &self,
        task: &Task,
        key: Option<&Idempotency>,
        now: time::OffsetDateTime,
    ) -> Result<Submitted, StoreError> {
        self.0.create(task, key, now).await
    }
    async fn get(&self, id: &TaskId, now: time::OffsetDateTime) -> Result<Option<Task>, StoreError> {
        self.0.get(id, now).await
    }
    async fn complete(
        &self,
        id: &TaskId,
        outcome: &TaskOutcome,
        at: time::OffsetDateTime,
    ) -> Result<bool, StoreError> {
        match outcome {
            TaskOutcome::Succeeded(_) => Err(StoreError::Unavailable("throttled".into())),
            TaskOutcome::Failed(_) => self.0.complete(id, outcome, at).await,
        }
    }
    async fn discard(&self, task: &Task, key: Option<&Idempotency>) -> Result<(), StoreError> {
        self.0.discard(task, key).await
    }

    async fn stale(&self, before: time::OffsetDateTime, limit: usize) -> Result<Vec<TaskId>, StoreError> {
        self.0.stale(before, limit).await
    }

    async fn requeue(&self, id: &TaskId, at: time::OffsetDateTime, max: u32) -> Result<Requeue, StoreError> {
        self.0.requeue(id, at, max).await
    }
}

async fn a_task_that_keeps_failing_ends_failed_after_its_last_receive(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.tasks = Arc::new(FailingSuccesses(wiring.tasks.clone()));
    let api = Api::start_with(wiring).await;
    let token = api.user_token("doomed").await;
    let (location, _) = submit(&api, &token, json!({"a": 1, "b": 1})).await;
    let mut result = Value::Null;
    for _ in 0..100 {
        result = api.get_with_token(&location, &token).await.json();
        if result["ready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["successful"], false);
    let attempts = format!("{} attempts", stratus_core::ports::MAX_RECEIVES);
    assert!(result["error"].as_str().unwrap().contains(&attempts), "{result}");
}

async fn poison_messages_end_in_the_dead_letter_queue() {
    let wiring = wiring(Backend::Memory).await;
    let local_api::Consumer::Memory(queue) = wiring.consumer.clone() else { unreachable!("memory backend") };
    let _api = Api::start_with(wiring).await;
    queue.send("not a task message".into());
    for _ in 0..100 {
        if !queue.dead_letters().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queue.dead_letters(), ["not a task message"]);
    assert_eq!(queue.counts().1, 0, "nothing left in the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_queue_dead_letters_after_the_last_receive() {
    poison_messages_end_in_the_dead_letter_queue().await;
}

/// The same story on the SQS emulator: the redrive policy local-api gives the queue (the
/// template's) moves the message the worker keeps failing to `<queue>-dlq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_dead_letters_after_the_last_receive() {
    let wiring = wiring(Backend::DynamoDb).await;
    let local_api::Consumer::Sqs { client, queue_url } = wiring.consumer.clone() else {
        unreachable!("the DynamoDB backend consumes SQS")
    };
    let dlq_url = format!("{queue_url}-dlq");
    let _api = Api::start_with(wiring).await;
    client.send_message().queue_url(&queue_url).message_body("not a task message").send().await.unwrap();

    let mut dead = Vec::new();
    for _ in 0..30 {
        let received = client
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        dead.extend(received.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead, ["not a task message"]);
    let left = client
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let left = left
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages));
    assert_eq!(left.map(String::as_str), Some("0"), "nothing left in the task queue");
}

/// A task written and never queued (its add function died between the two steps) is queued
/// again by the sweeper once it has waited too long, and computed.
async fn the_sweeper_queues_a_forgotten_task(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    wiring.clock = clock.clone();
    let tasks = wiring.tasks.clone();
    let sweeper = sweeper::build(&wiring).await.expect("the sweeper builds");
    let _api = Api::start_with(wiring).await;
    let forgotten = new_task(tasks.as_ref(), clock.now()).await;
    clock.advance(time::Duration::minutes(9));
    assert_eq!(sweeper.sweep().await, sweeper::Swept::default(), "not stale yet");
    clock.advance(time::Duration::minutes(2));
    assert_eq!(sweeper.sweep().await.requeued, 1);
    assert_eq!(sweeper.sweep().await, sweeper::Swept::default(), "its wait restarted");
    for _ in 0..100 {
        if tasks.get(&forgotten.id, clock.now()).await.unwrap().unwrap().value.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the swept task was never computed");
}

/// A task nobody ever processes is not pending for ever: after the sweeper's last re-queue it
/// is failed, with the reason.
async fn a_task_never_processed_ends_failed(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    wiring.clock = clock.clone();
    let sweeper = sweeper::build(&wiring).await.expect("the sweeper builds");
    let tasks = wiring.tasks.clone();
    let task = new_task(tasks.as_ref(), clock.now()).await;
    for _ in 0..sweeper::MAX_REQUEUES {
        clock.advance(time::Duration::minutes(11));
        assert_eq!(sweeper.sweep().await.requeued, 1);
    }
    clock.advance(time::Duration::minutes(11));
    assert_eq!(sweeper.sweep().await.failed, 1);
    let failed = tasks.get(&task.id, clock.now()).await.unwrap().unwrap();
    assert_eq!(failed.status, stratus_core::domain::TaskStatus::Failed);
    assert!(failed.error.unwrap().contains("never processed"));
    clock.advance(time::Duration::minutes(11));
    assert_eq!(sweeper.sweep().await, sweeper::Swept::default(), "nothing pending is left");
}

on_both_backends!(
    the_sweeper_queues_a_forgotten_task,
    a_task_never_processed_ends_failed,
    five_plus_ten_is_fifteen,
    large_integers_and_decimals_are_exact,
    bad_operands_are_400,
    tasks_need_a_token_and_belong_to_their_owner,
    an_unreachable_queue_is_503_and_leaves_no_task,
    the_same_idempotency_key_gives_the_same_task,
    one_idempotency_key_sent_concurrently_makes_one_task,
    a_pending_result_has_the_documented_shape,
    a_duplicate_delivery_writes_the_result_once,
    only_the_poison_message_of_a_batch_fails,
    a_task_that_keeps_failing_ends_failed_after_its_last_receive,
);
