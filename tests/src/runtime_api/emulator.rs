//! The Lambda Runtime API, as documented at
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>, served on a free loopback
//! port for one function process, and that process launched and driven as Lambda drives it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Child, Command};

use tokio::sync::mpsc;

pub const API_PREFIX: &str = "/2018-06-01/runtime";
pub const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
pub const DEADLINE_HEADER: &str = "lambda-runtime-deadline-ms";
pub const FUNCTION_ARN_HEADER: &str = "lambda-runtime-invoked-function-arn";
pub const TRACE_ID_HEADER: &str = "lambda-runtime-trace-id";
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// Lambda's limit on a synchronous response.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// How long a process may take from spawn to its first `/next` (or `/init/error`) before the
/// test fails. Lambda allows 10 s; this is looser because the test machine is shared, and it
/// is a bound on waiting, not a performance check.
pub const DEFAULT_INIT_WAIT: Duration = Duration::from_secs(30);
/// Added to the function's own timeout before an invocation is given up as hung.
const INVOKE_GRACE: Duration = Duration::from_secs(10);
/// Output kept per stream for failure messages.
const OUTPUT_LIMIT: usize = 256 * 1024;

/// Everything needed to start one function process.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub function_name: String,
    pub binary: PathBuf,
    /// A program that runs the binary (an emulator for another CPU) and its arguments before it.
    pub runner: Option<(PathBuf, Vec<String>)>,
    /// The complete environment: the process inherits nothing else, as on Lambda.
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub init_wait: Duration,
}

impl LaunchSpec {
    pub fn with_var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    pub fn without_var(mut self, name: &str) -> Self {
        self.env.remove(name);
        self
    }
}

/// What the process reported to `/init/error`.
#[derive(Debug, Clone)]
pub struct InitErrorReport {
    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub header_error_type: Option<String>,
    /// The body's `errorType` and `errorMessage` (the documented shape).
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub body: Value,
    /// Spawn to the report.
    pub after: Duration,
    /// How the process ended after reporting (`None`: it was still running when we stopped
    /// waiting, which Lambda would not tolerate either).
    pub exit_status: Option<ExitStatus>,
}

/// What the process posted to `/invocation/{id}/error`.
#[derive(Debug, Clone)]
pub struct FunctionError {
    pub header_error_type: Option<String>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Bytes),
    Error(FunctionError),
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// From handing the event to the runtime (`/next` answered) to its `/response` or `/error`.
    pub duration: Duration,
}

#[derive(Debug)]
pub enum LaunchError {
    Spawn {
        binary: PathBuf,
        error: std::io::Error,
    },
    Server(std::io::Error),
    /// Ended before polling `/next` or reporting `/init/error`.
    Exited {
        function: String,
        status: Option<ExitStatus>,
        output: String,
    },
    /// Called the Runtime API out of turn during init.
    Protocol {
        function: String,
        message: String,
        output: String,
    },
    /// Neither polled `/next` nor reported `/init/error` in time.
    Timeout {
        function: String,
        waited: Duration,
        output: String,
    },
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn { binary, error } => write!(f, "cannot start {}: {error}", binary.display()),
            Self::Server(error) => write!(f, "cannot serve the Runtime API: {error}"),
            Self::Exited { function, status, output } => write!(
                f,
                "{function} exited ({}) before polling /next or reporting /init/error\n{output}",
                describe(*status)
            ),
            Self::Protocol { function, message, output } => write!(f, "{function}: {message}\n{output}"),
            Self::Timeout { function, waited, output } => write!(
                f,
                "{function} neither polled /next nor reported /init/error within {waited:?}\n{output}"
            ),
        }
    }
}

impl std::error::Error for LaunchError {}

#[derive(Debug)]
pub enum InvokeError {
    /// The function answered through `/invocation/{id}/error`.
    Function {
        function: String,
        error: FunctionError,
        output: String,
    },
    /// The process reported `/init/error` at start, so it takes no invocations.
    InitFailed {
        function: String,
        report: InitErrorReport,
    },
    Exited {
        function: String,
        status: Option<ExitStatus>,
        output: String,
    },
    /// No answer within the function's timeout (plus grace); the process was killed, as
    /// Lambda resets a sandbox that timed out.
    Timeout {
        function: String,
        waited: Duration,
        output: String,
    },
    /// The response broke the Runtime API contract (unknown request id, too large, not JSON).
    Protocol {
        function: String,
        message: String,
        output: String,
    },
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function { function, error, output } => {
                write!(f, "{function} reported an invocation error {}\n{output}", error.body)
            }
            Self::InitFailed { function, report } => {
                write!(f, "{function} failed its init and takes no invocations: {}", report.body)
            }
            Self::Exited { function, status, output } => {
                write!(f, "{function} exited ({}) during an invocation\n{output}", describe(*status))
            }
            Self::Timeout { function, waited, output } => {
                write!(f, "{function} did not answer within {waited:?}\n{output}")
            }
            Self::Protocol { function, message, output } => write!(f, "{function}: {message}\n{output}"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// Measurements a benchmark can reuse.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Spawn to the first `/next`.
    pub init: Option<Duration>,
    pub invocations: Vec<Duration>,
}

// ------------------------------------------------------------------ the server

/// What the Runtime API saw, in order.
#[derive(Debug)]
enum Seen {
    NextPolled { at: Instant },
    Delivered { request_id: String, at: Instant },
    Response { request_id: String, body: Bytes, at: Instant },
    Error { request_id: String, error: FunctionError, at: Instant },
    InitError { header_error_type: Option<String>, body: Value, at: Instant },
    Violation(String),
}

struct Pending {
    request_id: String,
    body: Bytes,
    deadline_ms: u128,
    trace_id: String,
}

struct ServerState {
    function_arn: String,
    pending: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    seen: mpsc::UnboundedSender<Seen>,
    /// The invocation the runtime holds, if any: only its id may be answered.
    in_flight: Mutex<Option<String>>,
    polled: Mutex<bool>,
}

type Shared = Arc<ServerState>;

fn router(state: Shared) -> axum::Router {
    axum::Router::new()
        .route(&format!("{API_PREFIX}/invocation/next"), get(next))
        .route(&format!("{API_PREFIX}/invocation/{{id}}/response"), post(response))
        .route(&format!("{API_PREFIX}/invocation/{{id}}/error"), post(invocation_error))
        .route(&format!("{API_PREFIX}/init/error"), post(init_error))
        // Lambda's own limit (6 MB) is checked in `response`, with Lambda's error; axum's
        // smaller default would answer first, and differently.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

fn error_body(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({ "errorMessage": message, "errorType": error_type }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

/// Long-polls until the test hands over an event.
async fn next(State(state): State<Shared>) -> Response {
    *state.polled.lock().expect("not poisoned") = true;
    let _ = state.seen.send(Seen::NextPolled { at: Instant::now() });
    let pending = state.pending.lock().await.recv().await;
    let Some(pending) = pending else {
        return error_body(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "the emulator is stopping");
    };
    *state.in_flight.lock().expect("not poisoned") = Some(pending.request_id.clone());
    let _ = state.seen.send(Seen::Delivered { request_id: pending.request_id.clone(), at: Instant::now() });
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(REQUEST_ID_HEADER, &pending.request_id);
    set(DEADLINE_HEADER, &pending.deadline_ms.to_string());
    set(FUNCTION_ARN_HEADER, &state.function_arn);
    set(TRACE_ID_HEADER, &pending.trace_id);
    set("content-type", "application/json");
    (StatusCode::OK, headers, pending.body).into_response()
}

/// Ends the invocation in flight if it is `id`; any other id is a runtime bug worth failing
/// on, and gets Lambda's 400.
fn reject_unless_in_flight(state: &ServerState, id: &str) -> Option<Response> {
    let mut in_flight = state.in_flight.lock().expect("not poisoned");
    if in_flight.as_deref() == Some(id) {
        *in_flight = None;
        None
    } else {
        let message = format!("request id {id} is not the invocation in flight ({:?})", *in_flight);
        let _ = state.seen.send(Seen::Violation(message.clone()));
        Some(error_body(StatusCode::BAD_REQUEST, "InvalidRequestID", &message))
    }
}

async fn response(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    if body.len() > RESPONSE_LIMIT {
        let message = format!("response of {} bytes exceeds {RESPONSE_LIMIT}", body.len());
        let _ = state.seen.send(Seen::Violation(message.clone()));
        return error_body(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &message);
    }
    if let Some(rejected) = reject_unless_in_flight(&state, &id) {
        return rejected;
    }
    let _ = state.seen.send(Seen::Response { request_id: id, body, at: Instant::now() });
    accepted()
}

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers.get(ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn parse_error(headers: &HeaderMap, body: &Bytes) -> FunctionError {
    let body: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    FunctionError {
        header_error_type: error_type_header(headers),
        error_type: body["errorType"].as_str().map(str::to_owned),
        error_message: body["errorMessage"].as_str().map(str::to_owned),
        body,
    }
}

async fn invocation_error(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(rejected) = reject_unless_in_flight(&state, &id) {
        return rejected;
    }
    let error = parse_error(&headers, &body);
    let _ = state.seen.send(Seen::Error { request_id: id, error, at: Instant::now() });
    accepted()
}

async fn init_error(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    // Lambda refuses an init error once the runtime has started polling.
    if *state.polled.lock().expect("not poisoned") {
        let message = "/init/error after /invocation/next";
        let _ = state.seen.send(Seen::Violation(message.into()));
        return error_body(StatusCode::FORBIDDEN, "InvalidStateTransition", message);
    }
    let parsed = parse_error(&headers, &body);
    let _ = state.seen.send(Seen::InitError {
        header_error_type: parsed.header_error_type,
        body: parsed.body,
        at: Instant::now(),
    });
    accepted()
}

// ------------------------------------------------------------------ the process

/// The tail of one output stream, kept for failure messages.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>, Arc<std::sync::atomic::AtomicBool>);

impl Captured {
    fn spawn_reader(&self, mut stream: impl Read + Send + 'static) {
        let buffer = self.0.clone();
        let closed = self.1.clone();
        std::thread::spawn(move || {
            let _closed_on_exit = CloseOnDrop(closed);
            let mut chunk = [0u8; 8192];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut buffer = buffer.lock().expect("not poisoned");
                buffer.extend_from_slice(&chunk[..n]);
                if buffer.len() > OUTPUT_LIMIT {
                    let excess = buffer.len() - OUTPUT_LIMIT;
                    buffer.drain(..excess);
                }
            }
        });
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }

    /// Waits (a little) until the process's end of the pipe is closed and all of it read: a
    /// process that has exited may still have output in the pipe.
    async fn drained(&self) {
        for _ in 0..200 {
            if self.1.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Marks a stream read to its end, however the reader stops.
struct CloseOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

enum Phase {
    Ready,
    InitFailed(InitErrorReport),
    Gone(String),
}

/// One function process and the Runtime API it talks to. The process is killed on drop.
pub struct Function {
    name: String,
    child: Child,
    pid: Option<u32>,
    phase: Phase,
    timeout: Duration,
    /// The next invocation's timeout instead of `timeout`, once.
    next_timeout: Option<Duration>,
    /// Added to `timeout` before an invocation is given up and the process killed.
    grace: Duration,
    invocations: mpsc::Sender<Pending>,
    seen: mpsc::UnboundedReceiver<Seen>,
    stdout: Captured,
    stderr: Captured,
    timings: Timings,
    peak_rss: Option<u64>,
    runtime_api: String,
    stop_server: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Function {
    /// Serves a Runtime API for it, starts the process, and waits until it polls `/next` or
    /// reports `/init/error`.
    pub async fn spawn(spec: LaunchSpec) -> Result<Self, LaunchError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(LaunchError::Server)?;
        let runtime_api = listener.local_addr().map_err(LaunchError::Server)?.to_string();
        let (invocations, pending) = mpsc::channel(1);
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let region = spec.env.get("AWS_REGION").cloned().unwrap_or_else(|| "us-east-1".into());
        let state = Arc::new(ServerState {
            function_arn: format!("arn:aws:lambda:{region}:000000000000:function:{}", spec.function_name),
            pending: tokio::sync::Mutex::new(pending),
            seen: seen_tx,
            in_flight: Mutex::new(None),
            polled: Mutex::new(false),
        });
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router(state))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });

        let mut command = match &spec.runner {
            Some((runner, arguments)) => {
                let mut command = Command::new(runner);
                command.args(arguments).arg(&spec.binary);
                command
            }
            None => Command::new(&spec.binary),
        };
        command
            .env_clear()
            .envs(&spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .current_dir(spec.binary.parent().unwrap_or(std::path::Path::new(".")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child =
            command.spawn().map_err(|error| LaunchError::Spawn { binary: spec.binary.clone(), error })?;
        let (stdout, stderr) = (Captured::default(), Captured::default());
        if let Some(out) = child.stdout.take() {
            stdout.spawn_reader(out);
        }
        if let Some(err) = child.stderr.take() {
            stderr.spawn_reader(err);
        }
        let mut function = Self {
            name: spec.function_name.clone(),
            pid: Some(child.id()),
            child,
            phase: Phase::Gone("starting".into()),
            timeout: spec.timeout,
            next_timeout: None,
            grace: INVOKE_GRACE,
            invocations,
            seen,
            stdout,
            stderr,
            timings: Timings::default(),
            peak_rss: None,
            runtime_api,
            stop_server: Some(stop_server),
        };
        function.await_init(started, spec.init_wait).await?;
        Ok(function)
    }

    async fn await_init(&mut self, started: Instant, wait: Duration) -> Result<(), LaunchError> {
        let deadline = tokio::time::Instant::from_std(started + wait);
        // Biased: what the process told the API before it exited counts, whichever the
        // scheduler would otherwise notice first.
        tokio::select! {
            biased;
            seen = self.seen.recv() => match seen {
                Some(Seen::NextPolled { at }) => {
                    self.timings.init = Some(at.saturating_duration_since(started));
                    self.peak_rss = read_peak_rss(self.pid);
                    self.phase = Phase::Ready;
                    Ok(())
                }
                Some(Seen::InitError { header_error_type, body, at }) => {
                    self.peak_rss = read_peak_rss(self.pid);
                    // The runtime is expected to exit after reporting; give it a moment.
                    let exit_status = tokio::time::timeout(Duration::from_secs(5), exit(&mut self.child)).await.ok();
                    if exit_status.is_some() {
                        self.stdout.drained().await;
                        self.stderr.drained().await;
                    }
                    self.phase = Phase::InitFailed(InitErrorReport {
                        header_error_type,
                        error_type: body["errorType"].as_str().map(str::to_owned),
                        error_message: body["errorMessage"].as_str().map(str::to_owned),
                        body,
                        after: at.saturating_duration_since(started),
                        exit_status,
                    });
                    Ok(())
                }
                Some(other) => {
                    self.kill_and_wait().await;
                    let message = match other {
                        Seen::Violation(message) => message,
                        other => format!("out of turn during init: {other:?}"),
                    };
                    Err(LaunchError::Protocol { function: self.name.clone(), message, output: self.output() })
                }
                None => Err(LaunchError::Protocol {
                    function: self.name.clone(),
                    message: "the Runtime API stopped".into(),
                    output: self.output(),
                }),
            },
            status = exit(&mut self.child) => {
                // Let the readers drain what the process wrote before it died.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(LaunchError::Exited { function: self.name.clone(), status: Some(status), output: self.output() })
            }
            () = tokio::time::sleep_until(deadline) => {
                self.kill_and_wait().await;
                Err(LaunchError::Timeout { function: self.name.clone(), waited: wait, output: self.output() })
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// From now on an invocation still running at the function's timeout is killed then, as
    /// Lambda kills it (and resets the sandbox: the process is gone), instead of after a grace
    /// that spares a loaded test machine's slow answers.
    pub fn kill_at_timeout(&mut self) {
        self.grace = Duration::ZERO;
    }

    /// The next invocation only is given `timeout`, as if the function were configured with it:
    /// its deadline, and when it is killed.
    pub fn time_next_invocation(&mut self, timeout: Duration) {
        self.next_timeout = Some(timeout);
    }

    /// Whether the process still takes invocations (not timed out, exited or broken).
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// `host:port` of this function's Runtime API.
    pub fn runtime_api(&self) -> &str {
        &self.runtime_api
    }

    /// What the process reported to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<&InitErrorReport> {
        match &self.phase {
            Phase::InitFailed(report) => Some(report),
            _ => None,
        }
    }

    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Spawn to first `/next`.
    pub fn init_duration(&self) -> Option<Duration> {
        self.timings.init
    }

    /// Peak resident set size in bytes (`VmHWM`), read now while the process lives, else the
    /// last reading.
    pub fn peak_rss(&mut self) -> Option<u64> {
        if let Some(now) = read_peak_rss(self.pid) {
            self.peak_rss = Some(now);
        }
        self.peak_rss
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub fn output(&self) -> String {
        let (out, err) = (self.stdout.text(), self.stderr.text());
        format!("--- {} stdout ---\n{out}--- {} stderr ---\n{err}---", self.name, self.name)
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// Sends one event and waits for the function's response payload, parsed as JSON.
    pub async fn invoke(&mut self, event: &Value) -> Result<Value, InvokeError> {
        let invocation = self.invoke_raw(Bytes::from(event.to_string())).await?;
        match invocation.outcome {
            Outcome::Response(body) => serde_json::from_slice(&body).map_err(|e| InvokeError::Protocol {
                function: self.name.clone(),
                message: format!("the response is not JSON ({e}): {}", String::from_utf8_lossy(&body)),
                output: self.output(),
            }),
            Outcome::Error(error) => {
                Err(InvokeError::Function { function: self.name.clone(), error, output: self.output() })
            }
        }
    }

    /// Sends one event as Lambda does and returns what the function answered, by either route.
    pub async fn invoke_raw(&mut self, event: Bytes) -> Result<Invocation, InvokeError> {
        match &self.phase {
            Phase::Ready => {}
            Phase::InitFailed(report) => {
                return Err(InvokeError::InitFailed { function: self.name.clone(), report: report.clone() });
            }
            Phase::Gone(why) => {
                return Err(InvokeError::Protocol {
                    function: self.name.clone(),
                    message: format!("the process is gone: {why}"),
                    output: self.output(),
                });
            }
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let timeout = self.next_timeout.take().unwrap_or(self.timeout);
        let pending = Pending {
            request_id: request_id.clone(),
            body: event,
            deadline_ms: (now + timeout).as_millis(),
            trace_id: trace_id(now),
        };
        let waited = timeout + self.grace;
        let deadline = tokio::time::Instant::now() + waited;
        if self.invocations.send(pending).await.is_err() {
            return Err(self.gone("the Runtime API stopped"));
        }
        let mut delivered_at = None;
        loop {
            tokio::select! {
                biased;
                seen = self.seen.recv() => match seen {
                    Some(Seen::NextPolled { .. }) => {}
                    Some(Seen::Delivered { request_id: id, at }) if id == request_id => delivered_at = Some(at),
                    Some(Seen::Response { request_id: id, body, at }) if id == request_id => {
                        return Ok(self.finished(request_id, Outcome::Response(body), delivered_at, at));
                    }
                    Some(Seen::Error { request_id: id, error, at }) if id == request_id => {
                        return Ok(self.finished(request_id, Outcome::Error(error), delivered_at, at));
                    }
                    Some(other) => {
                        let message = match other {
                            Seen::Violation(message) => message,
                            other => format!("out of turn: {other:?}"),
                        };
                        let output = self.output();
                        self.phase = Phase::Gone(message.clone());
                        return Err(InvokeError::Protocol { function: self.name.clone(), message, output });
                    }
                    None => return Err(self.gone("the Runtime API stopped")),
                },
                status = exit(&mut self.child) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let output = self.output();
                    self.phase = Phase::Gone("exited".into());
                    return Err(InvokeError::Exited { function: self.name.clone(), status: Some(status), output });
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.kill_and_wait().await;
                    self.phase = Phase::Gone("timed out".into());
                    return Err(InvokeError::Timeout { function: self.name.clone(), waited, output: self.output() });
                }
            }
        }
    }

    fn finished(
        &mut self,
        request_id: String,
        outcome: Outcome,
        delivered: Option<Instant>,
        at: Instant,
    ) -> Invocation {
        let duration = delivered.map(|d| at.saturating_duration_since(d)).unwrap_or_default();
        self.timings.invocations.push(duration);
        Invocation { request_id, outcome, duration }
    }

    fn gone(&mut self, why: &str) -> InvokeError {
        self.phase = Phase::Gone(why.into());
        InvokeError::Protocol { function: self.name.clone(), message: why.into(), output: self.output() }
    }

    async fn kill_and_wait(&mut self) -> Option<ExitStatus> {
        self.peak_rss();
        let _ = self.child.kill();
        tokio::time::timeout(Duration::from_secs(5), exit(&mut self.child)).await.ok()
    }

    /// Reads the peak RSS, stops the process and returns what was measured.
    pub async fn shutdown(mut self) -> (Timings, Option<u64>) {
        self.kill_and_wait().await;
        (self.timings.clone(), self.peak_rss)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        // SIGKILL, then reap: the wait returns at once and leaves no zombie behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
    }
}

/// Resolves when the process has ended. Polled, because std's `Child` has no async wait and
/// tokio's would need its `process` feature, which would then be unified into the functions'
/// own tokio in a workspace build and change the binaries under test.
async fn exit(child: &mut Child) -> ExitStatus {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
            // Not ours to wait for any more: treat as ended by a signal we cannot name.
            Err(_) => return std::os::unix::process::ExitStatusExt::from_raw(9),
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string())
}

/// `VmHWM` of /proc/<pid>/status, in bytes. Linux only; `None` once the process is reaped.
pub fn read_peak_rss(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// An X-Ray trace header as Lambda passes it with Active tracing.
fn trace_id(now: Duration) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", now.as_secs(), &random[..24], &random[16..32])
}
