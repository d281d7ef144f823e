//! A cold start as Lambda's: the release binary reaches DynamoDB over HTTPS (a TLS front with a
//! local certificate authority, trusted through `SSL_CERT_FILE` as on Lambda), and its init
//! opens the connection its first request then uses, so that the handshake is not paid by a
//! request.

use std::collections::BTreeMap;

use serde_json::json;
use stratus_tests::runtime_api::{Function, Gateway, LocalStack, request};
use stratus_tests::wire::{CountingRelay, LocalCa, TlsFront, endpoint_address};
use stratus_tests::{PASSWORD, registration};

const DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_opens_the_https_connection_the_first_request_uses() {
    let mut stack =
        LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    let engine = endpoint_address(&stack.endpoints()[DYNAMODB]).unwrap_or_else(|e| panic!("{e}"));
    // function --https--> TLS front --http--> counting relay --> DynamoDB Local: the relay sees
    // one connection for each TLS session the function opens.
    let relay = CountingRelay::start(engine).await.unwrap_or_else(|e| panic!("{e}"));
    let scratch = std::env::temp_dir().join(format!("stratus-ca-{}", uuid::Uuid::new_v4().simple()));
    let ca = LocalCa::create(&scratch).unwrap_or_else(|e| panic!("{e}"));
    let front =
        TlsFront::start(&ca, endpoint_address(&relay.url).unwrap()).await.unwrap_or_else(|e| panic!("{e}"));
    // The authority's root alone: what is timed here is not the trust store.
    let trust_store = scratch.join("root.pem");
    let mut endpoints: BTreeMap<String, String> = stack.endpoints().clone();
    endpoints.insert(DYNAMODB.into(), front.url.clone());
    stack.route_endpoints("me", endpoints);
    let api = Gateway::new(stack)
        .with_var("SSL_CERT_FILE", trust_store.display().to_string())
        .with_var("SSL_CERT_DIR", scratch.join("no-certificates-here").display().to_string());

    let registered = api.post_json("/register", &registration("cold_ada", "cold_ada@example.com")).await;
    assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    let login = api.post_json("/login", &json!({"username": "cold_ada", "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let token = login.json()["access_token"].as_str().expect("an access token").to_owned();
    assert_eq!(relay.connections(), 0, "only `me` goes through the TLS front");

    let spec = api.launch_spec("me").unwrap_or_else(|e| panic!("{e}"));
    let mut me = Function::spawn(spec).await.unwrap_or_else(|e| panic!("starting me: {e}"));
    assert!(me.init_error().is_none(), "{}", me.output());
    assert_eq!(relay.connections(), 1, "init opened one connection to DynamoDB:\n{}", me.output());
    let initialised = me.output();
    assert!(
        initialised.contains("\"initialised\"") && initialised.contains("connections"),
        "init names its steps and what each took:\n{initialised}"
    );

    let event = api.routed(request("GET", "/users/me", Some(&token), None), true).1;
    let reply = me.invoke(&event).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply["statusCode"], 200, "{reply}\n{}", me.output());
    assert_eq!(relay.connections(), 1, "the first request used the connection init opened");
    me.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
}
