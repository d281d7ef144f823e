//! The API Gateway HTTP API payload v2 event, as documented by AWS for Lambda proxy
//! integrations: headers lower-cased with repeated values joined by commas, cookies apart,
//! path parameters decoded, the caller's address in `requestContext.http.sourceIp`, and a
//! body that is base64-encoded when it is not UTF-8 text.
//!
//! Two forms of the same event: `api_gateway_v2`, the JSON a Lambda function receives (the
//! suites hand it to the real function binaries), and `api_gateway_v2_request`, the typed event
//! lambda_http deserializes that JSON into, built directly: local-api converts it into the
//! handler's `Request` with lambda_http's own conversion, as the Lambda runtime does, without
//! writing the JSON out and parsing it back on every request. The tests below prove that both
//! give the handler the same request.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use axum::http::header::{COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::{Map, Value, json};

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");

/// A request as API Gateway received it, and what it made of it: its route and the route's path
/// parameters, and the caller's address.
#[derive(Clone, Copy)]
pub struct Incoming<'a> {
    pub parts: &'a axum::http::request::Parts,
    pub body: &'a [u8],
    pub route_key: &'a str,
    pub path_params: &'a [(&'static str, String)],
    pub source_ip: IpAddr,
}

pub fn api_gateway_v2(incoming: Incoming<'_>) -> Value {
    json_event(incoming, time::OffsetDateTime::now_utc(), next_request_id())
}

fn json_event(incoming: Incoming<'_>, now: time::OffsetDateTime, request_id: String) -> Value {
    let Incoming { parts, body, route_key, path_params, source_ip } = incoming;
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == axum::http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    headers.insert("x-forwarded-for".into(), Value::String(source_ip.to_string()));
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));

    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query: Map<String, Value> = Map::new();
    for (name, value) in form_pairs(raw_query) {
        match query.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query.insert(name, Value::String(value));
            }
        }
    }

    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(base64::engine::general_purpose::STANDARD.encode(body)), true),
    };
    let path_params: Map<String, Value> =
        path_params.iter().map(|(k, v)| ((*k).to_owned(), Value::String(v.clone()))).collect();
    let user_agent = parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": format!("{:?}", parts.version),
                "sourceIp": source_ip.to_string(),
                "userAgent": user_agent.unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(TIME_FORMAT).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "isBase64Encoded": is_base64,
    });
    let object = event.as_object_mut().expect("built as an object");
    if !cookies.is_empty() {
        object.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        object.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !path_params.is_empty() {
        object.insert("pathParameters".into(), Value::Object(path_params));
    }
    if !body.is_null() {
        object.insert("body".into(), body);
    }
    event
}

/// The event `api_gateway_v2` describes, as the typed payload lambda_http reads it into: the
/// same fields with the same values, so that `LambdaRequest::ApiGatewayV2(event).into()` is the
/// request `lambda_http::request::from_str` makes of the JSON. Fails only where that parse
/// would: on a header value the JSON's could not be parsed back into.
pub fn api_gateway_v2_request(
    incoming: Incoming<'_>,
) -> Result<ApiGatewayV2httpRequest, axum::http::header::InvalidHeaderValue> {
    typed_event(incoming, time::OffsetDateTime::now_utc(), next_request_id())
}

fn typed_event(
    incoming: Incoming<'_>,
    now: time::OffsetDateTime,
    request_id: String,
) -> Result<ApiGatewayV2httpRequest, axum::http::header::InvalidHeaderValue> {
    let Incoming { parts, body, route_key, path_params, source_ip } = incoming;
    // By name, as the JSON object (a sorted map) lists them and the deserializer inserts them:
    // a repeated header's values joined by commas, and non-UTF-8 bytes replaced as JSON text
    // must replace them.
    let mut joined: BTreeMap<&str, (HeaderName, HeaderValue)> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &parts.headers {
        if name == COOKIE {
            let text = String::from_utf8_lossy(value.as_bytes());
            cookies.extend(text.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        match joined.get_mut(name.as_str()) {
            Some((_, existing)) => {
                let mut both = String::from_utf8_lossy(existing.as_bytes()).into_owned();
                both.push(',');
                both.push_str(&String::from_utf8_lossy(value.as_bytes()));
                *existing = HeaderValue::from_str(&both)?;
            }
            None => {
                let value = match std::str::from_utf8(value.as_bytes()) {
                    Ok(_) => value.clone(),
                    Err(_) => HeaderValue::from_str(&String::from_utf8_lossy(value.as_bytes()))?,
                };
                joined.insert(name.as_str(), (name.clone(), value));
            }
        }
    }
    let source = source_ip.to_string();
    let forwarded_for = HeaderName::from_static("x-forwarded-for");
    let forwarded_proto = HeaderName::from_static("x-forwarded-proto");
    joined.insert("x-forwarded-for", (forwarded_for, HeaderValue::from_str(&source)?));
    joined.insert("x-forwarded-proto", (forwarded_proto, HeaderValue::from_static("http")));
    let mut headers = HeaderMap::with_capacity(joined.len());
    for (_, (name, value)) in joined {
        headers.insert(name, value);
    }

    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (name, value) in form_pairs(raw_query) {
        match query.get_mut(&name) {
            Some(existing) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => {
                query.insert(name, value);
            }
        }
    }
    // The JSON carries each name's values joined; the deserializer splits them at commas.
    let query: HashMap<String, Vec<String>> = query
        .into_iter()
        .map(|(name, joined)| (name, joined.split(',').map(str::to_owned).collect()))
        .collect();

    let (body, is_base64_encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(base64::engine::general_purpose::STANDARD.encode(body)), true),
    };
    let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_owned());
    http.protocol = Some(format!("{:?}", parts.version));
    http.source_ip = Some(source);
    http.user_agent = Some(user_agent.unwrap_or_default().to_owned());

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.to_owned());
    context.account_id = Some("000000000000".to_owned());
    context.stage = Some("$default".to_owned());
    context.request_id = Some(request_id);
    context.apiid = Some("local".to_owned());
    context.domain_name = Some("localhost".to_owned());
    context.domain_prefix = Some("localhost".to_owned());
    context.time = Some(now.format(TIME_FORMAT).unwrap_or_default());
    context.time_epoch = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    context.http = http;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route_key.to_owned());
    event.raw_path = Some(parts.uri.path().to_owned());
    event.raw_query_string = Some(raw_query.to_owned());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = path_params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    Ok(event)
}

/// A request id unique to this request: a random half drawn once per process and a counter, so
/// that a request costs no draw from the kernel (a `getrandom` system call per UUID v4, which
/// showed in profiles under load). UUID-shaped, as API Gateway's are not, but nothing parses them.
fn next_request_id() -> String {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let request = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    uuid::Uuid::from_u64_pair(process, request).to_string()
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    //! The typed event must give the handler the very request the JSON event gives it through
    //! lambda_http's parser, which is what a Lambda function gets from API Gateway's JSON.

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use axum::http::{Method, Request, Version};
    use lambda_http::request::{LambdaRequest, RequestContext};
    use lambda_http::{Body, RequestExt};

    use super::*;

    struct Case {
        name: &'static str,
        request: Request<Vec<u8>>,
        route_key: &'static str,
        params: Vec<(&'static str, String)>,
        source_ip: IpAddr,
    }

    fn case(name: &'static str, request: axum::http::request::Builder, body: &[u8]) -> Case {
        Case {
            name,
            request: request.body(body.to_vec()).expect("a valid request"),
            route_key: "$default",
            params: Vec::new(),
            source_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        }
    }

    fn cases() -> Vec<Case> {
        let mut cases = vec![
            case(
                "health",
                Request::get("/health")
                    .header("host", "127.0.0.1:3000")
                    .header("user-agent", "curl/8.0")
                    .header("accept", "*/*"),
                b"",
            ),
            case(
                "a JSON body, repeated headers, cookies, a client's own x-forwarded-for",
                Request::post("/messages")
                    .header("host", "localhost:3000")
                    .header("content-type", "application/json")
                    .header("x-custom", "one")
                    .header("accept", "application/json")
                    .header("x-custom", "two, three")
                    .header("cookie", "a=1; b=2;")
                    .header("cookie", " c=3")
                    .header("x-forwarded-for", "203.0.113.9")
                    .header("authorization", "Bearer abc.def.ghi"),
                br#"{"message":"foo"}"#,
            ),
            case(
                "a query string: repeated names, escapes, plus signs, commas, no value",
                Request::get("/users?limit=10&cursor=a%2Bb%3D&limit=20&q=two+words&list=x,y&flag&=v&&e%ZZ=1")
                    .header("host", "localhost"),
                b"",
            ),
            case(
                "a binary body is base64-encoded",
                Request::post("/messages").header("content-type", "application/octet-stream"),
                &[0x00, 0xff, 0xfe, 0x80, b'a'],
            ),
            case(
                "header bytes that are not UTF-8, a user agent that is not ASCII",
                Request::get("/health")
                    .header("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap())
                    .header("x-latin1", HeaderValue::from_bytes(b"na\xefve").unwrap())
                    .header("user-agent", HeaderValue::from_bytes("agent é".as_bytes()).unwrap()),
                b"",
            ),
            case(
                "HTTP/2, a method of its own, no headers at all",
                Request::builder().method("PURGE").uri("/x"),
                b"",
            ),
            case(
                "a POST with an empty body",
                Request::post("/login").header("content-type", "application/json"),
                b"",
            ),
            case(
                "text that JSON must escape",
                Request::post("/messages").header("content-type", "text/plain"),
                "quotes \" backslash \\ newline \n tab \t unicode é 🦀 nul \u{0}".as_bytes(),
            ),
        ];
        cases[5].request = {
            let mut request = Request::builder().method("PURGE").uri("/x").body(Vec::new()).unwrap();
            *request.version_mut() = Version::HTTP_2;
            request
        };
        let mut routed = case(
            "path parameters, a route key, an IPv6 caller",
            Request::get("/messages/2C26b46b%20x?x=1").header("host", "[::1]:3000"),
            b"",
        );
        routed.route_key = "GET /messages/{digest}";
        routed.params = vec![("digest", "2C26b46b x".to_owned())];
        routed.source_ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        cases.push(routed);
        cases
    }

    /// What the handler can see of a request and differs between `a` and `b`, by name.
    fn differences(a: &lambda_http::Request, b: &lambda_http::Request) -> Vec<&'static str> {
        let mut differ = Vec::new();
        let ordered = |r: &lambda_http::Request| {
            r.headers().iter().map(|(n, v)| (n.clone(), v.clone())).collect::<Vec<_>>()
        };
        let context = |r: &lambda_http::Request| match r.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => Some(context.clone()),
            _ => None,
        };
        let checks: [(&'static str, bool); 12] = [
            ("method", a.method() == b.method()),
            ("uri", a.uri() == b.uri()),
            ("version", a.version() == b.version()),
            ("headers", a.headers() == b.headers()),
            ("header order", ordered(a) == ordered(b)),
            ("body", a.body() == b.body()),
            ("raw http path", a.raw_http_path() == b.raw_http_path()),
            ("query string parameters", a.query_string_parameters_ref() == b.query_string_parameters_ref()),
            ("path parameters", a.path_parameters_ref() == b.path_parameters_ref()),
            ("stage variables", a.stage_variables_ref() == b.stage_variables_ref()),
            ("request context", context(a).is_some() && context(a) == context(b)),
            ("extensions", a.extensions().len() == b.extensions().len()),
        ];
        for (what, same) in checks {
            if !same {
                differ.push(what);
            }
        }
        differ
    }

    /// Both events of one request (same clock, same request id), and the requests made of them.
    fn both(case: &Case) -> (ApiGatewayV2httpRequest, String, lambda_http::Request, lambda_http::Request) {
        let (parts, body) = case.request.clone().into_parts();
        let now = time::OffsetDateTime::now_utc();
        let id = next_request_id();
        let incoming = Incoming {
            parts: &parts,
            body: &body,
            route_key: case.route_key,
            path_params: &case.params,
            source_ip: case.source_ip,
        };
        let json = json_event(incoming, now, id.clone()).to_string();
        let typed = typed_event(incoming, now, id).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let from_json =
            lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let from_typed: lambda_http::Request = LambdaRequest::ApiGatewayV2(typed.clone()).into();
        (typed, json, from_json, from_typed)
    }

    #[test]
    fn the_typed_event_is_the_json_event_deserialized() {
        for case in cases() {
            let (typed, json, _, _) = both(&case);
            let parsed: ApiGatewayV2httpRequest = serde_json::from_str(&json).unwrap();
            assert_eq!(typed, parsed, "{}", case.name);
        }
    }

    #[test]
    fn handlers_see_the_same_request_either_way() {
        for case in cases() {
            let (_, json, from_json, from_typed) = both(&case);
            let differ = differences(&from_json, &from_typed);
            assert!(differ.is_empty(), "{}: {differ:?} differ\nJSON: {json}", case.name);
        }
    }

    #[test]
    fn the_cases_cover_what_they_claim() {
        let requests: Vec<_> = cases().iter().map(|case| both(case).2).collect();
        let [health, post, query, binary, latin1, purge, _, escaped, routed] = &requests[..] else {
            panic!("nine cases")
        };
        assert_eq!(health.headers()["x-forwarded-for"], "127.0.0.1");
        assert_eq!(post.headers()["x-custom"], "one,two, three");
        assert_eq!(post.headers()["x-forwarded-for"], "127.0.0.1", "API Gateway's own, not the client's");
        assert_eq!(post.headers()["cookie"], "a=1; b=2; ; c=3");
        assert_eq!(post.body(), &Body::Text(r#"{"message":"foo"}"#.into()));
        assert_eq!(query.query_string_parameters_ref().unwrap().all("limit"), Some(vec!["10", "20"]));
        assert_eq!(query.query_string_parameters_ref().unwrap().first("cursor"), Some("a+b="));
        assert_eq!(binary.body(), &Body::Binary(vec![0x00, 0xff, 0xfe, 0x80, b'a']));
        assert_eq!(latin1.headers()["x-latin1"].as_bytes(), "caf\u{fffd},na\u{fffd}ve".as_bytes());
        assert_eq!(*purge.method(), Method::from_bytes(b"PURGE").unwrap());
        let Some(RequestContext::ApiGatewayV2(context)) = purge.request_context_ref() else { panic!() };
        assert_eq!(context.http.protocol.as_deref(), Some("HTTP/2.0"));
        assert!(matches!(escaped.body(), Body::Text(text) if text.contains("🦀 nul \u{0}")));
        assert_eq!(routed.path_parameters_ref().unwrap().first("digest"), Some("2C26b46b x"));
        let Some(RequestContext::ApiGatewayV2(context)) = routed.request_context_ref() else { panic!() };
        assert_eq!(context.http.source_ip.as_deref(), Some("::1"));
        assert_eq!(context.route_key.as_deref(), Some("GET /messages/{digest}"));
    }

    /// The comparison catches a difference in any part of the request it claims to check.
    #[test]
    fn the_comparison_can_fail() {
        let case = &cases()[1];
        let (typed, _, from_json, _) = both(case);
        type Change = Box<dyn Fn(&mut ApiGatewayV2httpRequest)>;
        let changes: Vec<(&str, Change)> = vec![
            (
                "headers",
                Box::new(|e| {
                    e.headers.insert("x-custom", HeaderValue::from_static("one"));
                }),
            ),
            (
                "header order",
                Box::new(|e| {
                    let accept = e.headers.remove("accept").unwrap();
                    e.headers.insert("accept", accept);
                }),
            ),
            ("body", Box::new(|e| e.body = Some(r#"{"message":"bar"}"#.into()))),
            ("uri", Box::new(|e| e.raw_query_string = Some("a=1".into()))),
            ("raw http path", Box::new(|e| e.raw_path = Some("/messages/".into()))),
            (
                "path parameters",
                Box::new(|e| {
                    e.path_parameters.insert("digest".into(), "x".into());
                }),
            ),
            ("request context", Box::new(|e| e.request_context.http.source_ip = Some("10.0.0.1".into()))),
            ("request context", Box::new(|e| e.request_context.request_id = Some("another".into()))),
            ("method", Box::new(|e| e.request_context.http.method = Method::PUT)),
            (
                "stage variables",
                Box::new(|e| {
                    e.stage_variables.insert("stage".into(), "x".into());
                }),
            ),
        ];
        for (what, change) in changes {
            let mut changed = typed.clone();
            change(&mut changed);
            let request: lambda_http::Request = LambdaRequest::ApiGatewayV2(changed).into();
            let differ = differences(&from_json, &request);
            assert!(differ.contains(&what), "a changed {what} went unnoticed: {differ:?}");
        }
        let mut with_extension: lambda_http::Request = LambdaRequest::ApiGatewayV2(typed).into();
        with_extension.extensions_mut().insert(7u8);
        assert_eq!(differences(&from_json, &with_extension), ["extensions"]);
    }
}
