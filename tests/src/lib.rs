//! Harness for the end-to-end suites: local-api on a free loopback port, on either backend,
//! and (`runtime_api`) the release binaries of the functions under an emulated Lambda.
//!
//! The DynamoDB backend needs DynamoDB Local: `make test` starts it and exports
//! `AWS_ENDPOINT_URL_DYNAMODB`. Without it these tests fail loudly rather than skip, so a
//! green run always means both backends were exercised.

pub mod cfn_response;
pub mod cloudfront;
pub mod diagram;
pub mod faults;
pub mod iam;
pub mod oauth;
pub mod reliability;
pub mod runtime_api;
pub mod template;
pub mod wire;

use std::sync::Arc;

pub use local_api::LocalWiring;
use local_api::{AwsOptions, CreateTables, Functions};
use serde_json::{Value, json};
pub use stratus_core::config::is_loopback_url;
use stratus_core::ports::RateLimit;
use stratus_memory::MemoryQueue;

/// Short, so that a failing message is retried and dead-lettered within seconds.
pub const QUEUE_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    DynamoDb,
}

/// Runs each named `async fn(Backend)` once per backend, as `memory::name` and `dynamodb::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::Backend::Memory).await }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::Backend::DynamoDb).await }
            )*
        }
    };
}

/// The local DynamoDB endpoint, or a failure that says how to get one.
pub fn require_local_engines() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
    assert!(
        is_loopback_url(&endpoint),
        "AWS_ENDPOINT_URL_DYNAMODB must point at DynamoDB Local on loopback (got {endpoint:?}); \
         run the suite with `make test`, or `infra/local/engines.sh run -- cargo test`"
    );
}

/// The repository's root directory.
/// Where the pinned tools are installed (`STRATUS_TOOLS`, else what infra/local/paths.sh says).
pub fn tools_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("STRATUS_TOOLS") {
        return dir.into();
    }
    let paths = std::process::Command::new("bash")
        .arg(workspace_root().join("infra/local/paths.sh"))
        .output()
        .expect("bash runs infra/local/paths.sh");
    let paths = String::from_utf8(paths.stdout).expect("paths are UTF-8");
    paths
        .lines()
        .find_map(|line| line.strip_prefix("STRATUS_TOOLS="))
        .expect("infra/local/paths.sh names STRATUS_TOOLS")
        .into()
}

/// The clone the suite runs in, found at run time: from what cargo sets for `cargo test` and
/// `cargo run`, or else the working directory's nearest clone (the bench runs its binary
/// itself). Compiled in (`env!`), it would name whichever clone built the binary, since clones
/// share one target directory (infra/local/paths.sh).
pub fn workspace_root() -> std::path::PathBuf {
    if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        return std::path::Path::new(&manifest_dir)
            .parent()
            .expect("tests/ is in the workspace")
            .to_path_buf();
    }
    let here = std::env::current_dir().expect("a working directory");
    here.ancestors()
        .find(|dir| dir.join("infra/local/paths.sh").is_file())
        .unwrap_or_else(|| panic!("{} is in no Stratus clone: run this from the clone", here.display()))
        .to_path_buf()
}

/// Table names unique to one test, so tests share the engine but never each other's data.
pub fn unique_prefix() -> String {
    format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

pub async fn wiring(backend: Backend) -> LocalWiring {
    let backend = match backend {
        Backend::Memory => local_api::Backend::Memory,
        Backend::DynamoDb => {
            require_local_engines();
            local_api::Backend::Aws(AwsOptions {
                table_prefix: unique_prefix(),
                create_tables: CreateTables::Always,
                queue_visibility: Some(QUEUE_VISIBILITY),
            })
        }
    };
    let mut wiring = LocalWiring::build(&backend).await.expect("wiring build against the local engines");
    if let local_api::Consumer::Memory(_) = wiring.consumer {
        let queue = Arc::new(MemoryQueue::new(QUEUE_VISIBILITY, worker::MAX_RECEIVES));
        wiring.queue = queue.clone();
        wiring.consumer = local_api::Consumer::Memory(queue);
    }
    // Suites register and log in often from one address; only the tests about limits meet them.
    let generous = RateLimit { max_hits: 10_000, window: time::Duration::minutes(1) };
    wiring.settings.auth.login_limit = generous;
    wiring.settings.auth.login_user_limit = generous;
    wiring.settings.auth.register_limit = generous;
    wiring.settings.message_limit = generous;
    wiring.settings.auth.recovery_limit = generous;
    wiring.settings.auth.mail_limit = generous;
    wiring.settings.auth.verification_mail_limit = generous;
    wiring.settings.auth.mfa_user_limit = generous;
    wiring.settings.auth.password_work_limit = generous;
    wiring.use_outbox(std::env::temp_dir().join(format!("stratus-outbox-{}.jsonl", uuid::Uuid::new_v4())));
    wiring
}

/// A clock that stands still a few seconds into a minute: tests that count hits against limits
/// with minute-long windows see them all in one window, never split by the minute turning.
pub fn steady_clock() -> Arc<stratus_core::clock::ManualClock> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let start =
        time::OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(60) + 5).expect("a valid time");
    Arc::new(stratus_core::clock::ManualClock::new(start))
}

/// A running local-api. Stops when dropped.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _worker: local_api::WorkerHandle,
    outbox: Option<std::path::PathBuf>,
}

impl Api {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(wiring(backend).await).await
    }

    pub async fn start_with(wiring: LocalWiring) -> Self {
        let functions = Functions::build(&wiring).await.expect("every function builds on the local wiring");
        let worker = local_api::start_worker(&wiring).await.expect("the worker builds on the local wiring");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(local_api::serve(listener, functions, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().no_proxy().build().expect("client builds");
        Self { base, http, stop: Some(stop), _worker: worker, outbox: wiring.mail_outbox.clone() }
    }

    /// A client whose requests come from `address` (any of 127.0.0.0/8): per-address limits see
    /// another caller.
    pub fn client_from(&self, address: std::net::Ipv4Addr) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::V4(address))
            .build()
            .expect("client builds")
    }

    /// A JSON POST from `address`.
    pub async fn post_json_from(&self, address: std::net::Ipv4Addr, path: &str, body: &Value) -> Reply {
        self.send(self.client_from(address).post(self.url(path)).json(body)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(self.url(path)).send().await.expect("request sent")).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.post_raw(path, "application/json", body.to_string().into_bytes()).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self.http.post(self.url(path)).header("content-type", content_type).body(body);
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn post_with_token(&self, path: &str, token: &str, body: &Value) -> Reply {
        let request = self.http.post(self.url(path)).bearer_auth(token).json(body);
        self.send(request).await
    }

    /// Registers `username` with a valid profile and password; returns the reply.
    pub async fn register(&self, username: &str, email: &str) -> Reply {
        self.post_json("/register", &registration(username, email)).await
    }

    /// Logs in and returns the token pair, asserting success.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let reply = self.post_json("/login", &json!({"username": username, "password": password})).await;
        assert_eq!(reply.status, 200, "login of {username}: {}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }

    /// Every mail sent so far, as the outbox holds them: `{"to","subject","text"}`.
    pub fn mails(&self) -> Vec<Value> {
        let path = self.outbox.as_ref().expect("the suite's wiring has an outbox");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
    }

    /// The code in the last mail to `to` whose subject has `subject_part`.
    pub fn last_code(&self, to: &str, subject_part: &str) -> String {
        outbox_code(self.outbox.as_ref().expect("the suite's wiring has an outbox"), to, subject_part)
    }

    /// A registered ordinary user and its access token.
    pub async fn user_token(&self, username: &str) -> String {
        let registered = self.register(username, &format!("{username}@example.com")).await;
        assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
        self.login(username, PASSWORD).await["access_token"].as_str().expect("token").to_owned()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response read whole, with helpers for the checks every suite makes.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body read").to_vec();
        Self { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts an RFC 9457 problem with this status and returns its body.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        assert!(self.header("x-request-id").is_some_and(|id| !id.is_empty()));
        let body = self.json();
        assert_eq!(body["status"], status);
        assert_eq!(body["type"], "about:blank");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
        body
    }
}

/// The code in the last mail of the outbox file to `to` whose subject has `subject_part`.
pub fn outbox_code(outbox: &std::path::Path, to: &str, subject_part: &str) -> String {
    let text = std::fs::read_to_string(outbox).unwrap_or_default();
    let mail: Value = text
        .lines()
        .rev()
        .map(|line| serde_json::from_str::<Value>(line).expect("one JSON mail per line"))
        .find(|m| m["to"] == to && m["subject"].as_str().is_some_and(|s| s.contains(subject_part)))
        .unwrap_or_else(|| panic!("no mail to {to} about {subject_part:?} in {}: {text}", outbox.display()));
    mail_code(mail["text"].as_str().expect("a mail has a text"))
}

/// The 8-digit code in a mail's text.
pub fn mail_code(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 8)
        .unwrap_or_else(|| panic!("no 8-digit code in {text:?}"))
        .to_owned()
}

/// A password the policy accepts, used by every suite.
pub const PASSWORD: &str = "analytical engine 1843";

pub fn registration(username: &str, email: &str) -> Value {
    json!({
        "username": username,
        "password": PASSWORD,
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
    })
}

/// Creates an admin straight in the store, as the bootstrap command does.
pub async fn bootstrap_admin(wiring: &LocalWiring, username: &str) {
    use stratus_auth::bootstrap::{AdminSeed, create_admin};
    let seed = AdminSeed::parse(username, &format!("{username}@example.com"), PASSWORD.to_owned())
        .expect("a valid seed");
    create_admin(wiring.users.as_ref(), seed, wiring.clock.now()).await.expect("admin bootstrapped");
}
