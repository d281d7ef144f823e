//! Secrets never reach the logs: passwords, tokens, hashes and message bodies. The whole
//! account flow runs at debug level with every log line captured, then the capture is searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::json;
use shared::adapters::mail::LogMailer;
use shared::ports::{Mail, MailError, Mailer};
use stratus_tests::{Api, Backend, PASSWORD, bootstrap_admin, registration, wiring};

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

/// Sends each mail through both mailers.
struct Tee(Arc<dyn Mailer>, Arc<dyn Mailer>);

#[async_trait::async_trait]
impl Mailer for Tee {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.0.send(mail).await?;
        self.1.send(mail).await
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
    let renewed_access = renewed["access_token"].as_str().unwrap().to_owned();
    let renewed_refresh = renewed["refresh_token"].as_str().unwrap().to_owned();
    api.post_with_token("/logout", &renewed_access, &json!({"refresh_token": renewed_refresh})).await;

    // HTTP Basic carries the password base64-encoded: neither form may be logged.
    api.send(api.http.post(api.url("/login")).basic_auth(username, Some(PASSWORD))).await;
    api.send(api.http.post(api.url("/login")).basic_auth(username, Some("wrong horse battery 9"))).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{PASSWORD}"));

    // A refused password is still a password. Its characters are ones no token or id contains.
    let refused = "zq!~#";
    let mut weak = registration(&format!("{username}weak"), &format!("{username}weak@example.com"));
    weak["password"] = json!(refused);
    api.post_json("/register", &weak).await.problem(400);

    // An admin creating an admin: the admin's token and the new admin's password.
    let admin =
        api.login(&format!("{username}root"), PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let new_admin_password = "second admin passphrase 4242";
    let mut promoted = registration(&format!("{username}adm"), &format!("{username}adm@example.com"));
    promoted["role"] = json!("admin");
    promoted["password"] = json!(new_admin_password);
    assert_eq!(api.post_with_token("/register", &admin, &promoted).await.status, 201);

    // A password change (a wrong current one, a refused new one, then a real change) and an
    // account deletion: every password in them is a secret.
    let changer = format!("{username}chg");
    let changer_token = api.user_token(&changer).await;
    let (wrong_current, refused_new, changed) = ("not my password 31", "qq!~#", "changed passphrase 5150");
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    api.post_with_token("/users/me/password", &changer_token, &change(wrong_current, changed))
        .await
        .problem(400);
    api.post_with_token("/users/me/password", &changer_token, &change(PASSWORD, refused_new))
        .await
        .problem(400);
    let reply = api.post_with_token("/users/me/password", &changer_token, &change(PASSWORD, changed)).await;
    assert_eq!(reply.status, 204);
    let deletion = api.http.delete(api.url("/users/me")).bearer_auth(&changer_token);
    assert_eq!(api.send(deletion.json(&json!({"password": changed}))).await.status, 204);
    secrets.extend([changer_token, wrong_current.to_owned(), refused_new.to_owned(), changed.to_owned()]);

    // Mailed codes, typed back right and wrong; the reset's new password; the token a login
    // hands an unverified account.
    let mailed = format!("{username}mail");
    let mailed_email = format!("{mailed}@example.com");
    let mailed_token = api.user_token(&mailed).await;
    let verification = api.last_code(&mailed_email, "Verify");
    api.post_with_token("/users/me/email/verify", &mailed_token, &json!({"code": "00000000"})).await;
    api.post_with_token("/users/me/email/verify", &mailed_token, &json!({"code": verification})).await;
    api.post_json("/password/forgot", &json!({"email": mailed_email})).await;
    let reset_code = api.last_code(&mailed_email, "reset");
    let reset_password = "reset passphrase 8086";
    let reset = |code: &str| json!({"email": mailed_email, "code": code, "new_password": reset_password});
    api.post_json("/password/reset", &reset("99999999")).await.problem(400);
    assert_eq!(api.post_json("/password/reset", &reset(&reset_code)).await.status, 204);
    secrets.extend([verification, reset_code, reset_password.to_owned(), mailed_token]);

    let message = format!("private note {}", uuid::Uuid::new_v4());
    api.post_json("/messages", &json!({"message": message})).await;
    secrets.extend([access.clone(), refresh, renewed_access, renewed_refresh, message]);
    secrets.extend([basic, refused.to_owned(), admin, new_admin_password.to_owned()]);
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
        let mut wiring = wiring(backend).await;
        // Every mail goes to the log (masked) as well as to the outbox the suite reads codes from.
        let outbox = wiring.mailer.clone();
        wiring.mailer = Arc::new(Tee(outbox, Arc::new(LogMailer)));
        bootstrap_admin(&wiring, &format!("{name}root")).await;
        let api = Api::start_with(wiring).await;
        secrets.extend(run_everything(&api, name).await);
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request handled"), "the capture saw the requests");
    assert!(logs.lines().count() > 15);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret:.20}…");
    }
    assert!(!logs.contains("$argon2"), "a password hash reached the logs");
    assert!(logs.contains("mail not sent") && logs.contains("********"), "mails were logged, masked");
    // A replayed refresh token raises an alarm that says whose and from where.
    for name in ["logmem", "logddb"] {
        let alarm = logs
            .lines()
            .find(|line| {
                line.contains("presented again") && line.contains(&format!("\"username\":\"{name}\""))
            })
            .unwrap_or_else(|| panic!("no reuse alarm for {name}"));
        assert!(alarm.contains("\"source\":\"127.0.0.1\""), "{alarm}");
    }
}
