//! Secrets never reach the logs: passwords, tokens, hashes, message bodies, TOTP secrets, codes
//! and the data key that seals them. The whole account flow runs at debug level with every log
//! line captured, then the capture is searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::json;
use stratus_auth::sealing::SecretBox;
use stratus_auth::totp::TotpSecret;
use stratus_aws::dynamodb::tables;
use stratus_aws::kms::KmsDataKey;
use stratus_core::ports::{DataKeySource, Mail, MailError, Mailer};
use stratus_memory::mail::LogMailer;
use stratus_tests::{Api, Backend, PASSWORD, bootstrap_admin, registration, wiring};
use time::OffsetDateTime;

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

/// Sets TOTP up for a new user, turns it on, logs in with a wrong code, a right code and a
/// recovery code, and turns it off. Returns the secrets (the base32 secret, recovery codes in
/// both forms, the mfa_tokens) and the six-digit codes.
async fn run_totp(api: &Api, username: &str) -> (Vec<String>, Vec<String>) {
    let access = api.user_token(username).await;
    let setup =
        api.post_with_token("/users/me/mfa/totp", &access, &json!({"password": PASSWORD})).await.json();
    let secret_text = setup["secret"].as_str().expect("a secret").to_owned();
    let secret = TotpSecret::from_base32(&secret_text).unwrap();
    let now = OffsetDateTime::now_utc();
    let step = time::Duration::seconds(30);
    let live: Vec<String> = [-1, 0, 1, 2].iter().map(|n| secret.code(now + step * *n)).collect();
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7919 + 314_159) % 1_000_000))
        .find(|c| !live.contains(c))
        .unwrap();
    let confirm = |code: &str| json!({"code": code});
    api.post_with_token("/users/me/mfa/totp/confirm", &access, &confirm(&wrong)).await.problem(400);
    let confirmed = api.post_with_token("/users/me/mfa/totp/confirm", &access, &confirm(&live[1])).await;
    assert_eq!(confirmed.status, 200, "{}", String::from_utf8_lossy(&confirmed.body));
    let old_access = access;
    let access = confirmed.json()["access_token"].as_str().unwrap().to_owned();
    let recovery: Vec<String> = confirmed.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    let login = json!({"username": username, "password": PASSWORD});
    let mfa_token = api.post_json("/login", &login).await.json()["mfa_token"].as_str().unwrap().to_owned();
    let second = |code: &str| json!({"mfa_token": mfa_token, "code": code});
    api.post_json("/login/mfa", &second(&wrong)).await.problem(400);
    assert_eq!(api.post_json("/login/mfa", &second(&live[2])).await.status, 200);
    api.post_json("/login/mfa", &second(&live[2])).await.problem(401); // a replay of the token
    let recovering = api.post_json("/login", &login).await.json()["mfa_token"].as_str().unwrap().to_owned();
    let second = |code: &str| json!({"mfa_token": recovering, "code": code});
    assert_eq!(api.post_json("/login/mfa", &second(&recovery[0])).await.status, 200);
    api.post_json("/login/mfa", &second(&recovery[0])).await.problem(401);
    // Misused: the mfa_token as a Bearer token, an access token as the mfa_token.
    api.get_with_token("/users/me", &mfa_token).await.problem(401);
    let misused = json!({"mfa_token": access, "code": recovery[1]});
    api.post_json("/login/mfa", &misused).await.problem(401);
    let second_token = api.post_json("/login", &login).await.json()["mfa_token"].as_str().unwrap().to_owned();
    api.post_json("/login/mfa", &json!({"mfa_token": format!("{second_token}x"), "code": recovery[1]}))
        .await
        .problem(401);

    let remove = |password: &str, code: &str| {
        let request = api.http.delete(api.url("/users/me/mfa/totp")).bearer_auth(&access);
        request.json(&json!({"password": password, "code": code}))
    };
    api.send(remove("not my password 77", &recovery[1])).await.problem(400);
    assert_eq!(api.send(remove(PASSWORD, &recovery[2])).await.status, 200);

    let mut secrets = vec![secret_text.clone(), secret_text.to_lowercase(), mfa_token.clone(), second_token];
    secrets.push(mfa_token.rsplit('.').next().unwrap().to_owned());
    secrets.push(setup["otpauth_uri"].as_str().unwrap().to_owned());
    secrets.extend(recovery.iter().cloned());
    secrets.extend(recovery.iter().map(|c| c.replace('-', "")));
    secrets.push(access);
    secrets.push(old_access);
    secrets.push(recovering);
    (secrets, [live, vec![wrong]].concat())
}

/// A `KmsDataKey` on the local engines: a key of its own, a table of its own.
async fn kms_data_key() -> KmsDataKey {
    let sdk = stratus_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let table = format!("{}users", stratus_tests::unique_prefix());
    tables::ensure_table(&dynamodb, &table, &tables::USERS).await.expect("the data key's table");
    let created = kms.create_key().send().await.expect("a symmetric key on the local KMS");
    let key_arn = created.key_metadata.and_then(|m| m.arn).expect("a key ARN");
    KmsDataKey::new(kms, dynamodb, table, key_arn)
}

/// Whether `number` appears in `logs` as a number of its own: not inside a longer run of
/// digits or letters, nor as the fraction of a timestamp or a duration.
fn contains_number(logs: &str, number: &str) -> bool {
    logs.match_indices(number).any(|(at, _)| {
        let before = logs[..at].chars().next_back();
        let after = logs[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

async fn run_everything(api: &Api, username: &str) -> (Vec<String>, Vec<String>) {
    let mut secrets = vec![PASSWORD.to_owned(), "wrong horse battery 9".to_owned()];
    let mut numbers = Vec::new();
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
    // The change ended the session; the account is deleted from a new one.
    let changer_token = {
        let login = json!({"username": changer, "password": changed});
        api.post_json("/login", &login).await.json()["access_token"].as_str().unwrap().to_owned()
    };
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

    // Two-factor login: the secret and its URI, codes right and wrong, recovery codes, the
    // mfa_token. Six-digit codes are searched as whole numbers (`numbers`), not as substrings.
    let (totp_secrets, codes) = run_totp(api, &format!("{username}mfa")).await;
    secrets.extend(totp_secrets);
    numbers.extend(codes);

    let message = format!("private note {}", uuid::Uuid::new_v4());
    api.post_json("/messages", &json!({"message": message})).await;
    secrets.extend([access.clone(), refresh, renewed_access, renewed_refresh, message]);
    secrets.extend([basic, refused.to_owned(), admin, new_admin_password.to_owned()]);
    // The signature part alone must not appear either.
    secrets.push(access.rsplit('.').next().unwrap().to_owned());
    (secrets, numbers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let capture = Capture::default();
    let sink = capture.clone();
    stratus_core::telemetry::init_with(tracing_subscriber::EnvFilter::new("debug"), move || sink.clone());

    let (mut secrets, mut numbers) = (Vec::new(), Vec::new());
    for (backend, name) in [(Backend::Memory, "logmem"), (Backend::DynamoDb, "logddb")] {
        let mut wiring = wiring(backend).await;
        // Every mail goes to the log (masked) as well as to the outbox the suite reads codes from.
        let outbox = wiring.mailer.clone();
        wiring.mailer = Arc::new(Tee(outbox, Arc::new(LogMailer)));
        bootstrap_admin(&wiring, &format!("{name}root")).await;
        // On DynamoDB, TOTP secrets are sealed under a data key KMS wraps, as on AWS: the SDK's
        // debug logs must not show the key KMS hands back in the clear.
        let data_key = match backend {
            Backend::Memory => None,
            Backend::DynamoDb => {
                let source = Arc::new(kms_data_key().await);
                wiring.totp_secrets = Arc::new(SecretBox::new(source.clone()));
                Some(source)
            }
        };
        let api = Api::start_with(wiring).await;
        let (more, codes) = run_everything(&api, name).await;
        secrets.extend(more);
        numbers.extend(codes);
        if let Some(source) = data_key {
            let key = source.data_key(false).await.expect("the run made the data key");
            secrets.push(base64::engine::general_purpose::STANDARD.encode(&key));
            secrets.push(hex::encode(&key));
        }
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request handled"), "the capture saw the requests");
    assert!(logs.lines().count() > 15);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret:.20}…");
    }
    for number in &numbers {
        assert!(!contains_number(&logs, number), "a TOTP code reached the logs: {number}");
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
