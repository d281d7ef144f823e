//! What stands in front of the functions on AWS, played against the release binaries:
//! CloudFront and API Gateway (HTTP API, payload v2) for the HTTP functions, and the SQS event
//! source mapping for the worker. The events are built by the same code local-api uses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use serde_json::{Value, json};
use stratus_routes::{FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY, Resolution, resolve};
use tokio::sync::Mutex;

use super::emulator::{Function, InvokeError, LaunchSpec, Timings};
use super::stack::LocalStack;
use crate::Reply;

/// The worker's binary: the one function fed by the queue instead of HTTP.
pub const WORKER: &str = "worker";

/// One function's measurements, for reports.
#[derive(Debug, Clone)]
pub struct Measured {
    pub function: String,
    pub timings: Timings,
    pub peak_rss: Option<u64>,
}

/// Every function of the stack, each started on first use and kept warm, as Lambda keeps one
/// sandbox per function when requests come one at a time.
pub struct Gateway {
    stack: LocalStack,
    functions: Mutex<BTreeMap<String, Function>>,
    /// The output of the sandboxes replaced after a timeout or a crash.
    gone: Mutex<Vec<String>>,
    /// Variables set on every function on top of the template's (say, a benchmark's rate limits).
    overrides: BTreeMap<String, String>,
    /// The caller's address, as API Gateway reports it.
    pub source_ip: IpAddr,
    /// Set by [`Gateway::as_on_aws`].
    as_on_aws: bool,
    /// Timeouts of the functions' own, by binary, instead of the template's.
    timeouts: BTreeMap<String, std::time::Duration>,
}

/// What one pass of the event source mapping did.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub received: usize,
    pub failed: Vec<String>,
    /// The receipt handles of the failed messages, for [`Gateway::retry_now`].
    pub failed_receipts: Vec<String>,
    pub response: Value,
}

impl Gateway {
    pub fn new(stack: LocalStack) -> Self {
        Self {
            stack,
            functions: Mutex::new(BTreeMap::new()),
            gone: Mutex::new(Vec::new()),
            overrides: BTreeMap::new(),
            source_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            as_on_aws: false,
            timeouts: BTreeMap::new(),
        }
    }

    /// From now on, a function that fails as a whole is answered for as on AWS instead of
    /// failing the test: Lambda kills a function at its timeout (and the next request starts a
    /// fresh sandbox), API Gateway answers a request whose function failed, timed out or died
    /// with its own `500 {"message":"Internal Server Error"}`, and the event source mapping
    /// leaves a failed batch on the queue for another delivery.
    pub fn as_on_aws(mut self) -> Self {
        self.as_on_aws = true;
        self
    }

    /// Gives `binary` a timeout of its own instead of the template's.
    pub fn with_timeout(mut self, binary: &str, timeout: std::time::Duration) -> Self {
        self.timeouts.insert(binary.to_owned(), timeout);
        self
    }

    /// Sets `name` on every function this gateway starts from now on.
    pub fn with_var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.overrides.insert(name.to_owned(), value.into());
        self
    }

    pub fn stack(&self) -> &LocalStack {
        &self.stack
    }

    /// How this gateway starts `binary`: the stack's launch spec with the overrides.
    pub fn launch_spec(&self, binary: &str) -> Result<LaunchSpec, String> {
        let mut spec = self.stack.launch_spec(binary)?;
        if let Some(timeout) = self.timeouts.get(binary) {
            spec.timeout = *timeout;
        }
        Ok(self.overrides.iter().fold(spec, |spec, (name, value)| spec.with_var(name, value.clone())))
    }

    /// Invokes a function with any event, starting it first if need be.
    pub async fn invoke(&self, binary: &str, event: &Value) -> Result<Value, InvokeError> {
        self.invoke_within(binary, event, None).await
    }

    /// The same, the invocation given `timeout` instead of the function's own when set.
    async fn invoke_within(
        &self,
        binary: &str,
        event: &Value,
        timeout: Option<std::time::Duration>,
    ) -> Result<Value, InvokeError> {
        let mut functions = self.functions.lock().await;
        if !functions.contains_key(binary) {
            let spec = self.launch_spec(binary).unwrap_or_else(|e| panic!("{e}"));
            let mut function =
                Function::spawn(spec).await.unwrap_or_else(|e| panic!("starting {binary}: {e}"));
            if let Some(report) = function.init_error() {
                panic!("{binary} failed its init: {}\n{}", report.body, function.output());
            }
            if self.as_on_aws {
                function.kill_at_timeout();
            }
            functions.insert(binary.to_owned(), function);
        }
        let function = functions.get_mut(binary).expect("just inserted");
        if let Some(timeout) = timeout {
            function.time_next_invocation(timeout);
        }
        let answer = function.invoke(event).await;
        if self.as_on_aws && !function.is_ready() {
            // Lambda starts a fresh sandbox for the next request.
            if let Some(gone) = functions.remove(binary) {
                self.gone.lock().await.push(gone.output());
            }
        }
        answer
    }

    /// A request as CloudFront forwards it: with the origin secret.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Reply {
        let (function, event) = self.routed(request, true);
        self.answer(function, &event, None).await
    }

    /// The same, its function given `timeout` for this request only, as if it were configured
    /// with it: a dependency slower than that is then quick to wait out.
    pub async fn send_within(&self, request: http::Request<Vec<u8>>, timeout: std::time::Duration) -> Reply {
        let (function, event) = self.routed(request, true);
        self.answer(function, &event, Some(timeout)).await
    }

    /// A request as CloudFront forwards it when it sends `secret` in the origin header (during a
    /// rotation, some edges send the new value and some the old).
    pub async fn send_with_origin_secret(&self, request: http::Request<Vec<u8>>, secret: &str) -> Reply {
        let (mut parts, body) = request.into_parts();
        parts
            .headers
            .insert(stratus_http::http::ORIGIN_VERIFY_HEADER, secret.parse().expect("a header value"));
        self.send_direct(http::Request::from_parts(parts, body)).await
    }

    /// A request straight to API Gateway's own endpoint, as is, without CloudFront's header.
    pub async fn send_direct(&self, request: http::Request<Vec<u8>>) -> Reply {
        let (function, event) = self.routed(request, false);
        self.answer(function, &event, None).await
    }

    /// The function `request` reaches and the payload v2 event API Gateway hands it; through
    /// CloudFront, the request also carries the origin secret.
    pub fn routed(&self, request: http::Request<Vec<u8>>, via_cloudfront: bool) -> (&'static str, Value) {
        let (mut parts, body) = request.into_parts();
        if via_cloudfront && let Some(secret) = self.stack.origin_secret() {
            parts
                .headers
                .insert(stratus_http::http::ORIGIN_VERIFY_HEADER, secret.parse().expect("a header value"));
        }
        if !body.is_empty() {
            parts.headers.insert(http::header::CONTENT_LENGTH, body.len().into());
        }
        let (function, route_key, params) = match resolve(parts.method.as_str(), parts.uri.path()) {
            Resolution::Found { route, params } => (route.function, route.key(), params),
            Resolution::MethodNotAllowed { .. } | Resolution::NotFound => {
                (FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY.to_owned(), Vec::new())
            }
        };
        let event = local_api::event::api_gateway_v2(local_api::event::Incoming {
            parts: &parts,
            body: &body,
            route_key: &route_key,
            path_params: &params,
            source_ip: self.source_ip,
        });
        (function, event)
    }

    async fn answer(&self, function: &str, event: &Value, timeout: Option<std::time::Duration>) -> Reply {
        let response = match self.invoke_within(function, event, timeout).await {
            Ok(response) => response,
            Err(InvokeError::Function { .. } | InvokeError::Timeout { .. } | InvokeError::Exited { .. })
                if self.as_on_aws =>
            {
                return api_gateway_internal_error();
            }
            Err(e) => {
                panic!("{} {} → {function}: {e}", event["requestContext"]["http"]["method"], event["rawPath"])
            }
        };
        decode_response(&response).unwrap_or_else(|e| panic!("{function} answered {response}: {e}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(request("GET", path, None, None)).await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(request("GET", path, Some(token), None)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(request("POST", path, None, Some(body))).await
    }

    pub async fn post_with_token(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(request("POST", path, Some(token), Some(body))).await
    }

    /// One pass of the SQS event source mapping: receive a batch, invoke the worker with it
    /// as an SQS event, delete what it did not report failed.
    pub async fn deliver_queue(&self) -> Delivery {
        use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
        let sqs = aws_sdk_sqs::Client::new(self.stack.sdk());
        let queue_url = self.stack.queue_url();
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("receive from {queue_url}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
            });
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Delivery::default();
        }
        let event = sqs_event(&messages, self.stack.queue_arn());
        let response = match self.invoke(WORKER, &event).await {
            Ok(response) => response,
            Err(InvokeError::Function { .. } | InvokeError::Timeout { .. } | InvokeError::Exited { .. })
                if self.as_on_aws =>
            {
                // The whole batch failed: every message stays on the queue.
                let failed = messages.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect();
                let failed_receipts =
                    messages.iter().filter_map(|m| m.receipt_handle().map(str::to_owned)).collect();
                return Delivery { received: messages.len(), failed, failed_receipts, response: Value::Null };
            }
            Err(e) => panic!("worker: {e}"),
        };
        let failed: Vec<String> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and handle are set")
            })
            .collect();
        if !entries.is_empty() {
            sqs.delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("delete from {queue_url}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
                });
        }
        let failed_receipts = messages
            .iter()
            .filter(|m| failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
            .filter_map(|m| m.receipt_handle().map(str::to_owned))
            .collect();
        Delivery { received: messages.len(), failed, failed_receipts, response }
    }

    /// What SQS does once the visibility timeout of the failed messages passes, now.
    pub async fn retry_now(&self, delivery: &Delivery) {
        let sqs = aws_sdk_sqs::Client::new(self.stack.sdk());
        for receipt in &delivery.failed_receipts {
            sqs.change_message_visibility()
                .queue_url(self.stack.queue_url())
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("make a failed message visible: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
                });
        }
    }

    /// Init duration, invocation durations and peak RSS of every function started so far.
    pub async fn measurements(&self) -> Vec<Measured> {
        let mut functions = self.functions.lock().await;
        functions
            .iter_mut()
            .map(|(name, f)| Measured {
                function: name.clone(),
                timings: f.timings().clone(),
                peak_rss: f.peak_rss(),
            })
            .collect()
    }

    /// Everything the functions started so far have written, for a failure message (the
    /// sandboxes Lambda replaced first).
    pub async fn output(&self) -> String {
        let gone = self.gone.lock().await.clone();
        let live = self.functions.lock().await.values().map(Function::output).collect::<Vec<_>>();
        gone.into_iter().chain(live).collect::<Vec<_>>().join("\n")
    }

    /// The output once it holds `needle`, or as it stands after a few seconds: a function writes
    /// its log line before it answers, but the pipe is read on another task, so the line can
    /// arrive here just after the answer.
    pub async fn output_containing(&self, needle: &str) -> String {
        for _ in 0..100 {
            let output = self.output().await;
            if output.contains(needle) {
                return output;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.output().await
    }
}

/// What API Gateway's HTTP API answers when the function failed, timed out or died.
fn api_gateway_internal_error() -> Reply {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", reqwest::header::HeaderValue::from_static("application/json"));
    Reply { status: 500, headers, body: br#"{"message":"Internal Server Error"}"#.to_vec() }
}

/// A request as the suites send it: JSON body if any, bearer token if any.
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder().method(method).uri(path).header("user-agent", "stratus-e2e");
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    builder.body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default()).expect("a valid request")
}

/// The SQS event Lambda delivers for a batch received from `queue_arn`.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> Value {
    json!({ "Records": messages.iter().map(|m| local_api::worker::sqs_record(m, queue_arn)).collect::<Vec<_>>() })
}

/// Reads a payload v2 response as API Gateway does: `statusCode`, `headers`, `cookies` (as
/// `set-cookie`) and a body that may be base64. Format 2.0 has no `multiValueHeaders`; API
/// Gateway ignores them, so they are ignored here too.
pub fn decode_response(response: &Value) -> Result<Reply, String> {
    let status = response["statusCode"].as_u64().ok_or("no statusCode")? as u16;
    let mut headers = reqwest::header::HeaderMap::new();
    let mut add = |name: &str, value: &str| -> Result<(), String> {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        headers.append(name, value);
        Ok(())
    };
    for (name, value) in response["headers"].as_object().into_iter().flatten() {
        add(name, value.as_str().ok_or("a header value is not a string")?)?;
    }
    for cookie in response["cookies"].as_array().into_iter().flatten() {
        add("set-cookie", cookie.as_str().ok_or("a cookie is not a string")?)?;
    }
    let body = match &response["body"] {
        Value::Null => Vec::new(),
        Value::String(text) if response["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?
        }
        Value::String(text) => text.clone().into_bytes(),
        other => return Err(format!("body {other} is not a string")),
    };
    Ok(Reply { status, headers, body })
}
