//! A fault-injecting proxy between a client (a release binary, `stratus-admin`) and the local
//! engines: every request passes through unchanged unless a scripted fault matches it.
//!
//! A fault is scripted per operation: "the next N calls of X get Y". An operation is named as
//! AWS names it: the `X-Amz-Target` of the JSON protocols (`PutSecretValue`), the `Action` of
//! the query protocol (`ExecuteChangeSet`), or for CloudFront's REST protocol the method and
//! path (`GetDistributionConfig`, `UpdateDistribution`). The errors are the ones the SDKs parse,
//! in each protocol's own form, so the client sees exactly what AWS would send: throttling (which
//! the SDK retries within its budget), expired credentials (which it does not), CloudFront's
//! stale ETag, and the case that matters most: the request applied upstream and its answer lost.
//!
//! The proxy also records every call (operation and status), and after each call that changed
//! something upstream it runs an observer, which sees the engines exactly between two calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use futures::future::BoxFuture;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service is busy: retried by the SDK, within its attempt budget.
    Throttle,
    /// The caller's credentials expired: not retried.
    ExpiredCredentials,
    /// CloudFront: the `If-Match` ETag is not the distribution's current one.
    StaleEtag,
    /// Forwarded and applied upstream; the client gets a 500 instead of the answer.
    AnswerLost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub status: u16,
    /// Whether the call reached the engine (false: the proxy answered it with a fault).
    pub forwarded: bool,
}

/// Runs after a call that changed something reached the engine, before its answer goes back.
pub type Observer = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

struct Scripted {
    operation: String,
    /// Calls of the operation to let through first.
    skip: usize,
    times: usize,
    fault: Fault,
}

struct Script {
    faults: VecDeque<Scripted>,
    calls: Vec<Call>,
}

pub struct FaultProxy {
    pub url: String,
    script: Arc<Mutex<Script>>,
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
}

impl FaultProxy {
    pub async fn start(upstream: impl Into<String>, observer: Option<Observer>) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let script = Arc::new(Mutex::new(Script { faults: VecDeque::new(), calls: Vec::new() }));
        let state = Arc::new(State {
            upstream: upstream.into(),
            http: reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?,
            script: script.clone(),
            observer,
        });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, script, task })
    }

    /// The next `times` calls of `operation` get `fault`.
    pub fn fail(&self, operation: &str, times: usize, fault: Fault) {
        self.fail_after(operation, 0, fault);
        self.script.lock().unwrap().faults.back_mut().expect("just added").times = times;
    }

    /// The call of `operation` after the next `skip` ones gets `fault`, once.
    pub fn fail_after(&self, operation: &str, skip: usize, fault: Fault) {
        let scripted = Scripted { operation: operation.to_owned(), skip, times: 1, fault };
        self.script.lock().unwrap().faults.push_back(scripted);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.script.lock().unwrap().calls.clone()
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
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    Query,
    RestXml,
}

/// The operation a request calls, and its protocol.
fn operation(parts: &http::request::Parts, body: &[u8]) -> (String, Protocol) {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return (target.rsplit('.').next().unwrap_or(target).to_owned(), Protocol::Json);
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return (action.to_owned(), Protocol::Query);
    }
    let path = parts.uri.path();
    let name = match (
        parts.method.as_str(),
        path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().as_slice(),
    ) {
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

fn error(protocol: Protocol, fault: Fault) -> Response {
    let (status, code, message) = match fault {
        Fault::Throttle => (400, "Throttling", "Rate exceeded"),
        Fault::ExpiredCredentials => {
            (403, "ExpiredToken", "The security token included in the request is expired")
        }
        Fault::StaleEtag => {
            (412, "PreconditionFailed", "The If-Match version is missing or not valid for the resource.")
        }
        Fault::AnswerLost => {
            (500, "InternalFailure", "The request processing has failed because of an unknown error")
        }
    };
    let builder = Response::builder().status(status).header("x-amzn-requestid", "fault-proxy");
    match protocol {
        Protocol::Json => {
            let code = match fault {
                Fault::Throttle => "ThrottlingException",
                Fault::ExpiredCredentials => "ExpiredTokenException",
                _ => code,
            };
            builder
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amzn-errortype", code)
                .body(Body::from(serde_json::json!({"__type": code, "message": message}).to_string()))
        }
        Protocol::Query | Protocol::RestXml => builder.header("content-type", "text/xml").body(Body::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>fault-proxy</RequestId></ErrorResponse>"
        ))),
    }
    .expect("static parts are valid")
}

async fn forward(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let (operation, protocol) = operation(&parts, &body);
    let fault = {
        let mut script = state.script.lock().unwrap();
        let mut found = None;
        for scripted in script.faults.iter_mut().filter(|f| f.operation == operation && f.times > 0) {
            if scripted.skip > 0 {
                scripted.skip -= 1;
            } else if found.is_none() {
                scripted.times -= 1;
                found = Some(scripted.fault);
            }
        }
        script.faults.retain(|f| f.times > 0);
        found
    };
    let record = |status: u16, forwarded: bool| {
        state.script.lock().unwrap().calls.push(Call { operation: operation.clone(), status, forwarded });
    };
    if let Some(fault) = fault.filter(|f| *f != Fault::AnswerLost) {
        let response = error(protocol, fault);
        record(response.status().as_u16(), false);
        return response;
    }
    let mut upstream = state.http.request(parts.method.clone(), format!("{}{}", state.upstream, parts.uri));
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            record(502, false);
            return Response::builder().status(502).body(Body::from(e.to_string())).expect("valid");
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
    if fault == Some(Fault::AnswerLost) {
        record(500, true);
        return error(protocol, Fault::AnswerLost);
    }
    record(status.as_u16(), true);
    response.body(Body::from(bytes)).expect("upstream parts are valid")
}
