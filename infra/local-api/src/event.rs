//! The API Gateway HTTP API payload v2 event, as documented by AWS for Lambda proxy
//! integrations: headers lower-cased with repeated values joined by commas, cookies apart,
//! path parameters decoded, the caller's address in `requestContext.http.sourceIp`, and a
//! body that is base64-encoded when it is not UTF-8 text.

use std::net::IpAddr;

use base64::Engine;
use serde_json::{Map, Value, json};

pub fn api_gateway_v2(
    parts: &axum::http::request::Parts,
    body: &[u8],
    route_key: &str,
    path_params: &[(&'static str, String)],
    source_ip: IpAddr,
) -> Value {
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
    let now = time::OffsetDateTime::now_utc();
    let time_format =
        time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
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
            "requestId": next_request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time_format).unwrap_or_default(),
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
