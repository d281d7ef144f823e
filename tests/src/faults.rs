//! A fault-injecting proxy between a client (a release binary, `stratus-admin`) and the local
//! engines: every request passes through unchanged unless a scripted fault matches it.
//!
//! A fault is scripted per operation: "the next N calls of X get Y". An operation is named as
//! AWS names it: the `X-Amz-Target` of the JSON protocols (`PutItem`, `SendMessage`, `Sign`),
//! the `Action` of the query protocol (`ExecuteChangeSet`), for SES v2's REST-JSON protocol the
//! operation its method and path stand for (`SendEmail`), or for CloudFront's REST protocol the
//! method and path (`GetDistributionConfig`, `UpdateDistribution`). The errors are the ones the
//! SDKs parse, in each protocol's and service's own form, so the client sees exactly what AWS
//! would send: throttling (which the SDK retries within its budget), 500 and 503 (retried too),
//! expired credentials (which it does not), CloudFront's stale ETag; and at the transport level
//! latency, and a connection reset before the request is forwarded or after it was applied
//! upstream: with the answer lost, the case that matters most.
//!
//! The proxy also records every call (operation, status, whether it reached the engine, the
//! fault it met), so a test can count the SDK's attempts, and after each call that changed
//! something upstream it runs an observer, which sees the engines exactly between two calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use futures::future::BoxFuture;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// The service is busy (its own throttling error; DynamoDB's `ThrottlingException`):
    /// retried by the SDK, within its attempt budget.
    Throttle,
    /// DynamoDB's `ProvisionedThroughputExceededException` (elsewhere the same as `Throttle`).
    ThroughputExceeded,
    /// 500 with the service's internal error (DynamoDB `InternalServerError`, KMS
    /// `KMSInternalException`, …), not forwarded.
    InternalError,
    /// 503 `ServiceUnavailable`, not forwarded.
    Unavailable,
    /// Forwarded after this many milliseconds.
    Latency(u64),
    /// Forwarded and applied upstream; then the connection is reset instead of the answer.
    ResetAfterApplied,
    /// The connection is reset on the request: nothing is forwarded.
    ResetBeforeForwarding,
    /// The caller's credentials expired: not retried.
    ExpiredCredentials,
    /// CloudFront: the `If-Match` ETag is not the distribution's current one.
    StaleEtag,
    /// Forwarded and applied upstream; the client gets a 500 instead of the answer.
    AnswerLost,
    /// 500 with an error code no adapter lists (AWS's common `InternalFailure`), not forwarded.
    UnknownServerError,
    /// 502 with an HTML body, as a load balancer in the way would answer: no error code, no
    /// JSON; not forwarded.
    GarbledServerError,
}

impl Fault {
    /// A short name for reports.
    pub fn name(self) -> String {
        match self {
            Self::Throttle => "throttling".into(),
            Self::ThroughputExceeded => "throughput exceeded".into(),
            Self::InternalError => "500".into(),
            Self::Unavailable => "503".into(),
            Self::Latency(ms) => format!("latency {ms} ms"),
            Self::ResetAfterApplied => "reset after applied".into(),
            Self::ResetBeforeForwarding => "reset before forwarding".into(),
            Self::ExpiredCredentials => "expired credentials".into(),
            Self::StaleEtag => "stale ETag".into(),
            Self::AnswerLost => "answer lost (500)".into(),
            Self::UnknownServerError => "500, unknown code".into(),
            Self::GarbledServerError => "502, HTML body".into(),
        }
    }

    /// Whether a call meeting it reaches the engine.
    fn forwards(self) -> bool {
        matches!(self, Self::Latency(_) | Self::ResetAfterApplied | Self::AnswerLost)
    }
}

/// What a call met that a [`Call`] records as its status when no answer went back.
pub const NO_ANSWER: u16 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    /// The status the client got; [`NO_ANSWER`] when the connection was reset.
    pub status: u16,
    /// Whether the call reached the engine (false: the proxy answered it with a fault).
    pub forwarded: bool,
    /// The scripted fault it met, if any.
    pub fault: Option<Fault>,
    /// What the engine answered, when the call reached it (the client may have got nothing).
    pub upstream: Option<u16>,
}

/// Runs after a call that changed something reached the engine, before its answer goes back.
pub type Observer = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

struct Scripted {
    operation: String,
    /// Only calls whose body contains this (an item's key, say).
    matching: Option<String>,
    /// Calls of the operation to let through first.
    skip: usize,
    times: usize,
    fault: Fault,
}

struct Script {
    faults: VecDeque<Scripted>,
    calls: Vec<Call>,
    /// Each call's operation and request body, apart from `calls`, whose failure reports stay
    /// short.
    requests: Vec<(String, String)>,
}

pub struct FaultProxy {
    pub url: String,
    script: Arc<Mutex<Script>>,
    delayed: Arc<tokio::sync::watch::Sender<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    upstream: String,
    http: reqwest::Client,
    script: Arc<Mutex<Script>>,
    observer: Option<Observer>,
    /// Delayed calls not yet answered by the engine (see [`FaultProxy::settled`]).
    delayed: Arc<tokio::sync::watch::Sender<usize>>,
}

impl FaultProxy {
    pub async fn start(upstream: impl Into<String>, observer: Option<Observer>) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let script =
            Arc::new(Mutex::new(Script { faults: VecDeque::new(), calls: Vec::new(), requests: Vec::new() }));
        let delayed = Arc::new(tokio::sync::watch::Sender::new(0));
        let state = Arc::new(State {
            upstream: upstream.into(),
            http: reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?,
            script: script.clone(),
            observer,
            delayed: delayed.clone(),
        });
        let task = tokio::spawn(serve(listener, state));
        Ok(Self { url, script, delayed, task })
    }

    /// Waits until every call delayed by [`Fault::Latency`] has reached the engine and been
    /// answered: whatever a late write changes has then landed, whether or not its caller was
    /// still waiting for it.
    pub async fn settled(&self) {
        let mut delayed = self.delayed.subscribe();
        let _ = delayed.wait_for(|&n| n == 0).await;
    }

    /// The next `times` calls of `operation` get `fault`.
    pub fn fail(&self, operation: &str, times: usize, fault: Fault) {
        self.fail_after(operation, 0, fault);
        self.script.lock().unwrap().faults.back_mut().expect("just added").times = times;
    }

    /// The call of `operation` after the next `skip` ones gets `fault`, once.
    pub fn fail_after(&self, operation: &str, skip: usize, fault: Fault) {
        let scripted = Scripted { operation: operation.to_owned(), matching: None, skip, times: 1, fault };
        self.script.lock().unwrap().faults.push_back(scripted);
    }

    /// The next `times` calls of `operation` whose body contains `matching` get `fault`.
    pub fn fail_matching(&self, operation: &str, matching: &str, times: usize, fault: Fault) {
        let scripted = Scripted {
            operation: operation.to_owned(),
            matching: Some(matching.to_owned()),
            skip: 0,
            times,
            fault,
        };
        self.script.lock().unwrap().faults.push_back(scripted);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.script.lock().unwrap().calls.clone()
    }

    /// The calls of `operation` so far: the SDK's attempts.
    pub fn attempts(&self, operation: &str) -> usize {
        self.script.lock().unwrap().calls.iter().filter(|c| c.operation == operation).count()
    }

    /// The bodies of the calls of `operation` so far, in order: what a client sent (the mail
    /// SES was asked to send, say).
    pub fn requests(&self, operation: &str) -> Vec<String> {
        let script = self.script.lock().unwrap();
        script.requests.iter().filter(|(o, _)| o == operation).map(|(_, body)| body.clone()).collect()
    }

    /// Faults scripted and not yet spent.
    pub fn pending(&self) -> usize {
        self.script.lock().unwrap().faults.iter().map(|f| f.times).sum()
    }

    /// Drops the faults not yet spent; the record of calls stays.
    pub fn clear_faults(&self) {
        self.script.lock().unwrap().faults.clear();
    }

    pub fn clear(&self) {
        let mut script = self.script.lock().unwrap();
        script.faults.clear();
        script.calls.clear();
        script.requests.clear();
    }
}

/// Serves each connection itself (not through `axum::serve`), so that a fault can reset it:
/// the service fails, hyper drops the connection, and with `SO_LINGER` zero the kernel answers
/// with RST instead of FIN.
async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(stream) = stream.into_std() else { return };
            let Ok(handle) = stream.try_clone() else { return };
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { return };
            let handle = Arc::new(handle);
            let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let (state, handle) = (state.clone(), handle.clone());
                async move {
                    match forward(state, request.map(Body::new)).await {
                        Some(response) => Ok(response),
                        None => {
                            // Zero linger on the socket (a duplicate handle shares it): the close
                            // that follows sends RST.
                            if let Ok(duplicate) = handle.try_clone()
                                && let Ok(socket) = tokio::net::TcpStream::from_std(duplicate)
                            {
                                let _ = socket.set_zero_linger();
                            }
                            Err("connection reset by the fault proxy")
                        }
                    }
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson 1.0 and 1.1, by the target's prefix: DynamoDB, SQS, KMS, Secrets Manager.
    Json(Service),
    Query,
    /// SES v2.
    RestJson,
    RestXml,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    DynamoDb,
    Sqs,
    Kms,
    SecretsManager,
    Other,
}

/// The operation a request calls, and its protocol.
fn operation(parts: &http::request::Parts, body: &[u8]) -> (String, Protocol) {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, name) = target.rsplit_once('.').unwrap_or(("", target));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => Service::DynamoDb,
            "AmazonSQS" => Service::Sqs,
            "TrentService" => Service::Kms,
            "secretsmanager" => Service::SecretsManager,
            _ => Service::Other,
        };
        return (name.to_owned(), Protocol::Json(service));
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return (action.to_owned(), Protocol::Query);
    }
    let path = parts.uri.path();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first() == Some(&"v2") && segments.get(1) == Some(&"email") {
        let name = match (parts.method.as_str(), &segments[2..]) {
            ("POST", ["outbound-emails"]) => "SendEmail".to_owned(),
            ("POST", ["identities"]) => "CreateEmailIdentity".to_owned(),
            (method, _) => format!("{method} {path}"),
        };
        return (name, Protocol::RestJson);
    }
    let name = match (parts.method.as_str(), segments.as_slice()) {
        ("GET", [_, "distribution", _, "config"]) => "GetDistributionConfig".to_owned(),
        ("PUT", [_, "distribution", _, "config"]) => "UpdateDistribution".to_owned(),
        ("GET", [_, "distribution", _]) => "GetDistribution".to_owned(),
        ("POST", [_, "distribution"]) => "CreateDistribution".to_owned(),
        (method, _) => format!("{method} {path}"),
    };
    (name, Protocol::RestXml)
}

/// Whether a call changes anything (what the observer is told about).
fn mutates(operation: &str) -> bool {
    !["Get", "Describe", "List"].iter().any(|read| operation.starts_with(read))
}

/// The answer AWS gives for `fault`: status and error code, in the service's own words.
fn status_and_code(protocol: Protocol, fault: Fault) -> (u16, &'static str, &'static str) {
    let service = match protocol {
        Protocol::Json(service) => service,
        _ => Service::Other,
    };
    match (fault, service, protocol) {
        (Fault::ThroughputExceeded, Service::DynamoDb, _) => (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded",
        ),
        (Fault::Throttle | Fault::ThroughputExceeded, Service::Sqs, _) => {
            (400, "RequestThrottled", "Request is throttled.")
        }
        (Fault::Throttle | Fault::ThroughputExceeded, _, Protocol::RestJson) => {
            (429, "TooManyRequestsException", "Too many requests")
        }
        (Fault::Throttle | Fault::ThroughputExceeded, _, Protocol::Json(_)) => {
            (400, "ThrottlingException", "Rate exceeded")
        }
        (Fault::Throttle | Fault::ThroughputExceeded, _, _) => (400, "Throttling", "Rate exceeded"),
        (Fault::InternalError, Service::DynamoDb, _) => (500, "InternalServerError", "Internal server error"),
        (Fault::InternalError, Service::Kms, _) => (500, "KMSInternalException", "Internal error"),
        (Fault::InternalError, Service::SecretsManager, _) => {
            (500, "InternalServiceError", "An error occurred on the server side")
        }
        (Fault::InternalError | Fault::UnknownServerError, _, _) => {
            (500, "InternalFailure", "Internal failure")
        }
        (Fault::GarbledServerError, _, _) => (502, "", "Bad Gateway"),
        (Fault::Unavailable, _, _) => (503, "ServiceUnavailable", "Service is unavailable"),
        (Fault::ExpiredCredentials, _, Protocol::Json(_) | Protocol::RestJson) => {
            (403, "ExpiredTokenException", "The security token included in the request is expired")
        }
        (Fault::ExpiredCredentials, _, _) => {
            (403, "ExpiredToken", "The security token included in the request is expired")
        }
        (Fault::StaleEtag, _, _) => {
            (412, "PreconditionFailed", "The If-Match version is missing or not valid for the resource.")
        }
        (
            Fault::AnswerLost | Fault::Latency(_) | Fault::ResetAfterApplied | Fault::ResetBeforeForwarding,
            _,
            _,
        ) => (500, "InternalFailure", "The request processing has failed because of an unknown error"),
    }
}

fn error(protocol: Protocol, fault: Fault) -> Response {
    let (status, code, message) = status_and_code(protocol, fault);
    let builder = Response::builder().status(status).header("x-amzn-requestid", "fault-proxy");
    if fault == Fault::GarbledServerError {
        let page =
            format!("<html><head><title>{status} {message}</title></head><body>{message}</body></html>");
        return builder
            .header("content-type", "text/html")
            .body(Body::from(page))
            .expect("static parts are valid");
    }
    match protocol {
        Protocol::Json(service) => {
            let content_type = match service {
                Service::DynamoDb | Service::Sqs => "application/x-amz-json-1.0",
                _ => "application/x-amz-json-1.1",
            };
            let builder = builder.header("content-type", content_type).header("x-amzn-errortype", code);
            // SQS speaks JSON but keeps its query-era codes, which the SDK reads from here.
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            let builder = if service == Service::Sqs {
                builder.header("x-amzn-query-error", format!("{code};{kind}"))
            } else {
                builder
            };
            builder.body(Body::from(serde_json::json!({"__type": code, "message": message}).to_string()))
        }
        Protocol::RestJson => builder
            .header("content-type", "application/json")
            .header("x-amzn-errortype", code)
            .body(Body::from(serde_json::json!({"message": message}).to_string())),
        Protocol::Query | Protocol::RestXml => builder.header("content-type", "text/xml").body(Body::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>fault-proxy</RequestId></ErrorResponse>"
        ))),
    }
    .expect("static parts are valid")
}

/// The answer to one request; `None` resets the connection.
async fn forward(state: Arc<State>, request: http::Request<Body>) -> Option<Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let (operation, protocol) = operation(&parts, &body);
    let text = String::from_utf8_lossy(&body);
    let fault = {
        let mut script = state.script.lock().unwrap();
        let mut found = None;
        let applies = |f: &Scripted| {
            f.operation == operation
                && f.times > 0
                && f.matching.as_ref().is_none_or(|m| text.contains(m.as_str()))
        };
        for scripted in script.faults.iter_mut().filter(|f| applies(f)) {
            if scripted.skip > 0 {
                scripted.skip -= 1;
            } else if found.is_none() {
                scripted.times -= 1;
                found = Some(scripted.fault);
            }
        }
        script.faults.retain(|f| f.times > 0);
        script.requests.push((operation.clone(), text.clone().into_owned()));
        found
    };
    let record = |status: u16, upstream: Option<u16>| {
        let call =
            Call { operation: operation.clone(), status, forwarded: upstream.is_some(), fault, upstream };
        state.script.lock().unwrap().calls.push(call);
    };
    match fault {
        Some(Fault::ResetBeforeForwarding) => {
            record(NO_ANSWER, None);
            return None;
        }
        Some(fault) if !fault.forwards() => {
            let response = error(protocol, fault);
            record(response.status().as_u16(), None);
            return Some(response);
        }
        Some(Fault::Latency(ms)) => {
            // On a task of its own: the engine applies a call it received whether or not its
            // caller is still waiting, and a caller that gave up closes its connection, which
            // would cancel the call with it.
            state.delayed.send_modify(|n| *n += 1);
            let late = state.clone();
            let landed = tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                let answer = Box::pin(answer(&late, parts, body, operation, protocol, fault)).await;
                late.delayed.send_modify(|n| *n -= 1);
                answer
            });
            return landed.await.ok().flatten();
        }
        _ => {}
    }
    answer(&state, parts, body, operation, protocol, fault).await
}

/// Forwards a call to the engine and answers it, as `fault` (if any) has it once applied.
async fn answer(
    state: &State,
    parts: http::request::Parts,
    body: axum::body::Bytes,
    operation: String,
    protocol: Protocol,
    fault: Option<Fault>,
) -> Option<Response> {
    let record = |status: u16, upstream: Option<u16>| {
        let call =
            Call { operation: operation.clone(), status, forwarded: upstream.is_some(), fault, upstream };
        state.script.lock().unwrap().calls.push(call);
    };
    let mut upstream = state.http.request(parts.method.clone(), format!("{}{}", state.upstream, parts.uri));
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            record(502, None);
            return Some(Response::builder().status(502).body(Body::from(e.to_string())).expect("valid"));
        }
    };
    let status = answer.status();
    let mut response = Response::builder().status(status);
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    if status.is_success() && mutates(&operation) {
        if let Some(observer) = &state.observer {
            observer(operation.clone()).await;
        }
    }
    match fault {
        Some(Fault::AnswerLost) => {
            record(500, Some(status.as_u16()));
            Some(error(protocol, Fault::AnswerLost))
        }
        Some(Fault::ResetAfterApplied) => {
            record(NO_ANSWER, Some(status.as_u16()));
            None
        }
        _ => {
            record(status.as_u16(), Some(status.as_u16()));
            Some(response.body(Body::from(bytes)).expect("upstream parts are valid"))
        }
    }
}
