//! Request parsing and response building shared by every HTTP function, and the one wrapper
//! (`Endpoint`) through which Lambda and the local server both call a handler.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

pub use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
pub use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::Problem;
pub use crate::origin::{ORIGIN_VERIFY_HEADER, OriginGuard};

pub type HandlerResult = Result<Response<Body>, Problem>;
type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A handler made callable the same way by the Lambda runtime and by the local server.
#[derive(Clone)]
pub struct Endpoint(Arc<dyn Fn(Request) -> HandlerFuture + Send + Sync>);

impl Endpoint {
    pub fn new<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        Self(Arc::new(move |request| Box::pin(handler(request))))
    }

    /// A handler that needs dependencies built once per cold start: `handler` gets them with
    /// every request.
    pub fn with_deps<D, F, Fut>(deps: D, handler: F) -> Self
    where
        D: Send + Sync + 'static,
        F: Fn(Arc<D>, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let deps = Arc::new(deps);
        Self::new(move |request| handler(deps.clone(), request))
    }

    /// This endpoint, answering 403 before the handler runs unless `guard` admits the request.
    pub fn behind(self, guard: OriginGuard) -> Self {
        if !guard.is_enabled() {
            return self;
        }
        let inner = self.0;
        Self(Arc::new(move |request| {
            let guard = guard.clone();
            let inner = inner.clone();
            Box::pin(async move {
                guard.admit(&request).await?;
                inner(with_viewer_source_ip(request)).await
            })
        }))
    }

    /// Runs the handler inside a span carrying the request id, turns a problem into its
    /// problem+json response, stamps `x-request-id` and logs one line per request.
    pub async fn call(&self, request: Request) -> Response<Body> {
        self.call_within(request, None).await
    }

    /// The same, answering 503 with `Retry-After` if the handler has not answered within
    /// `budget`: a dependency that hangs must not keep the function past its timeout.
    pub async fn call_within(&self, request: Request, budget: Option<std::time::Duration>) -> Response<Body> {
        let request_id = request_id(&request);
        let route = route_key(&request);
        let span = tracing::info_span!("request", request_id = %request_id);
        let started = Instant::now();
        let handler = (self.0)(request).instrument(span.clone());
        let handled = match budget {
            Some(budget) => tokio::time::timeout(budget, handler).await.unwrap_or_else(|_| {
                let _entered = span.enter();
                Err(Problem::unavailable(&format!(
                    "no answer within {} ms of the deadline",
                    DEADLINE_MARGIN.as_millis()
                )))
            }),
            None => handler.await,
        };
        let mut response = handled.unwrap_or_else(Problem::into_response);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        span.in_scope(|| {
            tracing::info!(
                route = %route,
                status = response.status().as_u16(),
                duration_us = started.elapsed().as_micros() as u64,
                "request handled"
            )
        });
        response
    }
}

/// How long before Lambda's deadline a request still running is answered 503 instead. Lambda
/// kills a function at its timeout, and API Gateway answers that with a 500: a dependency slower
/// than the function's time must be a 503 with `Retry-After`, which the answer can only be if it
/// reaches the Runtime API first.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// The Lambda entry point of an HTTP function: serves `endpoint` (behind its origin guard, on
/// AWS) until the runtime stops, each request within its invocation's deadline.
pub async fn run(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let endpoint = endpoint.clone();
        async move {
            let budget = request.lambda_context_ref().map(|context| time_left(context.deadline));
            Ok::<_, Infallible>(endpoint.call_within(request, budget).await)
        }
    }))
    .await
}

/// The time until `deadline` (epoch milliseconds, as Lambda gives it) less the margin.
fn time_left(deadline: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    std::time::Duration::from_millis(deadline).saturating_sub(now).saturating_sub(DEADLINE_MARGIN)
}

/// Set by CloudFront on every origin request (the managed AllViewerExceptHostHeader policy
/// forwards it): the viewer's address and port, `198.51.100.10:46532` or `2001:db8::1:46532`.
pub const VIEWER_ADDRESS_HEADER: &str = "cloudfront-viewer-address";

/// Behind CloudFront, API Gateway's source IP is the edge server's, shared by every caller near
/// it: per-IP rate limits would let one abuser lock out a region. The viewer address is the
/// caller; it is believed only on requests that proved, with the origin secret, that CloudFront
/// sent them, and CloudFront writes that header itself.
fn with_viewer_source_ip(mut request: Request) -> Request {
    if let Some(ip) = viewer_ip(&request)
        && let Some(RequestContext::ApiGatewayV2(context)) =
            request.extensions_mut().get_mut::<RequestContext>()
    {
        context.http.source_ip = Some(ip.to_string());
    }
    request
}

fn viewer_ip(request: &Request) -> Option<std::net::IpAddr> {
    let value = request.headers().get(VIEWER_ADDRESS_HEADER)?.to_str().ok()?;
    let (address, port) = value.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// API Gateway's request id, so a client's `x-request-id` finds the matching log lines.
pub fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn route_key(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        _ => None,
    }
    .unwrap_or_else(|| format!("{} {}", request.method(), request.uri().path()))
}

/// The caller's address as API Gateway saw it, or as CloudFront saw it when the request came
/// through CloudFront (`Endpoint::behind`). Never a header a client can set.
pub fn source_ip(request: &Request) -> Option<std::net::IpAddr> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

/// What per-address limits count under: an IPv4 address, or the /64 of an IPv6 one. One
/// subscriber is usually given a whole /64, so counting single IPv6 addresses would let one
/// client step round any limit through 2^64 of them. IPv4-mapped addresses count as IPv4.
pub fn source_key(request: &Request) -> String {
    address_key(source_ip(request))
}

fn address_key(ip: Option<std::net::IpAddr>) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// A path parameter of the matched route. Its absence is a routing bug, not a client mistake.
pub fn path_param(request: &Request, name: &str) -> Result<String, Problem> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
        .ok_or_else(|| Problem::internal(&format!("route has no path parameter {name:?}")))
}

pub fn header_str(request: &Request, name: header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|value| value.to_str().ok())
}

/// Reads a JSON request body: Content-Type must be JSON (415), the body at most `limit` bytes
/// (413), and it must parse into `T` (400, naming the offending field where there is one).
pub fn json_body<T: DeserializeOwned>(request: &Request, limit: usize) -> Result<T, Problem> {
    require_json_content_type(request)?;
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > limit {
        return Err(Problem::payload_too_large(format!(
            "The request body is {} bytes; this endpoint accepts at most {limit}",
            bytes.len()
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request("The request body is empty; a JSON object is expected"));
    }
    // Serde's derived structs also accept a JSON array of their fields in order; the API
    // promises objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Problem::bad_request("The request body must be a JSON object"),
            Err(error) => Problem::bad_request(format!("The request body is not valid JSON: {error}")),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| (error.path().to_string(), error.into_inner()))
        .and_then(|value| deserializer.end().map(|()| value).map_err(|e| (".".to_owned(), e)));
    parsed.map_err(|(path, inner)| {
        if !inner.is_data() {
            return Problem::bad_request(format!("The request body is not valid JSON: {inner}"));
        }
        let message = without_value(&strip_position(&inner.to_string()));
        let field = if path == "." { missing_field(&message) } else { Some(path) };
        match field {
            Some(field) => {
                Problem::bad_request("The request body has invalid fields").with_field_error(field, message)
            }
            // Serde names the Rust type here ("expected struct …"): say it in API terms.
            None => Problem::bad_request("The request body must be a JSON object with the documented fields"),
        }
    })
}

fn require_json_content_type(request: &Request) -> Result<(), Problem> {
    let Some(value) = header_str(request, header::CONTENT_TYPE) else {
        return Err(Problem::unsupported_media_type("Content-Type is missing; send application/json"));
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let json =
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if json && utf8 {
        Ok(())
    } else {
        Err(Problem::unsupported_media_type(format!(
            "Content-Type {value:?} is not accepted; send application/json (UTF-8)"
        )))
    }
}

/// serde_json appends " at line 1 column 9"; the field name says more to an API user.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// serde says `invalid type: integer `12345678901`, expected a string`: the submitted value may
/// be a password sent in the wrong field or of the wrong type, so only what was expected is told.
fn without_value(message: &str) -> String {
    let echoes = ["invalid type: ", "invalid value: ", "invalid length "];
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if echoes.iter().any(|prefix| message.starts_with(prefix)) => {
            format!("expected {expected}")
        }
        _ => message.to_owned(),
    }
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(serde_json::to_string(body).expect("response types always serialize")))
        .expect("static parts are valid")
}

/// The first value of a query parameter.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request.query_string_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}

/// Runs CPU-heavy work (password hashing) off the async threads, so one login does not stall
/// every other request a local server is serving.
/// The work keeps the request's span, so its logs carry the request id (`stratus_auth::blocking`).
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    stratus_auth::blocking(work).await.map_err(|e| Problem::internal(&e))
}

/// 429 with `Retry-After` in whole seconds, rounded up.
/// Waits until `floor` has passed since the request `arrived`, so that an answer's time tells
/// nothing of which path made it (an account found or not). `setting` names the variable that
/// raises the floor: work that outlasted it is logged, as its time may tell after all.
pub async fn no_sooner_than(arrived: tokio::time::Instant, floor: std::time::Duration, setting: &str) {
    let spent = arrived.elapsed();
    if spent > floor {
        tracing::warn!(
            spent_ms = spent.as_millis() as u64,
            floor_ms = floor.as_millis() as u64,
            "the answer came after the floor, so its time may tell which path made it: raise {setting}"
        );
    }
    tokio::time::sleep_until(arrived + floor).await;
}

pub fn too_many_requests(retry_after: time::Duration) -> Problem {
    let seconds = (retry_after.whole_milliseconds() as f64 / 1000.0).ceil().max(1.0) as u64;
    Problem::new(StatusCode::TOO_MANY_REQUESTS, format!("Too many attempts; retry in {seconds} s"))
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
}

pub fn with_location(mut response: Response<Body>, location: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(header: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri("/health");
        if let Some(value) = header {
            builder = builder.header(ORIGIN_VERIFY_HEADER, value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn ok_endpoint() -> Endpoint {
        Endpoint::new(|_| async { Ok(json_response(StatusCode::OK, &serde_json::json!({"ok": true}))) })
    }

    async fn guard(secret: Option<&str>) -> OriginGuard {
        match secret {
            None => OriginGuard::disabled(),
            Some(secret) => {
                let source = crate::origin::FixedSecret(vec![secret.to_owned()]);
                OriginGuard::load(Arc::new(source), std::time::Duration::from_secs(300)).await.unwrap()
            }
        }
    }

    #[tokio::test]
    async fn a_handler_past_its_budget_is_answered_503_with_retry_after() {
        let endpoint = Endpoint::new(|_| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok(json_response(StatusCode::OK, &serde_json::json!({})))
        });
        let budget = Some(std::time::Duration::from_millis(20));
        let response = endpoint.call_within(request_with(None), budget).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        let response = ok_endpoint().call_within(request_with(None), budget).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_guarded_endpoint_refuses_requests_without_the_secret() {
        let endpoint = ok_endpoint().behind(guard(Some("s3cret-value")).await);
        for header in [None, Some(""), Some("s3cret-valu"), Some("s3cret-value2"), Some("S3CRET-VALUE")] {
            let response = endpoint.call(request_with(header)).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "header {header:?}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        }
        let response = endpoint.call(request_with(Some("s3cret-value"))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    fn from_edge(viewer_address: Option<&str>, secret: Option<&str>) -> Request {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some("130.176.1.1".to_owned());
        let mut builder = http::Request::builder().uri("/login");
        if let Some(value) = viewer_address {
            builder = builder.header(VIEWER_ADDRESS_HEADER, value);
        }
        if let Some(value) = secret {
            builder = builder.header(ORIGIN_VERIFY_HEADER, value);
        }
        builder.body(Body::Empty).unwrap().with_request_context(RequestContext::ApiGatewayV2(context))
    }

    fn echo_source_ip() -> Endpoint {
        Endpoint::new(|request: Request| async move {
            let ip = source_ip(&request).map(|ip| ip.to_string());
            Ok(json_response(StatusCode::OK, &serde_json::json!({ "ip": ip })))
        })
    }

    async fn seen_ip(endpoint: &Endpoint, request: Request) -> String {
        let response = endpoint.call(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        body["ip"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn behind_cloudfront_the_viewer_is_the_source() {
        let endpoint = echo_source_ip().behind(guard(Some("s3cret-value")).await);
        let cases = [
            (Some("198.51.100.10:46532"), "198.51.100.10"),
            (Some("2001:db8::1:46532"), "2001:db8::1"),
            (Some("[2001:db8::7]:443"), "2001:db8::7"),
            // Unreadable or absent: the edge address, never a guess.
            (Some("198.51.100.10"), "130.176.1.1"),
            (Some("not an address:1"), "130.176.1.1"),
            (None, "130.176.1.1"),
        ];
        for (header, expected) in cases {
            assert_eq!(
                seen_ip(&endpoint, from_edge(header, Some("s3cret-value"))).await,
                expected,
                "{header:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_cloudfront_the_viewer_header_is_ignored() {
        // Locally (no secret) anyone could send the header, so it must not move a rate limit.
        let endpoint = echo_source_ip().behind(guard(None).await);
        assert_eq!(seen_ip(&endpoint, from_edge(Some("198.51.100.10:1"), None)).await, "130.176.1.1");
    }

    #[test]
    fn ipv6_sources_count_by_their_64() {
        let key = |text: &str| address_key(Some(text.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn a_type_error_names_the_field_and_the_type_but_not_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Login {
            password: String,
            age: u8,
        }
        let request = |body: &str| {
            http::Request::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::Text(body.to_owned()))
                .unwrap()
        };
        for (body, field, secret) in [
            (r#"{"password": 12345678901, "age": 1}"#, "password", "12345678901"),
            (r#"{"password": "x", "age": 300}"#, "age", "300"),
            (r#"{"password": ["hunter22"], "age": 1}"#, "password", "hunter22"),
        ] {
            let problem = json_body::<Login>(&request(body), 1024).unwrap_err();
            let error = &problem.errors()[0];
            assert_eq!(error.field, field);
            assert!(error.message.starts_with("expected "), "{}", error.message);
            assert!(!format!("{problem:?}").contains(secret), "{problem:?}");
        }
    }

    #[tokio::test]
    async fn blocking_work_logs_under_the_request_that_started_it() {
        use std::io::Write;
        use std::sync::Mutex;
        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let sink = capture.clone();
        stratus_core::telemetry::init_with(tracing_subscriber::EnvFilter::new("info"), move || sink.clone());
        let span = tracing::info_span!("request", request_id = "req-blocking-1");
        blocking(|| tracing::info!("hashing")).instrument(span).await.unwrap();
        let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line = logs.lines().find(|line| line.contains("hashing")).expect("the line was logged");
        assert!(line.contains("req-blocking-1"), "{line}");
    }

    #[tokio::test]
    async fn without_a_secret_every_request_is_admitted() {
        let endpoint = ok_endpoint().behind(guard(None).await);
        assert_eq!(endpoint.call(request_with(None)).await.status(), StatusCode::OK);
    }
}
