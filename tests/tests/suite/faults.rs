//! The release binaries with their dependencies misbehaving: a fault-injecting proxy
//! (`stratus_tests::faults`) between every function and DynamoDB Local and moto, scripted per
//! case from the static table in `stratus_tests::reliability` (which RELIABILITY.md renders).
//!
//! Each case scripts "the next N calls of operation X get fault Y", sends one request, and
//! asserts the documented answer (never a 500: success after the SDK's retries, with exactly one
//! more attempt per fault, or 503 with `Retry-After`, with exactly the SDK's attempts and no
//! more), then that nothing accepted was lost or done twice. Functions run as on AWS
//! (`Gateway::as_on_aws`): Lambda kills one at its timeout, and API Gateway answers a function
//! that failed, died or timed out with its own 500, which the cases would catch.
//!
//! First, the proxy itself, against a stand-in upstream.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use stratus_tests::faults::{Fault, FaultProxy, NO_ANSWER};
use stratus_tests::reliability::{self, Case, Dependency, Expect, HTTP_CASES, SDK_ATTEMPTS, WORKER_CASES};
use stratus_tests::runtime_api::{Gateway, LocalStack};
use stratus_tests::{PASSWORD, Reply, registration};

// ------------------------------------------------------------------ the proxy

/// An upstream that counts the requests it applied and answers `{"applied": n}`.
async fn counting_upstream() -> (String, Arc<AtomicUsize>) {
    let applied = Arc::new(AtomicUsize::new(0));
    let counter = applied.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            ([("content-type", "application/x-amz-json-1.0")], json!({"applied": n}).to_string())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, applied)
}

async fn call(proxy: &FaultProxy, target: &str) -> Result<reqwest::Response, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&proxy.url)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}")
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_each_fault_in_the_services_own_words() {
    let (upstream, applied) = counting_upstream().await;
    let proxy = FaultProxy::start(upstream, None).await.unwrap();
    let cases = [
        (
            "DynamoDB_20120810.PutItem",
            Fault::ThroughputExceeded,
            400,
            "ProvisionedThroughputExceededException",
        ),
        ("DynamoDB_20120810.PutItem", Fault::Throttle, 400, "ThrottlingException"),
        ("DynamoDB_20120810.PutItem", Fault::InternalError, 500, "InternalServerError"),
        ("TrentService.Sign", Fault::InternalError, 500, "KMSInternalException"),
        ("AmazonSQS.SendMessage", Fault::Throttle, 400, "RequestThrottled"),
        ("secretsmanager.GetSecretValue", Fault::Unavailable, 503, "ServiceUnavailable"),
    ];
    for (target, fault, status, code) in cases {
        let operation = target.rsplit('.').next().unwrap();
        proxy.fail(operation, 1, fault);
        let answer = call(&proxy, target).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{target} {fault:?}");
        assert_eq!(answer.headers()["x-amzn-errortype"], code);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["__type"], code);
    }
    assert_eq!(applied.load(Ordering::SeqCst), 0, "no fault above reaches the upstream");
    // SES v2 is REST-JSON: its throttling is a 429.
    proxy.fail("SendEmail", 1, Fault::Throttle);
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/v2/email/outbound-emails", proxy.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(answer.headers()["x-amzn-errortype"], "TooManyRequestsException");
    // Through, untouched, once the script is spent.
    let answer = call(&proxy, "DynamoDB_20120810.GetItem").await.unwrap();
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"applied": 1}));
    let calls = proxy.calls();
    assert_eq!(calls.len(), 8);
    assert!(calls[..7].iter().all(|c| !c.forwarded && c.fault.is_some()), "{calls:?}");
    assert!(calls[7].forwarded && calls[7].fault.is_none() && calls[7].status == 200, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_resets_before_or_after_applying_and_delays() {
    let (upstream, applied) = counting_upstream().await;
    let proxy = FaultProxy::start(upstream, None).await.unwrap();

    proxy.fail("PutItem", 1, Fault::ResetBeforeForwarding);
    let error = call(&proxy, "DynamoDB_20120810.PutItem").await.expect_err("the connection is reset");
    assert!(!error.is_status(), "{error}");
    assert_eq!(applied.load(Ordering::SeqCst), 0, "reset before forwarding: nothing applied");

    proxy.fail("PutItem", 1, Fault::ResetAfterApplied);
    let error = call(&proxy, "DynamoDB_20120810.PutItem").await.expect_err("the connection is reset");
    assert!(!error.is_status(), "{error}");
    assert_eq!(applied.load(Ordering::SeqCst), 1, "reset after applied: applied, the answer lost");

    proxy.fail("GetItem", 1, Fault::Latency(300));
    let started = std::time::Instant::now();
    let answer = call(&proxy, "DynamoDB_20120810.GetItem").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"applied": 2}));

    // A call after `skip` others of the same operation.
    proxy.fail_after("GetItem", 1, Fault::Throttle);
    assert_eq!(call(&proxy, "DynamoDB_20120810.GetItem").await.unwrap().status(), 200);
    assert_eq!(call(&proxy, "DynamoDB_20120810.GetItem").await.unwrap().status(), 400);
    assert_eq!(proxy.pending(), 0);

    let calls = proxy.calls();
    let seen: Vec<(u16, bool, Option<Fault>)> =
        calls.iter().map(|c| (c.status, c.forwarded, c.fault)).collect();
    assert_eq!(
        seen,
        [
            (NO_ANSWER, false, Some(Fault::ResetBeforeForwarding)),
            (NO_ANSWER, true, Some(Fault::ResetAfterApplied)),
            (200, true, Some(Fault::Latency(300))),
            (200, true, None),
            (400, false, Some(Fault::Throttle)),
        ]
    );
    assert_eq!(proxy.attempts("PutItem"), 2);
}

// ------------------------------------------------------------------ the rig

/// A stack whose functions reach every engine through a proxy of its own, one per dependency.
struct Rig {
    api: Gateway,
    proxies: BTreeMap<Dependency, FaultProxy>,
    /// A sender identity SES (moto) has verified: forgot-password mails through SES.
    _sender: String,
}

const ORIGIN_REFRESH: Duration = Duration::from_secs(1);

impl Rig {
    /// `timeouts`: functions given a short timeout of their own.
    async fn start(timeouts: &[(&str, Duration)]) -> Self {
        let stack =
            LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
        let sender = format!("sender-{}@example.com", uuid::Uuid::new_v4().simple());
        aws_sdk_sesv2::Client::new(stack.sdk())
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .expect("moto verifies the identity at once");
        let mut proxies = BTreeMap::new();
        let mut api = Gateway::new(stack).as_on_aws();
        for dependency in Dependency::ALL {
            let upstream = api.stack().endpoints()[dependency.endpoint_variable()].clone();
            let proxy = FaultProxy::start(upstream, None).await.unwrap();
            api = api.with_var(dependency.endpoint_variable(), &proxy.url);
            proxies.insert(dependency, proxy);
        }
        for limit in [
            "REGISTER_RATE_LIMIT",
            "LOGIN_RATE_LIMIT",
            "LOGIN_USER_RATE_LIMIT",
            "RECOVERY_RATE_LIMIT",
            "MAIL_RATE_LIMIT",
            "MESSAGE_RATE_LIMIT",
            "ADD_RATE_LIMIT",
            "PASSWORD_WORK_RATE_LIMIT",
        ] {
            api = api.with_var(limit, "100000");
        }
        api = api
            .with_var("MAIL_SENDER_IDENTITY", &sender)
            .with_var("MAIL_FROM", &sender)
            .with_var("ORIGIN_VERIFY_REFRESH_SECONDS", ORIGIN_REFRESH.as_secs().to_string())
            .with_var("STALE_TASK_SECONDS", "1");
        for (binary, timeout) in timeouts {
            api = api.with_timeout(binary, *timeout);
        }
        Self { api, proxies, _sender: sender }
    }

    fn proxy(&self, dependency: Dependency) -> &FaultProxy {
        &self.proxies[&dependency]
    }

    fn clear(&self) {
        self.proxies.values().for_each(FaultProxy::clear);
    }

    async fn context(&self) -> String {
        let calls: Vec<String> = self
            .proxies
            .iter()
            .flat_map(|(d, p)| p.calls().into_iter().map(move |c| format!("{}: {c:?}", d.name())))
            .collect();
        format!("calls:\n{}\n{}", calls.join("\n"), self.api.output().await)
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn fresh_name() -> String {
    format!("f{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A registered user and a logged-in session, made with no fault scripted.
struct Account {
    username: String,
    access: String,
    refresh: String,
}

async fn account(api: &Gateway) -> Account {
    let username = fresh_name();
    let reply =
        api.post_json("/register", &registration(&username, &format!("{username}@example.com"))).await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    let tokens = api.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(tokens.status, 200, "{}", text(&tokens));
    let tokens = tokens.json();
    Account {
        username,
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// What a case's request needs, made before its fault is scripted.
enum Prepared {
    None,
    Registration { username: String },
    Account(Account),
    Message { digest: String, message: String },
    Task { account: Account, location: String },
}

async fn prepare(rig: &Rig, case: &Case) -> Prepared {
    let api = &rig.api;
    match case.function {
        "register" => Prepared::Registration { username: fresh_name() },
        "login" | "refresh-token" | "me" | "add" => Prepared::Account(account(api).await),
        "create-message" => Prepared::Message { digest: String::new(), message: fresh_name() },
        "get-message" => {
            let message = fresh_name();
            let stored = api.post_json("/messages", &json!({"message": message})).await;
            assert_eq!(stored.status, 201, "{}", text(&stored));
            Prepared::Message { digest: stored.json()["digest"].as_str().unwrap().to_owned(), message }
        }
        "result" => {
            let account = account(api).await;
            let accepted = api.post_with_token("/add", &account.access, &json!({"a": 2, "b": 3})).await;
            assert_eq!(accepted.status, 202, "{}", text(&accepted));
            let location = accepted.header("location").unwrap().to_owned();
            Prepared::Task { account, location }
        }
        "forgot-password" => Prepared::Account(account(api).await),
        "health" => {
            // Past the refresh interval: this request reads the secret again.
            assert_eq!(api.get("/health").await.status, 200);
            tokio::time::sleep(ORIGIN_REFRESH + Duration::from_millis(200)).await;
            Prepared::None
        }
        other => panic!("no request for {other}"),
    }
}

/// The case's request, and the status it succeeds with.
async fn send(api: &Gateway, case: &Case, prepared: &Prepared) -> (Reply, Vec<u16>) {
    match (case.function, prepared) {
        ("register", Prepared::Registration { username }) => {
            let body = registration(username, &format!("{username}@example.com"));
            (api.post_json("/register", &body).await, vec![201])
        }
        ("login", Prepared::Account(account)) => {
            let body = json!({"username": account.username, "password": PASSWORD});
            (api.post_json("/login", &body).await, vec![200])
        }
        ("refresh-token", Prepared::Account(account)) => {
            (api.post_json("/token/refresh", &json!({"refresh_token": account.refresh})).await, vec![200])
        }
        ("me", Prepared::Account(account)) => {
            (api.get_with_token("/users/me", &account.access).await, vec![200])
        }
        // The first write of a message answers 201; a write the SDK retried after it was
        // applied finds it stored, which is 200 (the documented answer for a stored message).
        ("create-message", Prepared::Message { message, .. }) => {
            (api.post_json("/messages", &json!({"message": message})).await, vec![201, 200])
        }
        ("get-message", Prepared::Message { digest, .. }) => {
            (api.get(&format!("/messages/{digest}")).await, vec![200])
        }
        ("add", Prepared::Account(account)) => {
            (api.post_with_token("/add", &account.access, &json!({"a": 40, "b": 2})).await, vec![202])
        }
        ("result", Prepared::Task { account, location }) => {
            (api.get_with_token(location, &account.access).await, vec![200])
        }
        ("forgot-password", Prepared::Account(account)) => {
            let body = json!({"email": format!("{}@example.com", account.username)});
            (api.post_json("/password/forgot", &body).await, vec![202])
        }
        ("health", Prepared::None) => (api.get("/health").await, vec![200]),
        (function, _) => panic!("{function}: prepared for another function"),
    }
}

/// Hands the queue to the worker until `location`'s task is no longer pending (bounded).
async fn until_done(api: &Gateway, token: &str, location: &str) -> Value {
    for _ in 0..20 {
        let result = api.get_with_token(location, token).await;
        assert_eq!(result.status, 200, "{}", text(&result));
        let body = result.json();
        if body["status"] != "pending" {
            return body;
        }
        let delivery = api.deliver_queue().await;
        api.retry_now(&delivery).await;
    }
    panic!("the task at {location} stayed pending");
}

/// Nothing accepted was lost or done twice, and an honest retry gets a clean answer.
async fn check_kept(rig: &Rig, case: &Case, prepared: &Prepared, reply: &Reply, context: &str) {
    let api = &rig.api;
    match (case.function, prepared) {
        ("register", Prepared::Registration { username }) => {
            let users = stratus_aws::dynamodb::DynamoUserStore::new(
                aws_sdk_dynamodb::Client::new(api.stack().sdk()),
                api.stack().table(&stratus_aws::dynamodb::tables::USERS),
            );
            use stratus_core::ports::UserStore as _;
            let name = stratus_core::domain::Username::parse(username).unwrap();
            let before = users.get(&name).await.unwrap();
            if reply.status == 201 {
                assert_eq!(
                    before.as_ref().map(|u| u.id.to_string()),
                    Some(reply.json()["id"].as_str().unwrap().to_owned()),
                    "{context}"
                );
            }
            // The honest retry: 409 if the first attempt made the account, else 201.
            let body = registration(username, &format!("{username}@example.com"));
            let again = api.post_json("/register", &body).await;
            let expected = if before.is_some() { 409 } else { 201 };
            assert_eq!(again.status, expected, "retry: {}\n{context}", text(&again));
            let after = users.get(&name).await.unwrap().expect("one account");
            if let Some(before) = before {
                assert_eq!(before.id, after.id, "the retry made no second account");
            }
            let email = stratus_core::domain::Email::parse(&format!("{username}@example.com")).unwrap();
            assert_eq!(users.find_by_email(&email).await.unwrap().map(|u| u.id), Some(after.id));
        }
        ("login", Prepared::Account(account)) => {
            let tokens = if reply.status == 200 {
                reply.json()
            } else {
                let again = api
                    .post_json("/login", &json!({"username": account.username, "password": PASSWORD}))
                    .await;
                assert_eq!(again.status, 200, "retry: {}\n{context}", text(&again));
                again.json()
            };
            let renewed =
                api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
            assert_eq!(
                renewed.status,
                200,
                "the session's refresh token works: {}\n{context}",
                text(&renewed)
            );
        }
        ("refresh-token", Prepared::Account(account)) => {
            let pair = if reply.status == 200 {
                reply.json()
            } else {
                // The honest retry, with the same token: the session must not be revoked.
                let again = api.post_json("/token/refresh", &json!({"refresh_token": account.refresh})).await;
                assert_eq!(again.status, 200, "retry: {}\n{context}", text(&again));
                again.json()
            };
            let next =
                api.post_json("/token/refresh", &json!({"refresh_token": pair["refresh_token"]})).await;
            assert_eq!(next.status, 200, "the family is not revoked: {}\n{context}", text(&next));
        }
        ("create-message", Prepared::Message { message, .. }) => {
            let digest = if reply.status == 503 {
                let again = api.post_json("/messages", &json!({"message": message})).await;
                assert!([200, 201].contains(&again.status), "retry: {}\n{context}", text(&again));
                again.json()["digest"].as_str().unwrap().to_owned()
            } else {
                reply.json()["digest"].as_str().unwrap().to_owned()
            };
            let found = api.get(&format!("/messages/{digest}")).await;
            assert_eq!(found.status, 200, "{context}");
            assert_eq!(found.json()["message"], message.as_str());
        }
        ("add", Prepared::Account(account)) => {
            if reply.status == 202 {
                let location = reply.header("location").unwrap().to_owned();
                let done = until_done(api, &account.access, &location).await;
                assert_eq!(done["status"], "succeeded", "{done}\n{context}");
                assert_eq!(done["value"], 42);
            } else {
                // Nothing accepted: no task of this user may wait for ever. Whatever was
                // written is queued again by the sweeper, and done.
                no_task_pending_for_ever(api, context).await;
            }
        }
        ("result", Prepared::Task { account, location }) => {
            let done = until_done(api, &account.access, location).await;
            assert_eq!(done["status"], "succeeded", "{done}\n{context}");
        }
        _ => {
            if reply.status == 503 {
                let (again, ok) = send(api, case, prepared).await;
                assert!(ok.contains(&again.status), "retry: {} {}\n{context}", again.status, text(&again));
            }
        }
    }
}

/// Runs the sweeper past the stale age and the worker until no task is pending.
async fn no_task_pending_for_ever(api: &Gateway, context: &str) {
    let dynamodb = aws_sdk_dynamodb::Client::new(api.stack().sdk());
    let table = api.stack().table(&stratus_aws::dynamodb::tables::TASKS);
    for _ in 0..10 {
        let pending = dynamodb
            .scan()
            .table_name(&table)
            .filter_expression("#s = :p")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S("pending".into()))
            .send()
            .await
            .unwrap()
            .count;
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        api.invoke("sweeper", &json!({"source": "aws.events"})).await.expect("the sweeper runs");
        for _ in 0..3 {
            let delivery = api.deliver_queue().await;
            api.retry_now(&delivery).await;
        }
    }
    panic!("a task stayed pending\n{context}");
}

async fn run_case(rig: &Rig, case: &Case) {
    let prepared = prepare(rig, case).await;
    rig.clear();
    let proxy = rig.proxy(case.dependency);
    proxy.fail(case.operation, case.times, case.fault);
    let (reply, success) = send(&rig.api, case, &prepared).await;
    let met = proxy.calls().iter().filter(|c| c.operation == case.operation && c.fault.is_some()).count();
    let attempts = proxy.attempts(case.operation);
    proxy.clear_faults();
    let context = format!("{case:?}: {} {}\n{}", reply.status, text(&reply), rig.context().await);
    assert_ne!(reply.status, 500, "a dependency's fault is never a 500\n{context}");
    let latency = matches!(case.fault, Fault::Latency(_));
    match case.expect {
        Expect::Success => {
            assert!(success.contains(&reply.status), "expected {success:?}\n{context}");
            // One more attempt per fault, within the budget; never more than the budget (a
            // fault past it is one the function answers without, as forgot-password does).
            if case.times < SDK_ATTEMPTS {
                assert_eq!(met, case.times, "faults met\n{context}");
            } else {
                // Past the budget: the call gave up after exactly SDK_ATTEMPTS; a second call of
                // the operation running beside it (the origin secret reads two stages at once)
                // may meet the rest.
                assert!((SDK_ATTEMPTS..=case.times).contains(&met), "faults met: {met}\n{context}");
            }
            if !latency && case.times < SDK_ATTEMPTS {
                assert!(attempts > met, "the SDK tried again after the faults\n{context}");
            }
        }
        Expect::Unavailable => {
            assert_eq!(reply.status, 503, "{context}");
            assert_eq!(reply.header("retry-after"), Some("1"), "{context}");
            if !latency {
                assert_eq!(met, SDK_ATTEMPTS, "the SDK's budget, exactly\n{context}");
            }
        }
    }
    if let Fault::Latency(ms) = case.fault {
        // The late call reaches the engine after the answer: let it land, so that what is
        // checked next (an honest retry among it) meets it, as a client's retry would.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    check_kept(rig, case, &prepared, &reply, &context).await;
}

/// Beyond `reliability::SLOW`'s latency: the functions given a short timeout for it.
const SHORT_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_function_answers_its_dependencies_faults_as_documented() {
    let rig = Rig::start(&[]).await;
    let mut tried = 0;
    for case in HTTP_CASES.iter().filter(|c| !matches!(c.fault, Fault::Latency(_))) {
        run_case(&rig, case).await;
        tried += 1;
    }
    println!("{tried} faults through the HTTP functions, each answered as documented");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_slower_than_the_function_is_a_503_before_lambda_times_it_out() {
    let slow: Vec<&Case> = HTTP_CASES.iter().filter(|c| matches!(c.fault, Fault::Latency(_))).collect();
    let timeouts: Vec<(&str, Duration)> = slow.iter().map(|c| (c.function, SHORT_TIMEOUT)).collect();
    let rig = Rig::start(&timeouts).await;
    for case in &slow {
        let Fault::Latency(ms) = case.fault else { unreachable!() };
        assert!(Duration::from_millis(ms) > SHORT_TIMEOUT);
        run_case(&rig, case).await;
    }
}

// ------------------------------------------------------------------ the worker

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_applies_every_task_once_through_partial_failures_and_redelivery() {
    let rig = Rig::start(&[("worker", SHORT_TIMEOUT)]).await;
    let api = &rig.api;
    let account = account(api).await;
    for case in WORKER_CASES {
        // A batch of tasks, on the queue before the fault is scripted.
        let mut locations = Vec::new();
        for i in 0..4 {
            let accepted = api.post_with_token("/add", &account.access, &json!({"a": i, "b": 100})).await;
            assert_eq!(accepted.status, 202, "{}", text(&accepted));
            locations.push((i, accepted.header("location").unwrap().to_owned()));
        }
        rig.clear();
        // Half the batch: their calls fault, the others' do not.
        let proxy = rig.proxy(case.dependency);
        for (_, location) in locations.iter().step_by(2) {
            let task_id = location.rsplit('/').next().unwrap();
            proxy.fail_matching(case.operation, task_id, case.times, case.fault);
        }
        // The tasks as the table holds them: the result function would meet the faults too.
        let tasks = stratus_aws::dynamodb::DynamoTaskStore::new(
            aws_sdk_dynamodb::Client::new(api.stack().sdk()),
            api.stack().table(&stratus_aws::dynamodb::tables::TASKS),
        );
        let read = async |location: &str| {
            use stratus_core::ports::TaskStore as _;
            let id = stratus_core::domain::TaskId::parse(location.rsplit('/').next().unwrap()).unwrap();
            tasks.get(&id, time::OffsetDateTime::now_utc()).await.unwrap().expect("the task exists")
        };
        let mut partly_failed = false;
        for _ in 0..12 {
            let delivery = api.deliver_queue().await;
            partly_failed |= !delivery.failed.is_empty();
            api.retry_now(&delivery).await;
            let mut pending = 0;
            for (_, location) in &locations {
                pending += usize::from(
                    read(location.as_str()).await.status == stratus_core::domain::TaskStatus::Pending,
                );
            }
            if pending == 0 {
                break;
            }
        }
        let context = format!("{case:?}\n{}", rig.context().await);
        if case.times > SDK_ATTEMPTS || matches!(case.fault, Fault::Latency(_)) {
            assert!(partly_failed, "the fault failed part of a batch\n{context}");
        }
        // Exactly once: a completion is conditional on the task being pending, so each task
        // took one write that succeeded; any other was refused by its condition.
        let applied = rig
            .proxy(Dependency::DynamoDb)
            .calls()
            .iter()
            .filter(|c| c.operation == "UpdateItem" && c.upstream == Some(200))
            .count();
        assert_eq!(applied, locations.len(), "one applied completion per task\n{context}");
        rig.clear();
        for (i, location) in &locations {
            let result = api.get_with_token(location, &account.access).await.json();
            assert_eq!(result["status"], "succeeded", "{result}\n{context}");
            assert_eq!(result["value"], i + 100, "{context}");
        }
    }
}

// ------------------------------------------------------------------ RELIABILITY.md

#[test]
fn reliability_md_is_the_one_the_fault_table_renders() {
    let path = stratus_tests::workspace_root().join("RELIABILITY.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let rendered = reliability::render();
    if committed != rendered {
        // What it should be, beside the build, for a look at the difference.
        let fresh = std::env::temp_dir().join(format!("RELIABILITY-{}.md", std::process::id()));
        let _ = std::fs::write(&fresh, &rendered);
        panic!(
            "{} is stale (the fault table renders {}): run `cargo run -p stratus-tests --bin stratus-reliability`",
            path.display(),
            fresh.display()
        );
    }
}
