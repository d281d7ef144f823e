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
use stratus_auth::totp::TotpSecret;
use stratus_tests::faults::{Fault, FaultProxy, NO_ANSWER};
use stratus_tests::oauth::{self, Browser};
use stratus_tests::reliability::EVENT_CASES;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_a_5xx_with_an_unknown_code_or_an_unreadable_body() {
    let (upstream, applied) = counting_upstream().await;
    let proxy = FaultProxy::start(upstream, None).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let call = || {
        client
            .post(&proxy.url)
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .body("{}")
            .send()
    };

    proxy.fail("GetItem", 1, Fault::UnknownServerError);
    let answer = call().await.unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    assert_eq!(answer.headers()["x-amzn-errortype"], "InternalFailure");
    assert_eq!(answer.json::<Value>().await.unwrap()["__type"], "InternalFailure");

    proxy.fail("GetItem", 1, Fault::GarbledServerError);
    let answer = call().await.unwrap();
    assert_eq!(answer.status().as_u16(), 502);
    assert!(answer.headers().get("x-amzn-errortype").is_none(), "no error code");
    assert_eq!(answer.headers()["content-type"], "text/html");
    let body = answer.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err(), "not JSON: {body}");

    assert_eq!(applied.load(Ordering::SeqCst), 0, "neither reaches the upstream");
    assert_eq!(call().await.unwrap().status().as_u16(), 200, "through, once the script is spent");
}

// ------------------------------------------------------------------ the rig

/// A stack whose functions reach every engine through a proxy of its own, one per dependency.
struct Rig {
    api: Gateway,
    proxies: BTreeMap<Dependency, FaultProxy>,
    /// The first admin, written straight into the users table as the documented bootstrap does.
    admin: String,
    /// The confidential client the OAuth cases go through, registered at first need.
    client: tokio::sync::OnceCell<oauth::Client>,
    /// A sender identity SES (moto) has verified: the functions mail through SES.
    _sender: String,
}

/// The functions' origin-secret refresh interval (the shortest the setting takes): a case on
/// the secret meets the read made once it is past.
const ORIGIN_REFRESH: Duration = Duration::from_secs(1);

impl Rig {
    /// `timeouts`: functions given a short timeout of their own.
    async fn start(timeouts: &[(&str, Duration)]) -> Self {
        let stack =
            LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
        let sender = stack.verified_sender().await;
        let admin = fresh_name();
        let users = stratus_aws::dynamodb::DynamoUserStore::new(
            aws_sdk_dynamodb::Client::new(stack.sdk()),
            stack.table(&stratus_aws::dynamodb::tables::USERS),
        );
        let seed = stratus_auth::bootstrap::AdminSeed::parse(
            &admin,
            &format!("{admin}@example.com"),
            PASSWORD.to_owned(),
        )
        .expect("a valid seed");
        stratus_auth::bootstrap::create_admin(&users, seed, time::OffsetDateTime::now_utc())
            .await
            .expect("admin bootstrapped");
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
            "VERIFICATION_MAIL_RATE_LIMIT",
            "MFA_USER_RATE_LIMIT",
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
        Self { api, proxies, admin, client: tokio::sync::OnceCell::new(), _sender: sender }
    }

    fn proxy(&self, dependency: Dependency) -> &FaultProxy {
        &self.proxies[&dependency]
    }

    fn clear(&self) {
        self.proxies.values().for_each(FaultProxy::clear);
    }

    /// What a call must name to meet the case's fault: its table, queue, key or secret as this
    /// stack made it (SES has one thing to call).
    fn naming(&self, case: &Case) -> Option<String> {
        let bound = self.api.stack().resolver().resources.get(case.resource);
        match (case.dependency, bound) {
            (Dependency::Ses, _) => None,
            // Quoted: a table's name is no part of another's.
            (Dependency::DynamoDb, Some(bound)) => Some(format!("\"{}\"", bound.reference)),
            (Dependency::Sqs, Some(bound)) => Some(format!("{}\"", bound.attributes["QueueName"])),
            // A key's id is in its ARN; a secret's ARN is what the function asks for.
            (_, Some(bound)) => Some(bound.reference.clone()),
            (_, None) => panic!("{case:?}: the stack has no {}", case.resource),
        }
    }

    /// The case's fault, on the calls that name its resource.
    fn script(&self, case: &Case) {
        let proxy = self.proxy(case.dependency);
        match self.naming(case) {
            Some(naming) => proxy.fail_matching(case.operation, &naming, case.times, case.fault),
            None => proxy.fail(case.operation, case.times, case.fault),
        }
    }

    /// The calls that met the case's fault, and every call of its operation (the SDK's attempts).
    fn met_and_attempts(&self, case: &Case) -> (usize, usize) {
        let proxy = self.proxy(case.dependency);
        let naming = self.naming(case);
        // Only this case's fault is scripted: whatever met a fault met it.
        let met = proxy.calls().iter().filter(|c| c.operation == case.operation && c.fault.is_some()).count();
        let attempts = proxy
            .requests(case.operation)
            .iter()
            .filter(|body| naming.as_ref().is_none_or(|n| body.contains(n.as_str())))
            .count();
        (met, attempts)
    }

    async fn context(&self) -> String {
        let calls: Vec<String> = self
            .proxies
            .iter()
            .flat_map(|(d, p)| p.calls().into_iter().map(move |c| format!("{}: {c:?}", d.name())))
            .collect();
        format!("calls:\n{}\n{}", calls.join("\n"), self.api.output().await)
    }

    /// The code in the last mail SES was asked to send to `to` whose subject has `subject_part`.
    fn mailed_code(&self, to: &str, subject_part: &str) -> String {
        let mails = self.proxy(Dependency::Ses).requests("SendEmail");
        let mail = mails
            .iter()
            .rev()
            .filter_map(|body| serde_json::from_str::<Value>(body).ok())
            .find(|mail| {
                let simple = &mail["Content"]["Simple"];
                mail["Destination"]["ToAddresses"][0] == to
                    && simple["Subject"]["Data"].as_str().is_some_and(|s| s.contains(subject_part))
            })
            .unwrap_or_else(|| panic!("no mail to {to} about {subject_part:?} in {mails:?}"));
        stratus_tests::mail_code(mail["Content"]["Simple"]["Body"]["Text"]["Data"].as_str().unwrap())
    }

    async fn client(&self) -> &oauth::Client {
        self.client
            .get_or_init(|| async {
                let admin = login(&self.api, &self.admin).await;
                oauth::register_client(&self.api, &admin.access, &oauth::confidential_metadata("faults"))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .await
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn fresh_name() -> String {
    format!("f{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn email(username: &str) -> String {
    format!("{username}@example.com")
}

/// A signed-in account, made with no fault scripted: a session of the API's own, or one an
/// OAuth client got through the code flow (its access token names the grant, which every guard
/// reads), with the ID token.
#[derive(Clone)]
struct Account {
    username: String,
    access: String,
    refresh: String,
    id_token: Option<String>,
}

async fn login(api: &Gateway, username: &str) -> Account {
    let tokens = api.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(tokens.status, 200, "{}", text(&tokens));
    let tokens = tokens.json();
    Account {
        username: username.to_owned(),
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        id_token: None,
    }
}

async fn register(api: &Gateway) -> String {
    let username = fresh_name();
    let reply = api.post_json("/register", &registration(&username, &email(&username))).await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    username
}

async fn account(api: &Gateway) -> Account {
    let username = register(api).await;
    login(api, &username).await
}

const SCOPE: &str = "openid profile email offline_access api";

/// `username` signed in through the hosted pages for the rig's client; the browser keeps the
/// session cookie.
async fn oauth_account(rig: &Rig, username: &str) -> (Account, Browser) {
    let client = rig.client().await;
    let mut browser = Browser::new(oauth::PUBLIC_BASE_URL);
    let (_, tokens) = match oauth::code_flow(&rig.api, &mut browser, client, SCOPE, username, PASSWORD).await
    {
        Ok(flowed) => flowed,
        Err(error) => panic!("{error}\n{}", rig.api.output().await),
    };
    let account = Account {
        username: username.to_owned(),
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        id_token: tokens["id_token"].as_str().map(str::to_owned),
    };
    (account, browser)
}

/// An account with TOTP on, and its secret; signed in again after turning it on.
async fn totp_account(api: &Gateway) -> (Account, TotpSecret) {
    let user = account(api).await;
    let begun = api.post_with_token("/users/me/mfa/totp", &user.access, &json!({"password": PASSWORD})).await;
    assert_eq!(begun.status, 200, "{}", text(&begun));
    let secret = TotpSecret::from_base32(begun.json()["secret"].as_str().unwrap()).unwrap();
    let code = secret.code(time::OffsetDateTime::now_utc());
    let confirmed =
        api.post_with_token("/users/me/mfa/totp/confirm", &user.access, &json!({"code": code})).await;
    assert_eq!(confirmed.status, 200, "{}", text(&confirmed));
    let tokens = confirmed.json();
    let user = Account {
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        ..user
    };
    (user, secret)
}

/// A code of the step after the current one: one the enrolment's code did not spend.
fn next_code(secret: &TotpSecret) -> String {
    secret.code(time::OffsetDateTime::now_utc() + time::Duration::seconds(30))
}

/// Whether the case is a guard's read of an OAuth token's grant in a function that reads the
/// grants table for nothing else (`Spec::implied_grants_read`): only an OAuth access token
/// makes that read.
fn reads_only_the_grant(case: &Case) -> bool {
    case.resource == "RefreshTokensTable"
        && case.operation == "GetItem"
        && stratus_gen::load_functions(&stratus_tests::workspace_root())
            .unwrap()
            .iter()
            .find(|f| f.name == case.function)
            .is_some_and(|f| f.spec.implied_grants_read().is_some_and(|g| !g.actions.is_empty()))
}

/// The post a person makes on the hosted page `stop` (`login`, `totp`, `consent`), reached from
/// the rig's client's authorization request through the pages before it; unsent.
async fn hosted_request(rig: &Rig, username: &str, code: Option<&str>, stop: &str) -> Raw {
    let api = &rig.api;
    let client = rig.client().await;
    let mut browser = Browser::new(oauth::PUBLIC_BASE_URL);
    let query = oauth::authorization_query(&client.id, SCOPE, &oauth::Pkce::new(), "s", "n");
    let mut reply = browser.get(api, &format!("/authorize?{query}")).await;
    for _ in 0..10 {
        if (300..400).contains(&reply.status) {
            let location = reply.header("location").unwrap().to_owned();
            let path = location.strip_prefix(oauth::PUBLIC_BASE_URL).unwrap_or(&location).to_owned();
            reply = browser.get(api, &path).await;
            continue;
        }
        let form = oauth::Form::first(&text(&reply)).unwrap_or_else(|| {
            panic!("{} and no form: {}", reply.status, oauth::visible_text(&text(&reply)))
        });
        let (page, pairs) = Browser::fill(&form, username, PASSWORD, code).expect("a form the driver knows");
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = browser.with_cookies(browser.form_request(&form.action, &pairs));
        if page == stop {
            return request.into();
        }
        reply = browser.send(api, request).await;
    }
    panic!("no {stop} page after 10 pages");
}

/// A request, kept so that it can be sent again (an honest retry).
#[derive(Clone)]
struct Raw {
    method: String,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl From<http::Request<Vec<u8>>> for Raw {
    fn from(request: http::Request<Vec<u8>>) -> Self {
        let (parts, body) = request.into_parts();
        let headers = parts.headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        Self { method: parts.method.to_string(), uri: parts.uri.to_string(), headers, body }
    }
}

impl Raw {
    fn request(&self) -> http::Request<Vec<u8>> {
        let mut builder = http::Request::builder().method(self.method.as_str()).uri(&self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name, value.as_slice());
        }
        builder.body(self.body.clone()).expect("it was a valid request")
    }
}

fn json_request(method: &str, path: &str, token: &str, body: Option<&Value>) -> Raw {
    stratus_tests::runtime_api::request(method, path, Some(token), body).into()
}

/// What a case's request needs, made before its fault is scripted: the request itself, the
/// statuses it succeeds with, and what the checks after it need.
struct Prepared {
    request: Raw,
    success: Vec<u16>,
    account: Option<Account>,
    /// Whatever else a check needs (a new password, a task's location, the admin's token).
    extra: Value,
}

impl Prepared {
    fn new(request: Raw, success: &[u16]) -> Self {
        Self { request, success: success.to_vec(), account: None, extra: Value::Null }
    }

    fn of(mut self, account: &Account) -> Self {
        self.account = Some(account.clone());
        self
    }

    fn with(mut self, extra: Value) -> Self {
        self.extra = extra;
        self
    }

    fn user(&self) -> &Account {
        self.account.as_ref().expect("the case has an account")
    }
}

const NEW_PASSWORD: &str = "babbage engine 1833";

async fn prepare(rig: &Rig, case: &Case) -> Prepared {
    let api = &rig.api;
    let oauth_caller = reads_only_the_grant(case);
    // The caller: an account of the API's own, or, for the grant's read, an OAuth one.
    let caller = async |username: &str| {
        if oauth_caller { oauth_account(rig, username).await.0 } else { login(api, username).await }
    };
    let get = |path: &str, token: &str| json_request("GET", path, token, None);
    let post = |path: &str, token: &str, body: Value| json_request("POST", path, token, Some(&body));
    match case.function {
        "register" if oauth_caller => {
            // An admin registering another admin: the guard reads the admin's grant.
            let admin = caller(&rig.admin).await;
            let username = fresh_name();
            let mut body = registration(&username, &email(&username));
            body["role"] = json!("admin");
            Prepared::new(post("/register", &admin.access, body), &[201]).with(json!({"username": username}))
        }
        "register" => {
            let username = fresh_name();
            let body = registration(&username, &email(&username));
            let request = stratus_tests::runtime_api::request("POST", "/register", None, Some(&body));
            Prepared::new(request.into(), &[201]).with(json!({"username": username}))
        }
        "login" => {
            let username = register(api).await;
            let body = json!({"username": username, "password": PASSWORD});
            let request = stratus_tests::runtime_api::request("POST", "/login", None, Some(&body));
            Prepared::new(request.into(), &[200]).with(json!({"username": username}))
        }
        "refresh-token" => {
            let user = account(api).await;
            let body = json!({"refresh_token": user.refresh});
            let request = stratus_tests::runtime_api::request("POST", "/token/refresh", None, Some(&body));
            Prepared::new(request.into(), &[200]).of(&user)
        }
        "me" => {
            let user = caller(&register(api).await).await;
            Prepared::new(get("/users/me", &user.access), &[200]).of(&user)
        }
        "get-user" => {
            let user = caller(&register(api).await).await;
            Prepared::new(get(&format!("/users/{}", user.username), &user.access), &[200]).of(&user)
        }
        "list-users" => {
            let admin = caller(&rig.admin).await;
            Prepared::new(get("/users?limit=5", &admin.access), &[200])
        }
        "update-user" => {
            let admin = caller(&rig.admin).await;
            let target = register(api).await;
            let body = json!({"disabled": true});
            Prepared::new(
                json_request("PATCH", &format!("/users/{target}"), &admin.access, Some(&body)),
                &[200],
            )
            .with(json!({"target": target, "admin": admin.access}))
        }
        // The first write of a message answers 201; a write the SDK retried after it was
        // applied finds it stored, which is 200 (the documented answer for a stored message).
        "create-message" => {
            let message = fresh_name();
            let request = stratus_tests::runtime_api::request(
                "POST",
                "/messages",
                None,
                Some(&json!({"message": message})),
            );
            Prepared::new(request.into(), &[201, 200]).with(json!({"message": message}))
        }
        "get-message" => {
            let message = fresh_name();
            let stored = api.post_json("/messages", &json!({"message": message})).await;
            assert_eq!(stored.status, 201, "{}", text(&stored));
            let digest = stored.json()["digest"].as_str().unwrap().to_owned();
            let request =
                stratus_tests::runtime_api::request("GET", &format!("/messages/{digest}"), None, None);
            Prepared::new(request.into(), &[200]).with(json!({"message": message}))
        }
        "add" => {
            let user = caller(&register(api).await).await;
            Prepared::new(post("/add", &user.access, json!({"a": 40, "b": 2})), &[202]).of(&user)
        }
        "result" => {
            let user = caller(&register(api).await).await;
            let accepted = api.post_with_token("/add", &user.access, &json!({"a": 2, "b": 3})).await;
            assert_eq!(accepted.status, 202, "{}", text(&accepted));
            let location = accepted.header("location").unwrap().to_owned();
            Prepared::new(get(&location, &user.access), &[200]).of(&user).with(json!({"location": location}))
        }
        "forgot-password" => {
            let username = register(api).await;
            let body = json!({"email": email(&username)});
            let request = stratus_tests::runtime_api::request("POST", "/password/forgot", None, Some(&body));
            Prepared::new(request.into(), &[202])
        }
        "reset-password" => {
            let user = account(api).await;
            let forgot = api.post_json("/password/forgot", &json!({"email": email(&user.username)})).await;
            assert_eq!(forgot.status, 202, "{}", text(&forgot));
            let code = rig.mailed_code(&email(&user.username), "reset");
            let body = json!({"email": email(&user.username), "code": code, "new_password": NEW_PASSWORD});
            let request = stratus_tests::runtime_api::request("POST", "/password/reset", None, Some(&body));
            Prepared::new(request.into(), &[204]).of(&user)
        }
        "verify-email" => {
            let username = register(api).await;
            let code = rig.mailed_code(&email(&username), "Verify");
            let user = caller(&username).await;
            Prepared::new(post("/users/me/email/verify", &user.access, json!({"code": code})), &[204])
                .of(&user)
        }
        "resend-verification" => {
            let user = caller(&register(api).await).await;
            Prepared::new(post("/users/me/email/verify/resend", &user.access, json!({})), &[202]).of(&user)
        }
        "change-password" => {
            let user = caller(&register(api).await).await;
            let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
            Prepared::new(post("/users/me/password", &user.access, body), &[204]).of(&user)
        }
        "delete-account" => {
            let user = caller(&register(api).await).await;
            let body = json!({"password": PASSWORD});
            Prepared::new(json_request("DELETE", "/users/me", &user.access, Some(&body)), &[204]).of(&user)
        }
        "logout" => {
            let user = account(api).await;
            Prepared::new(post("/logout", &user.access, json!({"refresh_token": user.refresh})), &[204])
                .of(&user)
        }
        "totp-mfa" => {
            let user = account(api).await;
            // The data key, the pending secret and the password's check are the first step's;
            // the new session, its signature and the notice are the confirmation's.
            if ["RefreshTokensTable", "SigningKey", "Mail"].contains(&case.resource) {
                let begun = api
                    .post_with_token("/users/me/mfa/totp", &user.access, &json!({"password": PASSWORD}))
                    .await;
                assert_eq!(begun.status, 200, "{}", text(&begun));
                let secret = TotpSecret::from_base32(begun.json()["secret"].as_str().unwrap()).unwrap();
                let code = secret.code(time::OffsetDateTime::now_utc());
                Prepared::new(post("/users/me/mfa/totp/confirm", &user.access, json!({"code": code})), &[200])
                    .of(&user)
            } else {
                Prepared::new(post("/users/me/mfa/totp", &user.access, json!({"password": PASSWORD})), &[200])
                    .of(&user)
            }
        }
        "login-mfa" => {
            let (user, secret) = totp_account(api).await;
            let challenge =
                api.post_json("/login", &json!({"username": user.username, "password": PASSWORD})).await;
            assert_eq!(challenge.status, 200, "{}", text(&challenge));
            let mfa_token = challenge.json()["mfa_token"].as_str().unwrap().to_owned();
            let body = json!({"mfa_token": mfa_token, "code": next_code(&secret)});
            let request = stratus_tests::runtime_api::request("POST", "/login/mfa", None, Some(&body));
            Prepared::new(request.into(), &[200]).of(&user)
        }
        "oauth-clients" => {
            let admin = caller(&rig.admin).await;
            Prepared::new(
                post("/oauth/clients", &admin.access, oauth::confidential_metadata("faulted")),
                &[201],
            )
        }
        // The hosted pages: the second factor's post (the TOTP data key), the consent's (the
        // code issued), or the sign-in's (the client, the account, the rate limit).
        "authorize" if case.resource == "TotpKey" => {
            let (user, secret) = totp_account(api).await;
            let request = hosted_request(rig, &user.username, Some(&next_code(&secret)), "totp").await;
            Prepared::new(request, &[200, 303]).of(&user)
        }
        "authorize" if case.resource == "AuthorizationsTable" => {
            let request = hosted_request(rig, &register(api).await, None, "consent").await;
            Prepared::new(request, &[303])
        }
        "authorize" => {
            let request = hosted_request(rig, &register(api).await, None, "login").await;
            Prepared::new(request, &[200, 303])
        }
        "oauth-token" => {
            let username = register(api).await;
            let client = rig.client().await;
            let mut browser = Browser::new(oauth::PUBLIC_BASE_URL);
            let pkce = oauth::Pkce::new();
            let query = oauth::authorization_query(&client.id, SCOPE, &pkce, "s", "n");
            let authorized = browser.authorize(api, &query, &username, PASSWORD).await.unwrap();
            let pairs = [
                ("grant_type", "authorization_code"),
                ("code", authorized.code()),
                ("redirect_uri", oauth::REDIRECT_URI),
                ("code_verifier", pkce.verifier.as_str()),
            ];
            Prepared::new(oauth::client_form("/oauth/token", client, &pairs).into(), &[200])
        }
        "userinfo" => {
            let (user, _) = oauth_account(rig, &register(api).await).await;
            Prepared::new(get("/oauth/userinfo", &user.access), &[200]).of(&user)
        }
        "oauth-introspect" => {
            let (user, _) = oauth_account(rig, &register(api).await).await;
            let form = oauth::client_form(
                "/oauth/introspect",
                rig.client().await,
                &[("token", user.access.as_str())],
            );
            Prepared::new(form.into(), &[200]).of(&user)
        }
        "oauth-revoke" => {
            let (user, _) = oauth_account(rig, &register(api).await).await;
            // An access token stands only while its account does (the users table); a refresh
            // token is looked up in its own table.
            let token = if case.resource == "UsersTable" { &user.access } else { &user.refresh };
            let form = oauth::client_form("/oauth/revoke", rig.client().await, &[("token", token.as_str())]);
            Prepared::new(form.into(), &[200]).of(&user)
        }
        "end-session" => {
            let (user, browser) = oauth_account(rig, &register(api).await).await;
            let query = oauth::form_encode(&[
                ("id_token_hint", user.id_token.as_deref().unwrap()),
                ("post_logout_redirect_uri", oauth::POST_LOGOUT_URI),
                ("state", "bye"),
            ]);
            let request =
                http::Request::builder().method("GET").uri(format!("/oauth/logout?{query}")).body(Vec::new());
            Prepared::new(browser.with_cookies(request.unwrap()).into(), &[303]).of(&user)
        }
        "health" | "jwks" | "docs" | "fallback" => {
            let (path, status) = match case.function {
                "health" => ("/health", 200),
                "jwks" => ("/.well-known/jwks.json", 200),
                "docs" => ("/openapi.json", 200),
                _ => ("/no/such/route", 404),
            };
            Prepared::new(stratus_tests::runtime_api::request("GET", path, None, None).into(), &[status])
        }
        other => panic!("no request for {other}"),
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

/// Nothing accepted was lost or done twice, and an honest retry gets a clean answer: the
/// function's success, or what the first attempt made of it (`again`, with its reason).
async fn check_kept(rig: &Rig, case: &Case, prepared: &Prepared, reply: &Reply, context: &str) {
    let api = &rig.api;
    if case.function == "register" {
        let username = prepared.extra["username"].as_str().unwrap();
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
        // The honest retry, whatever the answer was: 409 if the first attempt made the
        // account, else 201; one account either way.
        let again = api.send(prepared.request.request()).await;
        let expected = if before.is_some() { 409 } else { 201 };
        assert_eq!(again.status, expected, "retry: {} {}\n{context}", again.status, text(&again));
        let after = users.get(&name).await.unwrap().expect("one account");
        if let Some(before) = before {
            assert_eq!(before.id, after.id, "the retry made no second account");
        }
        let address = stratus_core::domain::Email::parse(&email(username)).unwrap();
        assert_eq!(users.find_by_email(&address).await.unwrap().map(|u| u.id), Some(after.id));
        return;
    }
    // The honest retry of a request the client was told to retry (a 503, or a browser sent back
    // with `temporarily_unavailable`): the function's success.
    let told_to_retry = reply.status == 503 || case.expect == Expect::Redirected;
    let retried = if told_to_retry { Some(api.send(prepared.request.request()).await) } else { None };
    if let Some(again) = &retried {
        assert!(
            prepared.success.contains(&again.status),
            "retry: {} {}\n{context}",
            again.status,
            text(again)
        );
    }
    let answer = retried.as_ref().unwrap_or(reply);
    match case.function {
        "login" | "refresh-token" | "login-mfa" => {
            // The session's refresh token works: the family was not revoked for an honest retry.
            let tokens = answer.json();
            let renewed =
                api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
            assert_eq!(
                renewed.status,
                200,
                "the session's refresh token works: {}\n{context}",
                text(&renewed)
            );
        }
        "create-message" | "get-message" => {
            let message = prepared.extra["message"].as_str().unwrap();
            let digest = stratus_core::domain::Digest::of(message.as_bytes()).to_hex();
            let found = api.get(&format!("/messages/{digest}")).await;
            assert_eq!(found.status, 200, "{context}");
            assert_eq!(found.json()["message"], message);
        }
        "add" => {
            let user = prepared.user();
            if reply.status == 202 || retried.is_some() {
                let location = answer.header("location").unwrap().to_owned();
                let done = until_done(api, &user.access, &location).await;
                assert_eq!(done["status"], "succeeded", "{done}\n{context}");
                assert_eq!(done["value"], 42);
            }
            // Whatever the first attempt wrote and never queued is queued again by the sweeper.
            no_task_pending_for_ever(api, context).await;
        }
        "result" => {
            let location = prepared.extra["location"].as_str().unwrap();
            let done = until_done(api, &prepared.user().access, location).await;
            assert_eq!(done["status"], "succeeded", "{done}\n{context}");
        }
        "update-user" => {
            let target = prepared.extra["target"].as_str().unwrap();
            let admin = prepared.extra["admin"].as_str().unwrap();
            let read = api.get_with_token(&format!("/users/{target}"), admin).await;
            assert_eq!(read.status, 200, "{}\n{context}", text(&read));
            let refused = api.post_json("/login", &json!({"username": target, "password": PASSWORD})).await;
            assert!(
                [401, 403].contains(&refused.status),
                "a disabled account signs in: {}\n{context}",
                text(&refused)
            );
        }
        "change-password" | "reset-password" => {
            let user = prepared.user();
            let relogin =
                api.post_json("/login", &json!({"username": user.username, "password": NEW_PASSWORD})).await;
            assert_eq!(relogin.status, 200, "the new password works: {}\n{context}", text(&relogin));
            let old = api.post_json("/token/refresh", &json!({"refresh_token": user.refresh})).await;
            assert_ne!(old.status, 200, "every earlier session ended: {}\n{context}", text(&old));
        }
        "delete-account" => {
            let user = prepared.user();
            let gone =
                api.post_json("/login", &json!({"username": user.username, "password": PASSWORD})).await;
            assert_eq!(gone.status, 401, "{}\n{context}", text(&gone));
            let again =
                api.post_json("/register", &registration(&user.username, &email(&user.username))).await;
            assert_eq!(again.status, 201, "the name and address are free: {}\n{context}", text(&again));
        }
        "verify-email" => {
            let user = prepared.user();
            let me = api.get_with_token("/users/me", &user.access).await;
            assert_eq!(me.json()["email_verified"], true, "{}\n{context}", text(&me));
        }
        "logout" => {
            let spent =
                api.post_json("/token/refresh", &json!({"refresh_token": prepared.user().refresh})).await;
            assert_eq!(spent.status, 401, "the session ended: {}\n{context}", text(&spent));
        }
        "totp-mfa" if answer.json().get("access_token").is_some() => {
            let me = api.get_with_token("/users/me", answer.json()["access_token"].as_str().unwrap()).await;
            assert_eq!(me.json()["mfa_enabled"], true, "{}\n{context}", text(&me));
        }
        "oauth-token" => {
            let tokens = answer.json();
            let client = rig.client().await;
            let refresh = tokens["refresh_token"].as_str().unwrap();
            let pairs = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
            let renewed = api.send(oauth::client_form("/oauth/token", client, &pairs)).await;
            assert_eq!(renewed.status, 200, "the grant stands: {}\n{context}", text(&renewed));
        }
        "authorize" => {
            // Back at the client: with a code, never an error.
            let location = answer.header("location").unwrap_or_default();
            if let Some(query) = location.strip_prefix(oauth::REDIRECT_URI) {
                let params = oauth::query_pairs(query.trim_start_matches('?'));
                assert!(params.contains_key("code"), "no code: {location}\n{context}");
            }
        }
        "oauth-introspect" => {
            assert_eq!(answer.json()["active"], true, "a live token is active: {}\n{context}", text(answer));
        }
        "oauth-revoke" => {
            let client = rig.client().await;
            let pairs =
                [("grant_type", "refresh_token"), ("refresh_token", prepared.user().refresh.as_str())];
            let refused = api.send(oauth::client_form("/oauth/token", client, &pairs)).await;
            assert_eq!(refused.status, 400, "the grant is revoked: {}\n{context}", text(&refused));
        }
        _ => {}
    }
}

/// Runs the sweeper past the stale age and the worker until no task is pending.
async fn no_task_pending_for_ever(api: &Gateway, context: &str) {
    for _ in 0..10 {
        if pending_tasks(api).await == 0 {
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

async fn pending_tasks(api: &Gateway) -> i32 {
    aws_sdk_dynamodb::Client::new(api.stack().sdk())
        .scan()
        .table_name(api.stack().table(&stratus_aws::dynamodb::tables::TASKS))
        .filter_expression("#s = :p")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S("pending".into()))
        .send()
        .await
        .unwrap()
        .count
}

/// Scripts the case's fault, sends its request and checks the answer; returns it with the
/// context a failure would print.
async fn try_case(rig: &Rig, case: &Case, prepared: &Prepared) -> (Reply, String) {
    rig.clear();
    rig.script(case);
    let latency = matches!(case.fault, Fault::Latency(_));
    // A slow call the client is to get a 503 for: the function's deadline comes before the
    // SDK's attempt timeout (see `reliability::SLOW_TIMEOUT_MS`).
    let reply = if latency && case.expect != Expect::Success {
        rig.api.send_within(prepared.request.request(), SLOW_TIMEOUT).await
    } else {
        rig.api.send(prepared.request.request()).await
    };
    if latency {
        // The late call reaches the engine after the answer: let it land, so that what is
        // checked next (an honest retry among it) meets it, as a client's retry would.
        rig.proxy(case.dependency).settled().await;
    }
    let (met, attempts) = rig.met_and_attempts(case);
    rig.proxy(case.dependency).clear_faults();
    let context = format!("{case:?}: {} {}\n{}", reply.status, text(&reply), rig.context().await);
    assert_ne!(reply.status, 500, "a dependency's fault is never a 500\n{context}");
    if latency {
        assert_eq!(met, 1, "the request reached the slow call within its timeout\n{context}");
        if case.expect == Expect::Success {
            assert!(attempts > met, "the SDK gave the slow attempt up and tried again\n{context}");
        }
    }
    match case.expect {
        Expect::Success => {
            assert!(prepared.success.contains(&reply.status), "expected {:?}\n{context}", prepared.success);
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
        Expect::Redirected => {
            assert_eq!(reply.status, 303, "{context}");
            let location = reply.header("location").unwrap_or_default();
            assert!(location.starts_with(oauth::REDIRECT_URI), "back to the client: {location}\n{context}");
            let params = oauth::query_pairs(location.split_once('?').map_or("", |(_, q)| q));
            assert_eq!(params.get("error").map(String::as_str), Some("temporarily_unavailable"), "{context}");
            assert_eq!(met, SDK_ATTEMPTS, "the SDK's budget, exactly\n{context}");
        }
    }
    (reply, context)
}

async fn run_case(rig: &Rig, case: &Case) {
    let prepared = prepare(rig, case).await;
    let (reply, context) = try_case(rig, case, &prepared).await;
    check_kept(rig, case, &prepared, &reply, &context).await;
}

/// The timeout a request meeting `reliability::SLOW` is given.
const SLOW_TIMEOUT: Duration = Duration::from_millis(reliability::SLOW_TIMEOUT_MS);

/// Runs `step` on its own task: a case that fails is reported with the others, not instead of
/// them.
async fn isolated<T: Send + 'static>(
    failures: &mut Vec<String>,
    case: &Case,
    step: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    match tokio::spawn(step).await {
        Ok(done) => Some(done),
        Err(error) => {
            let panic = error.into_panic();
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{case:?}:\n{message}"));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_function_answers_its_dependencies_faults_as_documented() {
    let rig = Arc::new(Rig::start(&[]).await);
    let on_secret = |c: &&Case| c.resource == reliability::ORIGIN_SECRET;
    let mut failures = Vec::new();
    let mut tried = 0;
    for case in HTTP_CASES.iter().filter(|c| !matches!(c.fault, Fault::Latency(_)) && !on_secret(c)) {
        let rig = rig.clone();
        isolated(&mut failures, case, async move { run_case(&rig, case).await }).await;
        tried += 1;
    }
    // The origin secret is read again once its refresh interval is past: every such case is
    // prepared first (which calls other functions, and refreshes their reads), then one wait
    // outlasts every function's interval at once, then each function's request meets the fault.
    // A round per set: the table's, then the other kinds (`reliability::derived_origin_cases`).
    let table: Vec<&'static Case> = HTTP_CASES.iter().filter(on_secret).collect();
    let others: Vec<&'static Case> = reliability::derived_origin_cases().iter().collect();
    for secret_cases in [table, others] {
        tried += secret_round(&rig, &secret_cases, &mut failures).await;
    }
    assert!(failures.is_empty(), "{} of {tried} cases failed:\n\n{}", failures.len(), failures.join("\n\n"));
    println!("{tried} faults through the HTTP functions, each answered as documented");
}

/// One round of origin-secret cases (see the HTTP functions' test): returns how many ran.
async fn secret_round(rig: &Arc<Rig>, secret_cases: &[&'static Case], failures: &mut Vec<String>) -> usize {
    let mut tried = 0;
    let mut prepared = Vec::new();
    for &case in secret_cases {
        let ready = rig.clone();
        let made = isolated(failures, case, async move { Arc::new(prepare(&ready, case).await) }).await;
        // Started, so that the fault meets the read again, not the cold start's.
        let route = stratus_routes::ROUTES.iter().find(|r| r.function == case.function);
        let path = route.map_or("/no/such/route".to_owned(), |r| r.path.replace(['{', '}'], ""));
        let method = route.map_or("GET", |r| r.method);
        rig.api.send(stratus_tests::runtime_api::request(method, &path, None, None)).await;
        prepared.push(made);
    }
    tokio::time::sleep(ORIGIN_REFRESH + Duration::from_millis(200)).await;
    let mut answered = Vec::new();
    for (&case, prepared) in secret_cases.iter().zip(&prepared) {
        let Some(prepared) = prepared.clone() else {
            answered.push(None);
            continue;
        };
        let rig = rig.clone();
        answered.push(isolated(failures, case, async move { try_case(&rig, case, &prepared).await }).await);
    }
    for ((&case, prepared), answer) in secret_cases.iter().zip(prepared).zip(answered) {
        let (Some(prepared), Some((reply, context))) = (prepared, answer) else { continue };
        let rig = rig.clone();
        let check = async move { check_kept(&rig, case, &prepared, &reply, &context).await };
        isolated(failures, case, check).await;
        tried += 1;
    }
    tried
}

/// Every call that changes something, and then every dependency's call that no case loses the
/// answer of yet, its answer lost after it was applied: the SDK sends it again, and the function
/// answers as if nothing had happened, with nothing done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_whose_answer_is_lost_is_applied_once() {
    let tried = run_derived(reliability::derived_reset_cases()).await;
    println!("{tried} changes with their answers lost, each applied once");
}

/// Every throttled call of the table, its service answering 500 instead: the same retries, the
/// same answer (`reliability::derived_5xx_cases`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_throttled_call_rides_out_a_5xx_the_same_way() {
    let tried = run_derived(reliability::derived_5xx_cases()).await;
    println!("{tried} calls answered 500 instead of throttled, each as documented");
}

/// The residual risk RELIABILITY.md states: every derived latency case with its call slow on
/// all of the SDK's attempts. The function answers with the attempts on their way; the honest
/// retry of exactly the requests `reliability::RESIDUAL` lists is refused once a late write
/// lands, and everything else holds as the cases check it. Ignored: about three minutes, for the run that measures it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn the_residual_risk_is_what_reliability_md_says() {
    let cases: &'static [Case] = reliability::past_budget_latency_cases().leak();
    let rig = Arc::new(Rig::start(&[]).await);
    let mut failures = Vec::new();
    for case in cases {
        let rig = rig.clone();
        let run = async move {
            let prepared = prepare(&rig, case).await;
            rig.clear();
            rig.script(case);
            let reply = rig.api.send(prepared.request.request()).await;
            rig.proxy(case.dependency).settled().await;
            let (met, _) = rig.met_and_attempts(case);
            rig.proxy(case.dependency).clear_faults();
            let context = format!("{case:?}: {} {}\n{}", reply.status, text(&reply), rig.context().await);
            assert_eq!(met, SDK_ATTEMPTS, "every attempt was slow\n{context}");
            // What the client was told: to retry (503, or the sign-in pages' redirect), or
            // success where the function answers without the call (a mail, say).
            let location = reply.header("location").unwrap_or_default();
            let expect = match reply.status {
                503 => Expect::Unavailable,
                303 if location.contains("error=temporarily_unavailable") => Expect::Redirected,
                status if prepared.success.contains(&status) => Expect::Success,
                status => panic!("{status} is none of the answers past the budget\n{context}"),
            };
            let case = Case { expect, ..*case };
            check_kept(&rig, &case, &prepared, &reply, &context).await;
        };
        if isolated(&mut failures, case, run).await.is_none() {
            println!("refused: {case:?}");
        }
    }
    let refused: Vec<(&str, &str, &str)> = cases
        .iter()
        .filter(|c| failures.iter().any(|f| f.starts_with(&format!("{c:?}:"))))
        .map(|c| (c.function, c.resource, c.operation))
        .collect();
    let documented: Vec<(&str, &str, &str)> =
        reliability::RESIDUAL.iter().map(|r| (r.function, r.resource, r.operation)).collect();
    let sorted = |mut v: Vec<(&'static str, &'static str, &'static str)>| {
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(refused), sorted(documented), "{}", failures.join("\n\n"));
}

/// Runs derived cases on a rig of their own, each isolated; fails naming every case that failed.
async fn run_derived(cases: &'static [Case]) -> usize {
    let rig = Arc::new(Rig::start(&[]).await);
    let mut failures = Vec::new();
    for case in cases {
        let rig = rig.clone();
        isolated(&mut failures, case, async move { run_case(&rig, case).await }).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    cases.len()
}

/// Past the table: every change each function's request makes, as the proxies see it in a run
/// without faults, with its answer lost after it was applied. A change the table and its derived
/// cases already lose the answer of is not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_a_request_makes_is_applied_once_when_its_answer_is_lost() {
    let rig = Arc::new(Rig::start(&[]).await);
    let pairs = reliability::dependencies(&stratus_tests::workspace_root()).expect("the descriptions parse");
    let covered = |function: &str, resource: &str, operation: &str| {
        reliability::cases().any(|c| {
            (c.function, c.resource, c.operation, c.fault)
                == (function, resource, operation, Fault::ResetAfterApplied)
        })
    };
    let mut seen: Vec<&'static Case> = Vec::new();
    let mut failures = Vec::new();
    let mut functions: Vec<&str> = HTTP_CASES.iter().map(|c| c.function).collect();
    functions.sort_unstable();
    functions.dedup();
    for function in functions {
        // The request the table's first DynamoDB or SQS case of the function sends.
        let Some(base) = HTTP_CASES.iter().find(|c| {
            c.function == function
                && matches!(c.dependency, Dependency::DynamoDb | Dependency::Sqs)
                && !matches!(c.fault, Fault::Latency(_))
        }) else {
            continue;
        };
        let ready = rig.clone();
        let Some(prepared) = isolated(&mut failures, base, async move { prepare(&ready, base).await }).await
        else {
            continue;
        };
        rig.clear();
        rig.api.send(prepared.request.request()).await;
        for (name, dependency, resource) in pairs
            .iter()
            .filter(|(f, d, _)| f == function && matches!(d, Dependency::DynamoDb | Dependency::Sqs))
        {
            let resource: &'static str = resource.clone().leak();
            for &operation in reliability::CHANGES {
                let probe = Case { resource, operation, ..*base };
                let Some(naming) = rig.naming(&Case { dependency: *dependency, ..probe }) else { continue };
                let called = rig
                    .proxy(*dependency)
                    .requests(operation)
                    .iter()
                    .any(|body| body.contains(naming.as_str()));
                if called && !covered(name, probe.resource, operation) {
                    let case = Case {
                        dependency: *dependency,
                        fault: Fault::ResetAfterApplied,
                        times: 1,
                        expect: Expect::Success,
                        ..probe
                    };
                    seen.push(Box::leak(Box::new(case)));
                }
            }
        }
    }
    for &case in &seen {
        let rig = rig.clone();
        isolated(&mut failures, case, async move { run_case(&rig, case).await }).await;
    }
    let tried: Vec<String> =
        seen.iter().map(|c| format!("{} {} {}", c.function, c.resource, c.operation)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        seen.len(),
        failures.join("\n\n")
    );
    println!("{} more changes with their answers lost, each applied once: {}", seen.len(), tried.join("; "));
}

/// A one-time code's spend (the codes table's second UpdateItem of a reset or a verification,
/// after the attempt's count) with its answer lost after it was applied: the SDK's retry meets
/// its own spend, and the reset or verification completes, where it was once told the code was
/// wrong with the code gone. The spend is matched by what only it writes (`spent_by`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_spent_before_its_answer_was_lost_is_the_callers_own() {
    let rig = Arc::new(Rig::start(&[]).await);
    let mut failures = Vec::new();
    for function in ["reset-password", "verify-email"] {
        let case: &'static Case = Box::leak(Box::new(Case {
            function,
            dependency: Dependency::DynamoDb,
            resource: "OneTimeCodesTable",
            operation: "UpdateItem",
            fault: Fault::ResetAfterApplied,
            times: 1,
            expect: Expect::Success,
        }));
        let rig = rig.clone();
        let run = async move {
            let prepared = prepare(&rig, case).await;
            rig.clear();
            let proxy = rig.proxy(Dependency::DynamoDb);
            proxy.fail_matching("UpdateItem", "spent_by", 1, Fault::ResetAfterApplied);
            let reply = rig.api.send(prepared.request.request()).await;
            let met = proxy.calls().iter().filter(|c| c.fault.is_some()).count();
            proxy.clear_faults();
            let context = format!("{case:?}: {} {}\n{}", reply.status, text(&reply), rig.context().await);
            assert_eq!(met, 1, "the spend met the fault\n{context}");
            assert!(prepared.success.contains(&reply.status), "expected {:?}\n{context}", prepared.success);
            check_kept(&rig, case, &prepared, &reply, &context).await;
        };
        isolated(&mut failures, case, run).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_slower_than_the_function_is_a_503_before_lambda_times_it_out() {
    let slow: Vec<Case> =
        HTTP_CASES.iter().filter(|c| matches!(c.fault, Fault::Latency(_))).copied().collect();
    for case in &slow {
        let Fault::Latency(ms) = case.fault else { unreachable!() };
        assert!(Duration::from_millis(ms) > SLOW_TIMEOUT, "{case:?} is slower than the function's timeout");
    }
    let tried = run_derived(slow.leak()).await;
    println!("{tried} calls slower than their function's timeout, each answered 503 in time");
}

/// Every call of every function's dependencies, once slower than the SDK's attempt timeout
/// (`reliability::derived_latency_cases`): tried again, and answered as if nothing had happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_slow_call_is_tried_again_and_applied_once() {
    assert!(
        matches!(reliability::SLOW, Fault::Latency(ms) if Duration::from_millis(ms) > stratus_aws::ATTEMPT_TIMEOUT)
    );
    let tried = run_derived(reliability::derived_latency_cases()).await;
    println!("{tried} calls slower than the SDK's attempt timeout, each tried again and applied once");
}

// ------------------------------------------------------------------ the event functions

/// The sweeper, with a stale task to queue again, and the signing-keys custom resource, asked
/// by CloudFormation to publish the keys: a fault within the budget is retried, one past it
/// is taken up again (by the next sweep; by the custom resource's own patience), and nothing is
/// lost or done twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_and_deploy_time_functions_ride_out_their_dependencies_faults() {
    use stratus_core::ports::TaskStore as _;
    let rig = Rig::start(&[]).await;
    let api = &rig.api;
    let tasks = stratus_aws::dynamodb::DynamoTaskStore::new(
        aws_sdk_dynamodb::Client::new(api.stack().sdk()),
        api.stack().table(&stratus_aws::dynamodb::tables::TASKS),
    );
    let cloudformation = stratus_tests::cfn_response::ResponseUrl::start().await;
    let id_token_key = api.stack().launch_spec("oauth-token").unwrap().env["ID_TOKEN_KEY_ARN"].clone();
    for case in EVENT_CASES {
        // Started with nothing scripted: a fault meets the event's calls, not the cold start.
        let idle = match case.function {
            "sweeper" => json!({"source": "aws.events"}),
            _ => json!({"RequestType": "Unknown"}),
        };
        let _ = api.invoke(case.function, &idle).await;
        let (event, task) = match case.function {
            "sweeper" => {
                // Stale already: it waited since before the stale age.
                let owner = stratus_core::domain::Username::parse(&fresh_name()).unwrap();
                let parse = stratus_core::domain::Number::parse;
                let long_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
                let task = stratus_core::domain::Task::new(
                    owner,
                    parse("7").unwrap(),
                    parse("35").unwrap(),
                    long_ago,
                );
                tasks.create(&task, None, long_ago).await.unwrap();
                (json!({"source": "aws.events", "detail-type": "Scheduled Event"}), Some(task.id))
            }
            _ => (
                json!({
                    "RequestType": "Create",
                    "ResponseURL": cloudformation.url,
                    "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/stratus-faults/1",
                    "RequestId": uuid::Uuid::new_v4().to_string(),
                    "ResourceType": "Custom::SigningKeys",
                    "LogicalResourceId": "SigningKeys",
                    "ResourceProperties": {
                        "KeyArn": api.stack().signing_key_arn(),
                        "OtherKeyArn": "",
                        "IdTokenKeyArn": id_token_key,
                    },
                }),
                None,
            ),
        };
        rig.clear();
        rig.script(case);
        let answer = api.invoke(case.function, &event).await;
        // A slow call is counted once it lands.
        rig.proxy(case.dependency).settled().await;
        let (met, attempts) = rig.met_and_attempts(case);
        rig.proxy(case.dependency).clear_faults();
        let context = format!("{case:?}: {answer:?}\n{}", rig.context().await);
        let answer = answer.unwrap_or_else(|e| panic!("the function failed: {e}\n{context}"));
        assert!(met >= case.times.min(SDK_ATTEMPTS), "faults met: {met}\n{context}");
        if case.times < SDK_ATTEMPTS {
            assert_eq!(met, case.times, "{context}");
            assert!(attempts > met, "the SDK tried again after the faults\n{context}");
        }
        match task {
            Some(id) => {
                if case.fault == Fault::ResetAfterApplied && case.operation == "UpdateItem" {
                    // The re-queue's answer lost after it counted: the SDK's retry is known as
                    // the same call's, so the task has one re-queue of its three, not two.
                    let item = aws_sdk_dynamodb::Client::new(api.stack().sdk())
                        .get_item()
                        .table_name(api.stack().table(&stratus_aws::dynamodb::tables::TASKS))
                        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("TASK#{id}")))
                        .consistent_read(true)
                        .send()
                        .await
                        .unwrap();
                    let requeues = item.item().and_then(|i| i.get("requeues")).and_then(|n| n.as_n().ok());
                    assert_eq!(requeues.map(String::as_str), Some("1"), "counted once\n{context}");
                }
                // The next sweep takes up what a fault stopped; each task is done once.
                let read = async || tasks.get(&id, time::OffsetDateTime::now_utc()).await.unwrap().unwrap();
                for _ in 0..5 {
                    for _ in 0..2 {
                        let delivery = api.deliver_queue().await;
                        api.retry_now(&delivery).await;
                    }
                    if read().await.status != stratus_core::domain::TaskStatus::Pending {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1100)).await;
                    api.invoke("sweeper", &json!({"source": "aws.events"})).await.expect("the sweeper runs");
                }
                let done = read().await;
                assert_eq!(done.status, stratus_core::domain::TaskStatus::Succeeded, "{done:?}\n{context}");
                assert_eq!(done.value.map(|v| v.to_string()), Some("42".to_owned()), "{context}");
            }
            None => {
                assert_eq!(answer["Status"], "SUCCESS", "{answer}\n{context}");
                assert_eq!(cloudformation.answers().last(), Some(&answer), "what CloudFormation was told");
                let jwks: Value = serde_json::from_str(answer["Data"]["Jwks"].as_str().unwrap()).unwrap();
                let algorithms: Vec<&str> =
                    jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["alg"].as_str()).collect();
                assert_eq!(algorithms, ["ES256", "RS256"], "every key published: {jwks}\n{context}");
                // Past the SDK's budget the function asked again, after a pause of its own.
                assert_eq!(attempts, case.times + 1, "{context}");
            }
        }
    }
}

// ------------------------------------------------------------------ coverage

/// Every dependency a function's description gives it has a case: a function added, or a
/// table granted to one, fails here until its faults are in the table.
#[test]
fn every_dependency_of_every_function_has_a_fault_case() {
    let pairs = reliability::dependencies(&stratus_tests::workspace_root()).expect("the descriptions parse");
    let covered = |(function, dependency, resource): &reliability::Pair| {
        reliability::cases().any(|c| {
            c.function == function.as_str() && c.dependency == *dependency && c.resource == resource.as_str()
        })
    };
    let missing: Vec<String> = pairs
        .iter()
        .filter(|pair| !covered(pair))
        .map(|(f, d, r)| format!("{f} → {} {r}", d.name()))
        .collect();
    assert!(missing.is_empty(), "no fault case for:\n{}", missing.join("\n"));
    // Each pair meets every kind of fault; the origin secret's read, the same guard in every
    // function, meets throttling in each and every other kind in some.
    let kinds = |(f, d, r): &reliability::Pair| reliability::kinds_tried(f, *d, r);
    let short: Vec<String> = pairs
        .iter()
        .filter(|pair| pair.2 != reliability::ORIGIN_SECRET)
        .filter(|pair| kinds(pair).len() < reliability::FaultKind::ALL.len())
        .map(|pair| format!("{} → {} {}: {:?}", pair.0, pair.1.name(), pair.2, kinds(pair)))
        .collect();
    assert!(short.is_empty(), "pairs without every kind of fault:\n{}", short.join("\n"));
    let on_secret: Vec<Vec<reliability::FaultKind>> =
        pairs.iter().filter(|pair| pair.2 == reliability::ORIGIN_SECRET).map(kinds).collect();
    assert!(on_secret.iter().all(|k| k.contains(&reliability::FaultKind::Throttling) && k.len() >= 2));
    for kind in reliability::FaultKind::ALL {
        assert!(on_secret.iter().any(|k| k.contains(&kind)), "the origin secret never meets {}", kind.name());
    }
    // And no case on a dependency the function does not have: the table names real calls.
    let strays: Vec<String> = reliability::cases()
        .filter(|c| {
            !pairs
                .iter()
                .any(|(f, d, r)| f.as_str() == c.function && *d == c.dependency && r.as_str() == c.resource)
        })
        .map(|c| format!("{c:?}"))
        .collect();
    assert!(strays.is_empty(), "cases on no dependency of their function:\n{}", strays.join("\n"));
    // Every function is either covered or calls nothing.
    assert!(
        pairs.iter().any(|(f, _, _)| f == "signing-keys") && pairs.iter().any(|(f, _, _)| f == "sweeper")
    );
}

// ------------------------------------------------------------------ the worker

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_applies_every_task_once_through_partial_failures_and_redelivery() {
    let rig = Rig::start(&[("worker", SLOW_TIMEOUT)]).await;
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
