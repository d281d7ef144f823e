//! Faults that the per-function table (`faults.rs`) cannot script as "the next N calls of X":
//! a 5xx the SDK cannot read, Secrets Manager down while a function starts, a lost answer to
//! the rate limiter's count, SQS delivering a task late. Each runs the release binaries under
//! the Lambda Runtime API emulator as on AWS (`Gateway::as_on_aws`: a failed init or a crash is
//! API Gateway's 500), with every dependency behind a fault proxy of its own. RELIABILITY.md
//! lists them (`stratus_tests::reliability::SCENARIOS`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use stratus_tests::faults::{Fault, FaultProxy};
use stratus_tests::reliability::{Dependency, SDK_ATTEMPTS};
use stratus_tests::runtime_api::{Gateway, LocalStack, request};
use stratus_tests::{PASSWORD, Reply, registration};

/// A stack whose functions reach each engine through a proxy of its own, with `vars` set on
/// every function. Functions start on their first request, so a fault scripted before it meets
/// their init too.
async fn proxied(vars: &[(&str, &str)]) -> (Gateway, BTreeMap<Dependency, FaultProxy>) {
    let stack = LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    let mut api = Gateway::new(stack).as_on_aws();
    let mut proxies = BTreeMap::new();
    for dependency in Dependency::ALL {
        let upstream = api.stack().endpoints()[dependency.endpoint_variable()].clone();
        let proxy = FaultProxy::start(upstream, None).await.unwrap();
        api = api.with_var(dependency.endpoint_variable(), &proxy.url);
        proxies.insert(dependency, proxy);
    }
    for (name, value) in vars {
        api = api.with_var(name, *value);
    }
    (api, proxies)
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn fresh_name() -> String {
    format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A 503 as a dependency's fault must be answered: problem+json, `Retry-After`.
fn assert_unavailable(reply: &Reply, context: &str) {
    assert_eq!(reply.status, 503, "{}\n{context}", text(reply));
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{context}");
    assert_eq!(reply.header("retry-after"), Some("1"), "{context}");
}

// ------------------------------------------------------------------ a 5xx the SDK cannot read

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependencys_5xx_is_a_503_whatever_its_code_or_body() {
    // Five logins of one user from one address, within a minute.
    let (api, proxies) = proxied(&[("LOGIN_RATE_LIMIT", "100"), ("LOGIN_USER_RATE_LIMIT", "100")]).await;
    let username = fresh_name();
    let registered =
        api.post_json("/register", &registration(&username, &format!("{username}@example.com"))).await;
    assert_eq!(registered.status, 201, "{}", text(&registered));
    let login = json!({"username": username, "password": PASSWORD});
    let tokens = api.post_json("/login", &login).await;
    assert_eq!(tokens.status, 200, "{}", text(&tokens));
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();

    for fault in [Fault::UnknownServerError, Fault::GarbledServerError] {
        // DynamoDB (the account, for me), and KMS (the signature, for login): past the budget.
        let cases: [(Dependency, &str, &str); 2] =
            [(Dependency::DynamoDb, "GetItem", "me"), (Dependency::Kms, "Sign", "login")];
        for (dependency, operation, function) in cases {
            proxies.values().for_each(FaultProxy::clear);
            let proxy = &proxies[&dependency];
            proxy.fail(operation, SDK_ATTEMPTS + 1, fault);
            let reply = match function {
                "me" => api.get_with_token("/users/me", &access).await,
                _ => api.post_json("/login", &login).await,
            };
            let context =
                format!("{function}, {} {operation}: {:?}\n{}", dependency.name(), fault, api.output().await);
            assert_unavailable(&reply, &context);
            assert_eq!(
                proxy.attempts(operation),
                SDK_ATTEMPTS,
                "the SDK retried a 5xx, within its budget\n{context}"
            );
            proxy.clear_faults();
            let again = match function {
                "me" => api.get_with_token("/users/me", &access).await,
                _ => api.post_json("/login", &login).await,
            };
            assert_eq!(again.status, 200, "an honest retry: {}\n{context}", text(&again));
        }
    }
}

// ------------------------------------------------------------------ the origin secret at cold start

/// How many items `table` holds.
async fn items(api: &Gateway, table: &stratus_aws::dynamodb::tables::TableSpec) -> i32 {
    aws_sdk_dynamodb::Client::new(api.stack().sdk())
        .scan()
        .table_name(api.stack().table(table))
        .send()
        .await
        .unwrap()
        .count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_down_at_cold_start_is_503_and_nothing_written_until_it_is_back() {
    let (api, proxies) = proxied(&[]).await;
    let secrets = &proxies[&Dependency::SecretsManager];
    // Every read fails, each one past the SDK's budget: the sandboxes start with it down.
    secrets.fail("GetSecretValue", 1000, Fault::Unavailable);

    let health = api.get("/health").await;
    let context = api.output().await;
    assert_unavailable(&health, &context);
    let message = fresh_name();
    let write = api.post_json("/messages", &json!({"message": message})).await;
    assert_unavailable(&write, &api.output().await);
    // The guard cannot tell CloudFront from anyone now: a wrong value is not let in either,
    // and a request with none could never be.
    let guess = api
        .send_with_origin_secret(
            request("POST", "/messages", None, Some(&json!({"message": message}))),
            "a guess",
        )
        .await;
    assert_unavailable(&guess, &api.output().await);
    let direct =
        api.send_direct(request("POST", "/messages", None, Some(&json!({"message": message})))).await;
    direct.problem(403);
    assert_eq!(items(&api, &stratus_aws::dynamodb::tables::MESSAGES).await, 0, "nothing was written");
    assert_eq!(items(&api, &stratus_aws::dynamodb::tables::RATE_LIMITS).await, 0, "nothing was counted");
    assert!(
        secrets.attempts("GetSecretValue") >= 2 * SDK_ATTEMPTS,
        "each function's init read the current value, with retries"
    );

    // Back: the next request after the retry interval reads it, and is served.
    secrets.clear_faults();
    // Past the guard's wait between reads (`stratus_http::origin::UNKNOWN_SECRET_RETRY`, 1 s).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let health = api.get("/health").await;
    assert_eq!(health.status, 200, "{}\n{}", text(&health), api.output().await);
    let write = api.post_json("/messages", &json!({"message": message})).await;
    assert_eq!(write.status, 201, "{}\n{}", text(&write), api.output().await);
    let digest = write.json()["digest"].as_str().unwrap().to_owned();
    assert_eq!(api.get(&format!("/messages/{digest}")).await.json()["message"], message.as_str());
    let guess = api
        .send_with_origin_secret(
            request("POST", "/messages", None, Some(&json!({"message": "x"}))),
            "a guess",
        )
        .await;
    guess.problem(403);
}

// ------------------------------------------------------------------ the rate limiter's lost answers

const LIMIT: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_count_was_applied_and_its_answer_lost_is_counted_once() {
    let limit = LIMIT.to_string();
    let (api, proxies) =
        proxied(&[("MESSAGE_RATE_LIMIT", limit.as_str()), ("MESSAGE_RATE_WINDOW_SECONDS", "3600")]).await;
    let dynamodb = &proxies[&Dependency::DynamoDb];
    for i in 0..LIMIT {
        // The count is applied, its answer lost: the SDK sends the same count again.
        dynamodb.fail_matching("UpdateItem", "messages:source:", 1, Fault::ResetAfterApplied);
        let reply = api.post_json("/messages", &json!({"message": fresh_name()})).await;
        let context = format!("request {}\n{:?}\n{}", i + 1, dynamodb.calls(), api.output().await);
        assert_eq!(reply.status, 201, "{}\n{context}", text(&reply));
        assert_eq!(dynamodb.pending(), 0, "the fault was met\n{context}");
    }
    let counts: Vec<_> = dynamodb.calls().into_iter().filter(|c| c.operation == "UpdateItem").collect();
    assert_eq!(counts.len(), 2 * LIMIT, "each count was sent twice: {counts:?}");
    // The window holds exactly LIMIT requests: the next is refused.
    let refused = api.post_json("/messages", &json!({"message": fresh_name()})).await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
}

// ------------------------------------------------------------------ SQS delivering late

/// The worker's completions that changed a task: a completion is conditional on the task being
/// pending, so one the engine refused (400) changed nothing.
fn applied_completions(proxy: &FaultProxy) -> usize {
    proxy.calls().iter().filter(|c| c.operation == "UpdateItem" && c.upstream == Some(200)).count()
}

async fn result(api: &Gateway, token: &str, location: &str) -> Value {
    let reply = api.get_with_token(location, token).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    reply.json()
}

/// Runs the sweeper past the stale age until it has queued the one pending task again (its
/// cut-off counts whole seconds, so one sweep just past the age may find nothing yet).
async fn sweep_until_requeued(api: &Gateway) {
    let mut swept = Value::Null;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        swept = api.invoke("sweeper", &json!({"source": "aws.events"})).await.unwrap();
        if swept["requeued"] == 1 {
            return;
        }
    }
    panic!("the sweeper never queued the stale task again: {swept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_delivered_late_or_twice_is_applied_once_and_its_result_stands() {
    let (api, proxies) = proxied(&[("STALE_TASK_SECONDS", "1")]).await;
    let dynamodb = &proxies[&Dependency::DynamoDb];
    let username = fresh_name();
    let registered =
        api.post_json("/register", &registration(&username, &format!("{username}@example.com"))).await;
    assert_eq!(registered.status, 201, "{}", text(&registered));
    let tokens = api.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let sqs = aws_sdk_sqs::Client::new(api.stack().sdk());
    let queue = api.stack().queue_url().to_owned();

    // 1. The first delivery is late: the sweeper queues the task again meanwhile, the second
    // message is done first, and the first arrives after the task completed.
    let accepted = api.post_with_token("/add", &access, &json!({"a": 20, "b": 22})).await;
    assert_eq!(accepted.status, 202, "{}", text(&accepted));
    let location = accepted.header("location").unwrap().to_owned();
    let held = sqs
        .receive_message()
        .queue_url(&queue)
        .visibility_timeout(300)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(held.len(), 1, "the task's message, held back");
    sweep_until_requeued(&api).await;
    dynamodb.clear();
    let delivery = api.deliver_queue().await;
    assert_eq!((delivery.received, delivery.failed.len()), (1, 0), "{}", delivery.response);
    let done = result(&api, &access, &location).await;
    assert_eq!((done["status"].as_str(), done["value"].as_i64()), (Some("succeeded"), Some(42)), "{done}");
    // The late one.
    sqs.change_message_visibility()
        .queue_url(&queue)
        .receipt_handle(held[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let late = api.deliver_queue().await;
    assert_eq!((late.received, late.failed.len()), (1, 0), "acknowledged, not failed: {}", late.response);
    assert_eq!(applied_completions(dynamodb), 1, "{:?}\n{}", dynamodb.calls(), api.output().await);
    assert_eq!(result(&api, &access, &location).await, done, "the result stands");
    let swept = api.invoke("sweeper", &json!({"source": "aws.events"})).await.unwrap();
    assert_eq!(swept["requeued"], 0, "a done task is not queued again: {swept}");

    // 2. Both deliveries at once, in one batch: the worker computes them side by side, and
    // one completion is applied.
    let accepted = api.post_with_token("/add", &access, &json!({"a": 1, "b": 2})).await;
    assert_eq!(accepted.status, 202, "{}", text(&accepted));
    let location = accepted.header("location").unwrap().to_owned();
    sweep_until_requeued(&api).await;
    dynamodb.clear();
    let mut received = 0;
    for _ in 0..5 {
        let delivery = api.deliver_queue().await;
        assert!(delivery.failed.is_empty(), "{}", delivery.response);
        received += delivery.received;
        if received >= 2 {
            break;
        }
    }
    assert_eq!(received, 2, "the task's two messages");
    assert_eq!(applied_completions(dynamodb), 1, "{:?}\n{}", dynamodb.calls(), api.output().await);
    let done = result(&api, &access, &location).await;
    assert_eq!((done["status"].as_str(), done["value"].as_i64()), (Some("succeeded"), Some(3)), "{done}");
}
