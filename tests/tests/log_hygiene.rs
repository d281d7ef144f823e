//! Secrets never reach the logs: passwords, tokens, hashes and message bodies. The whole
//! account flow runs at debug level with every log line captured, then the capture is searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use stratus_tests::{Api, Backend, PASSWORD, ports};

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

async fn run_everything(api: &Api, username: &str) -> Vec<String> {
    let mut secrets = vec![PASSWORD.to_owned(), "wrong horse battery 9".to_owned()];
    api.register(username, &format!("{username}@example.com")).await;
    api.post_json("/login", &json!({"username": username, "password": "wrong horse battery 9"})).await;
    let tokens = api.login(username, PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    api.get_with_token("/users/me", &access).await;
    api.get_with_token("/users/me", &format!("{access}x")).await;
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await.json();
    api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await;
    let message = format!("private note {}", uuid::Uuid::new_v4());
    api.post_json("/messages", &json!({"message": message})).await;
    secrets.extend([access.clone(), refresh, renewed["refresh_token"].as_str().unwrap().to_owned(), message]);
    // The signature part alone must not appear either.
    secrets.push(access.rsplit('.').next().unwrap().to_owned());
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let capture = Capture::default();
    let sink = capture.clone();
    shared::telemetry::init_with(tracing_subscriber::EnvFilter::new("debug"), move || sink.clone());

    let mut secrets = Vec::new();
    for (backend, name) in [(Backend::Memory, "logmem"), (Backend::DynamoDb, "logddb")] {
        let api = Api::start_with(ports(backend).await).await;
        secrets.extend(run_everything(&api, name).await);
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request handled"), "the capture saw the requests");
    assert!(logs.lines().count() > 15);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret:.20}…");
    }
    assert!(!logs.contains("$argon2"), "a password hash reached the logs");
}
