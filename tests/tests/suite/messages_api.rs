//! The message service over HTTP, against local-api on both backends.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::json;
use stratus_core::clock::ManualClock;
use stratus_core::ports::RateLimit;
use stratus_tests::{Api, Backend, on_both_backends, wiring};

const FOO_DIGEST: &str = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
const MAX: usize = 256 * 1024;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A message no other test stores, so 201-vs-200 checks don't depend on test order.
fn fresh(text: &str) -> String {
    format!("{text} {}", uuid::Uuid::new_v4())
}

async fn stores_foo_and_reads_it_back(backend: Backend) {
    let api = Api::start(backend).await;
    let created = api.post_json("/messages", &json!({"message": "foo"})).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json(), json!({"digest": FOO_DIGEST}));
    assert_eq!(created.header("location"), Some(&*format!("/messages/{FOO_DIGEST}")));
    assert!(created.header("x-request-id").is_some());

    let again = api.post_json("/messages", &json!({"message": "foo"})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), json!({"digest": FOO_DIGEST}));

    let found = api.get(&format!("/messages/{FOO_DIGEST}")).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json(), json!({"message": "foo"}));
    assert_eq!(found.header("content-type"), Some("application/json"));
}

async fn round_trips_empty_multibyte_and_emoji(backend: Backend) {
    let api = Api::start(backend).await;
    for text in ["", "héllo wörld", "日本語のテキスト", "😀🚀 with ZWJ 👩‍👩‍👧", "tab\tnew\nline \u{0}"]
    {
        let created = api.post_json("/messages", &json!({"message": text})).await;
        assert!(created.status == 201 || created.status == 200, "{text:?}: {}", created.status);
        let digest = created.json()["digest"].as_str().unwrap().to_owned();
        assert_eq!(digest, sha256_hex(text.as_bytes()), "{text:?}");
        let found = api.get(&format!("/messages/{digest}")).await;
        assert_eq!(found.status, 200);
        assert_eq!(found.json()["message"], text);
    }
}

async fn looks_up_with_an_upper_case_digest(backend: Backend) {
    let api = Api::start(backend).await;
    let text = fresh("case");
    let digest = api.post_json("/messages", &json!({"message": text})).await.json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = api.get(&format!("/messages/{}", digest.to_uppercase())).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["message"], text);
}

async fn lookups_are_cacheable_with_etag(backend: Backend) {
    let api = Api::start(backend).await;
    api.post_json("/messages", &json!({"message": "foo"})).await;
    let found = api.get(&format!("/messages/{FOO_DIGEST}")).await;
    assert_eq!(found.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let etag = found.header("etag").expect("an ETag").to_owned();
    assert_eq!(etag, format!("\"{FOO_DIGEST}\""));

    let revalidated = api
        .send(api.http.get(api.url(&format!("/messages/{FOO_DIGEST}"))).header("if-none-match", &etag))
        .await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), Some(&*etag));
}

async fn absent_digest_is_404(backend: Backend) {
    let api = Api::start(backend).await;
    let absent = sha256_hex(fresh("never stored").as_bytes());
    let body = api.get(&format!("/messages/{absent}")).await.problem(404);
    assert!(body["detail"].as_str().unwrap().contains(&absent));
}

async fn malformed_digests_are_400(backend: Backend) {
    let api = Api::start(backend).await;
    let cases = [
        "abc".to_owned(),
        FOO_DIGEST[..63].to_owned(),
        format!("{FOO_DIGEST}0"),
        "g".repeat(64),
        format!("{}zz", &FOO_DIGEST[..62]),
        "%2e%2e%2f".to_owned(),
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned(),
        "..%2f..%2f".to_owned(),
        "%00".to_owned(),
        "%C3%A9".repeat(32),
    ];
    for digest in cases {
        let body = api.get(&format!("/messages/{digest}")).await.problem(400);
        assert_eq!(body["errors"][0]["field"], "digest", "{digest}");
    }
}

async fn bad_bodies_are_400(backend: Backend) {
    let api = Api::start(backend).await;
    for body in [
        json!({}),
        json!({"message": 5}),
        json!({"message": null}),
        json!({"message": ["foo"]}),
        json!({"message": {"text": "foo"}}),
        json!(["foo"]),
        json!("foo"),
        json!(42),
        json!({"message": "foo", "extra": true}),
    ] {
        let reply = api.post_json("/messages", &body).await;
        reply.problem(400);
    }
    let missing = api.post_json("/messages", &json!({})).await.problem(400);
    assert_eq!(missing["errors"][0]["field"], "message");
    let wrong_type = api.post_json("/messages", &json!({"message": 5})).await.problem(400);
    assert_eq!(wrong_type["errors"][0]["field"], "message");

    for raw in [
        &b"{"[..],
        b"{\"message\": \"foo\"",
        b"not json",
        b"{\"message\": 'foo'}",
        b"",
        b"{\"message\":\"a\"} trailing",
    ] {
        api.post_raw("/messages", "application/json", raw.to_vec()).await.problem(400);
    }
    // Invalid UTF-8 inside the string: the gateway hands it over base64-encoded.
    let invalid_utf8 = [&b"{\"message\": \""[..], &[0xff, 0xfe, 0xc3], b"\"}"].concat();
    api.post_raw("/messages", "application/json", invalid_utf8).await.problem(400);
}

async fn size_limit_is_256_kib_of_message(backend: Backend) {
    let api = Api::start(backend).await;
    let exactly = "a".repeat(MAX - 36) + &uuid::Uuid::new_v4().to_string();
    assert_eq!(exactly.len(), MAX);
    let created = api.post_json("/messages", &json!({"message": exactly})).await;
    assert_eq!(created.status, 201);
    let digest = created.json()["digest"].as_str().unwrap().to_owned();
    assert_eq!(api.get(&format!("/messages/{digest}")).await.json()["message"], exactly);

    let over = "b".repeat(MAX + 1);
    let body = api.post_json("/messages", &json!({"message": over})).await.problem(413);
    assert_eq!(body["errors"][0]["field"], "message");

    // Multi-byte: the limit counts UTF-8 bytes, not characters.
    let emoji_over = "😀".repeat(MAX / 4) + "a";
    api.post_json("/messages", &json!({"message": emoji_over})).await.problem(413);
    // A body far beyond what any valid message could need is refused before parsing.
    api.post_raw("/messages", "application/json", vec![b' '; 8 * MAX]).await.problem(413);
}

async fn escaped_message_at_the_limit_is_accepted(backend: Backend) {
    let api = Api::start(backend).await;
    // Every byte a control character: JSON carries each as a six-byte escape.
    let control = "\u{1}".repeat(MAX - 36) + &uuid::Uuid::new_v4().to_string();
    let created = api.post_json("/messages", &json!({"message": control})).await;
    assert_eq!(created.status, 201);
}

async fn non_json_content_types_are_415(backend: Backend) {
    let api = Api::start(backend).await;
    let body = br#"{"message":"foo"}"#.to_vec();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=latin1",
    ] {
        api.post_raw("/messages", content_type, body.clone()).await.problem(415);
    }
    let no_type = api.send(api.http.post(api.url("/messages")).body(body.clone())).await;
    no_type.problem(415);
    for content_type in
        ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
    {
        let reply = api.post_raw("/messages", content_type, body.clone()).await;
        assert!(reply.status == 200 || reply.status == 201, "{content_type}: {}", reply.status);
    }
}

async fn unknown_routes_and_methods(backend: Backend) {
    let api = Api::start(backend).await;
    api.get("/nowhere").await.problem(404);
    api.get("/messages").await.problem(405);
    api.get(&format!("/messages/{FOO_DIGEST}/extra")).await.problem(404);
    let delete = api.send(api.http.delete(api.url(&format!("/messages/{FOO_DIGEST}")))).await;
    delete.problem(405);
    assert_eq!(delete.header("allow"), Some("GET"));
    let put = api.send(api.http.put(api.url("/messages"))).await;
    put.problem(405);
    assert_eq!(put.header("allow"), Some("POST"));
}

async fn concurrent_posts_of_one_message_create_once(backend: Backend) {
    let api = Api::start(backend).await;
    let text = fresh("race");
    let body = json!({"message": text});
    let replies = futures::future::join_all((0..20).map(|_| api.post_json("/messages", &body))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 19, "{statuses:?}");
    let digests: std::collections::HashSet<_> =
        replies.iter().map(|r| r.json()["digest"].as_str().unwrap().to_owned()).collect();
    assert_eq!(digests.len(), 1);
}

async fn health_and_docs(backend: Backend) {
    let api = Api::start(backend).await;
    let health = api.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let openapi = api.get("/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.json()["openapi"], "3.1.0");
    let docs = api.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.header("content-type").unwrap().starts_with("text/html"));
    let page = String::from_utf8_lossy(&docs.body).into_owned();
    // Nothing inline and nothing from elsewhere: the policy allows this origin's files only.
    assert!(!page.contains("<script>") && !page.contains("<style"), "{page}");
    let csp = docs.header("content-security-policy").expect("the docs page carries its own CSP");
    assert!(csp.contains("script-src 'self';") && csp.contains("style-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    let linked: Vec<&str> = page.split(['"', '\'']).filter(|part| part.starts_with("/docs/")).collect();
    assert_eq!(linked.len(), 5, "{page}");
    for path in linked {
        let asset = api.get(path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(asset.header("cache-control"), Some("public, max-age=31536000, immutable"), "{path}");
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            _ => "image/png",
        };
        assert!(asset.header("content-type").is_some_and(|c| c.starts_with(expected)), "{path}");
        assert!(!asset.body.is_empty());
    }
    api.get("/docs/swagger-ui-bundle.js").await.problem(404);
}

/// Anyone may write, so nobody may write without bound: a burst from one address meets the limit,
/// and another address is not held back by it.
async fn writes_are_limited_per_address(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.message_limit = RateLimit { max_hits: 20, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    let writer = Ipv4Addr::new(127, 0, 0, 5);
    let mut statuses = Vec::new();
    for i in 0..25 {
        statuses.push(
            api.post_json_from(writer, "/messages", &json!({"message": fresh(&i.to_string())})).await.status,
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 20, "{statuses:?}");
    let limited = api.post_json_from(writer, "/messages", &json!({"message": "one more"})).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    let other =
        api.post_json_from(Ipv4Addr::new(127, 0, 0, 6), "/messages", &json!({"message": fresh("x")})).await;
    assert_eq!(other.status, 201);
}

/// With a lifetime configured, a message is served (and cacheable) only until it ends.
async fn messages_expire_when_a_lifetime_is_set(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    wiring.clock = clock.clone();
    wiring.settings.message_ttl = Some(time::Duration::hours(1));
    let api = Api::start_with(wiring).await;
    let text = fresh("short-lived");
    let created = api.post_json("/messages", &json!({"message": text})).await;
    assert_eq!(created.status, 201);
    let location = created.header("location").unwrap().to_owned();
    clock.advance(time::Duration::minutes(20));
    let found = api.get(&location).await;
    assert_eq!(found.status, 200);
    let cache = found.header("cache-control").unwrap().to_owned();
    assert!(cache.starts_with("public, max-age=") && cache.ends_with(", immutable"), "{cache}");
    let max_age: i64 = cache["public, max-age=".len()..cache.len() - ", immutable".len()].parse().unwrap();
    assert!((2390..=2400).contains(&max_age), "no cache may keep it past its end: {cache}");
    clock.advance(time::Duration::minutes(41));
    api.get(&location).await.problem(404);
    assert_eq!(api.post_json("/messages", &json!({"message": text})).await.status, 201, "stored anew");
    assert_eq!(api.get(&location).await.status, 200);
}

on_both_backends!(
    writes_are_limited_per_address,
    messages_expire_when_a_lifetime_is_set,
    stores_foo_and_reads_it_back,
    round_trips_empty_multibyte_and_emoji,
    looks_up_with_an_upper_case_digest,
    lookups_are_cacheable_with_etag,
    absent_digest_is_404,
    malformed_digests_are_400,
    bad_bodies_are_400,
    size_limit_is_256_kib_of_message,
    escaped_message_at_the_limit_is_accepted,
    non_json_content_types_are_415,
    unknown_routes_and_methods,
    concurrent_posts_of_one_message_create_once,
    health_and_docs,
);
