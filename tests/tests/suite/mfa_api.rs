//! Two-factor login (TOTP, RFC 6238) over HTTP, against local-api on both backends: setting an
//! authenticator up, the login's second step, replays, recovery codes, the limit on wrong codes
//! and turning it off. The test computes codes as an authenticator app does, from the secret
//! the API answered. On DynamoDB, secrets are sealed under a data key wrapped by a KMS key on
//! the local engines, as on AWS.
//!
//! The server accepts the code of the step before and after its own, so the code of the next
//! step is a fresh code without waiting 30 s; a code for step s spends every step up to s.
//! Tests that need more steps than that run on a clock of their own.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use serde_json::{Value, json};
use stratus_auth::sealing::SecretBox;
use stratus_auth::totp::TotpSecret;
use stratus_aws::dynamodb::tables;
use stratus_aws::kms::KmsDataKey;
use stratus_core::clock::{Clock, ManualClock, SystemClock};
use stratus_core::ports::RateLimit;
use stratus_tests::{Api, Backend, PASSWORD, Reply, bootstrap_admin, on_both_backends, wiring};
use time::{Duration, OffsetDateTime};

pub(crate) const STEP: Duration = Duration::seconds(30);

pub(crate) fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

/// A clock the test moves: it starts two minutes behind real time, so that moving it on by a
/// few steps never dates a token in the future (tokens are checked against real time).
pub(crate) fn lagging_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc() - Duration::minutes(2)))
}

/// The wiring of `backend`, on `clock`; on DynamoDB, TOTP secrets sealed through KMS. Wrong
/// codes are not limited here but in the one test about the limit: these tests replay codes on
/// purpose, and each refusal counts.
pub(crate) async fn mfa_wiring(backend: Backend, clock: Arc<dyn Clock>) -> stratus_tests::LocalWiring {
    let mut wiring = wiring(backend).await;
    wiring.clock = clock;
    if backend == Backend::DynamoDb {
        wiring.totp_secrets = KmsEnvelope::new().await.sandbox();
    }
    wiring.settings.auth.mfa_limit = RateLimit { max_hits: 10_000, window: Duration::minutes(1) };
    wiring
}

/// A KMS key on the local engines and a table that keeps the data key it wraps, as a stack has.
struct KmsEnvelope {
    kms: aws_sdk_kms::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    key_arn: String,
}

impl KmsEnvelope {
    async fn new() -> Self {
        let sdk = stratus_aws::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let kms = aws_sdk_kms::Client::new(&sdk);
        let table = format!("{}users", stratus_tests::unique_prefix());
        tables::ensure_table(&dynamodb, &table, &tables::USERS).await.expect("the data key's table");
        let key_arn = kms
            .create_key()
            .description("stratus test: TOTP data key wrapper")
            .send()
            .await
            .expect("a symmetric key on the local KMS")
            .key_metadata
            .and_then(|m| m.arn)
            .expect("a key ARN");
        Self { kms, dynamodb, table, key_arn }
    }

    /// What one sandbox seals with: its own `KmsDataKey`, which unwraps the data key once.
    fn sandbox(&self) -> Arc<SecretBox> {
        let source = KmsDataKey::new(
            self.kms.clone(),
            self.dynamodb.clone(),
            self.table.clone(),
            self.key_arn.clone(),
        );
        Arc::new(SecretBox::new(Arc::new(source)))
    }
}

async fn start(backend: Backend, clock: Arc<dyn Clock>) -> Api {
    Api::start_with(mfa_wiring(backend, clock).await).await
}

pub(crate) async fn begin(api: &Api, token: &str) -> Reply {
    api.post_with_token("/users/me/mfa/totp", token, &json!({"password": PASSWORD})).await
}

pub(crate) async fn confirm(api: &Api, token: &str, code: &str) -> Reply {
    api.post_with_token("/users/me/mfa/totp/confirm", token, &json!({"code": code})).await
}

pub(crate) async fn remove(api: &Api, token: &str, password: &str, code: &str) -> Reply {
    let request = api.http.delete(api.url("/users/me/mfa/totp")).bearer_auth(token);
    api.send(request.json(&json!({"password": password, "code": code}))).await
}

/// The first step of a login: the challenge of an account with TOTP on.
pub(crate) async fn challenge(api: &Api, username: &str) -> String {
    let reply = api.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let body = reply.json();
    assert_eq!(body["mfa_required"], true, "{body}");
    body["mfa_token"].as_str().expect("an mfa_token").to_owned()
}

pub(crate) async fn second_step(api: &Api, mfa_token: &str, code: &str) -> Reply {
    api.post_json("/login/mfa", &json!({"mfa_token": mfa_token, "code": code})).await
}

/// A six-digit code that is none of the three the server accepts around `at`.
pub(crate) fn wrong_code(secret: &TotpSecret, at: OffsetDateTime) -> String {
    let live: Vec<String> = [-1, 0, 1].iter().map(|n| secret.code(at + STEP * *n)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
        .find(|candidate| !live.contains(candidate))
        .expect("a wrong code")
}

/// An account with TOTP on: its access token, its secret and its recovery codes. Confirmed with
/// the code of `at`'s step.
pub(crate) struct Enrolled {
    pub(crate) access: String,
    pub(crate) secret: TotpSecret,
    pub(crate) recovery: Vec<String>,
}

pub(crate) async fn enrol(api: &Api, username: &str, at: OffsetDateTime) -> Enrolled {
    let access = api.user_token(username).await;
    let setup = begin(api, &access).await;
    assert_eq!(setup.status, 200, "{}", text(&setup));
    let secret = TotpSecret::from_base32(setup.json()["secret"].as_str().expect("a secret")).unwrap();
    let confirmed = confirm(api, &access, &secret.code(at)).await;
    assert_eq!(confirmed.status, 200, "{}", text(&confirmed));
    // Turning TOTP on ended the session of `access`; the answer carries the new one.
    let access = confirmed.json()["access_token"].as_str().expect("a new access token").to_owned();
    let recovery = confirmed.json()["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    Enrolled { access, secret, recovery }
}

fn is_recovery_code(code: &str) -> bool {
    let (left, right) = code.split_once('-').unwrap_or_default();
    let letter = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
    left.len() == 5 && right.len() == 5 && left.chars().chain(right.chars()).all(letter)
}

/// On the real clock, as deployed: set up, turn on, log in with a code, replays refused.
async fn totp_turns_on_and_logins_ask_for_a_code(backend: Backend) {
    let api = start(backend, Arc::new(SystemClock)).await;
    let access = api.user_token("ada").await;
    assert_eq!(api.get_with_token("/users/me", &access).await.json()["mfa_enabled"], false);

    api.send(api.http.post(api.url("/users/me/mfa/totp"))).await.problem(401);
    let first = begin(&api, &access).await;
    assert_eq!(first.status, 200, "{}", text(&first));
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let first = first.json();
    let first_secret = first["secret"].as_str().unwrap().to_owned();
    assert_eq!(first_secret.len(), 32, "{first}");
    assert!(first_secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)), "{first}");
    let uri = first["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Stratus:ada?"), "{uri}");
    for part in
        [&format!("secret={first_secret}"), "issuer=Stratus", "digits=6", "period=30", "algorithm=SHA1"]
    {
        assert!(uri.contains(part), "{uri} lacks {part}");
    }
    assert_eq!(api.get_with_token("/users/me", &access).await.json()["mfa_enabled"], false, "pending");
    // A login while the set-up is pending still gives tokens: nothing was confirmed.
    assert!(api.login("ada", PASSWORD).await["access_token"].is_string());

    // Asking again replaces the pending secret: the first one's codes confirm nothing.
    let second = begin(&api, &access).await.json();
    let secret = TotpSecret::from_base32(second["secret"].as_str().unwrap()).unwrap();
    assert_ne!(second["secret"], first_secret.as_str());
    let stale = TotpSecret::from_base32(&first_secret).unwrap();
    let now = OffsetDateTime::now_utc();
    if stale.code(now) != secret.code(now) {
        let refused = confirm(&api, &access, &stale.code(now)).await.problem(400);
        assert_eq!(refused["errors"][0]["field"], "code", "{refused}");
    }
    confirm(&api, &access, "12ab56").await.problem(400);
    confirm(&api, &access, "1234567").await.problem(400);

    let confirmed = confirm(&api, &access, &secret.code(now)).await;
    assert_eq!(confirmed.status, 200, "{}", text(&confirmed));
    assert_eq!(confirmed.header("cache-control"), Some("no-store"));
    let codes = confirmed.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(codes.iter().all(|c| is_recovery_code(c.as_str().unwrap())), "{codes:?}");
    let distinct: std::collections::BTreeSet<&str> = codes.iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 10);
    // Every session from before ended, this one's old token with it: the answer has a new one.
    api.get_with_token("/users/me", &access).await.problem(401);
    let access = confirmed.json()["access_token"].as_str().expect("a new access token").to_owned();
    let me = api.get_with_token("/users/me", &access).await.json();
    assert_eq!(me["mfa_enabled"], true, "{me}");
    assert!(!me.to_string().contains(secret.base32().as_str()), "the profile shows the secret");

    // On: no second set-up, no second confirmation.
    begin(&api, &access).await.problem(409);
    confirm(&api, &access, &secret.code(now + STEP)).await.problem(409);

    // The password now buys a challenge, not tokens.
    let login = api.post_json("/login", &json!({"username": "ada", "password": PASSWORD})).await;
    assert_eq!(login.status, 200, "{}", text(&login));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let body = login.json();
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
    let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&mfa_token)["aud"], "urn:stratus:login-mfa");
    assert_eq!(claims(&mfa_token)["preferred_username"], "ada");
    api.post_json("/login", &json!({"username": "ada", "password": "not the password 1"})).await.problem(401);

    // The confirming code's step is spent: it does not log in.
    second_step(&api, &mfa_token, &secret.code(now)).await.problem(400);
    let next = secret.code(now + STEP);
    let tokens = second_step(&api, &mfa_token, &next).await;
    assert_eq!(tokens.status, 200, "{}", text(&tokens));
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "Bearer");
    let session = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(session)["scope"], "api", "{}", claims(session));
    let me = api.get_with_token("/users/me", session).await;
    assert_eq!(me.status, 200, "{}", text(&me));
    assert!(me.json()["last_login"].is_string(), "the second step stamps last_login");
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(renewed.status, 200, "{}", text(&renewed));

    // The same mfa_token again: it completed its login. The same code with a new one: a replay.
    second_step(&api, &mfa_token, &next).await.problem(401);
    let fresh = challenge(&api, "ada").await;
    let replay = second_step(&api, &fresh, &next).await.problem(400);
    assert_eq!(replay["errors"][0]["field"], "code", "{replay}");
    second_step(&api, &fresh, &next).await.problem(400);
    second_step(&api, &fresh, &secret.code(now)).await.problem(400);
    second_step(&api, &fresh, "12345").await.problem(400);
    // The recovery codes still work.
    let recovered = second_step(&api, &fresh, codes[0].as_str().unwrap()).await;
    assert_eq!(recovered.status, 200, "{}", text(&recovered));
}

/// The mfa_token opens `POST /login/mfa` and nothing else; nothing else opens it.
async fn the_mfa_token_and_access_tokens_do_not_mix(backend: Backend) {
    let api = start(backend, Arc::new(SystemClock)).await;
    let now = OffsetDateTime::now_utc();
    let ada = enrol(&api, "ada", now).await;
    let mfa_token = challenge(&api, "ada").await;

    api.get_with_token("/users/me", &mfa_token).await.problem(401);
    api.get_with_token("/users/ada", &mfa_token).await.problem(401);
    begin(&api, &mfa_token).await.problem(401);
    confirm(&api, &mfa_token, &ada.secret.code(now + STEP)).await.problem(401);
    remove(&api, &mfa_token, PASSWORD, &ada.recovery[0]).await.problem(401);
    api.post_with_token("/users/me/email/verify", &mfa_token, &json!({"code": "12345678"}))
        .await
        .problem(401);
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 7"});
    api.post_with_token("/users/me/password", &mfa_token, &change).await.problem(401);
    api.post_with_token("/add", &mfa_token, &json!({"a": 1, "b": 2})).await.problem(401);
    api.post_json("/token/refresh", &json!({"refresh_token": mfa_token})).await.problem(401);

    // An access token (of this very user) is not an mfa_token; nor is garbage.
    second_step(&api, &ada.access, &ada.recovery[0]).await.problem(401);
    second_step(&api, &format!("{mfa_token}x"), &ada.recovery[0]).await.problem(401);
    second_step(&api, "", &ada.recovery[0]).await.problem(401);
    // Another user's mfa_token logs in that user, not this one: recovery codes are per account.
    let grace = enrol(&api, "grace", now).await;
    let graces = challenge(&api, "grace").await;
    second_step(&api, &graces, &ada.recovery[0]).await.problem(400);
    // None of the refusals spent the code.
    let tokens = second_step(&api, &mfa_token, &ada.recovery[0]).await;
    assert_eq!(tokens.status, 200, "{}", text(&tokens));
    assert_eq!(claims(tokens.json()["access_token"].as_str().unwrap())["preferred_username"], "ada");
    let tokens = second_step(&api, &graces, &grace.recovery[0]).await;
    assert_eq!(claims(tokens.json()["access_token"].as_str().unwrap())["preferred_username"], "grace");
}

async fn recovery_codes_work_once_each(backend: Backend) {
    let api = start(backend, Arc::new(SystemClock)).await;
    let ada = enrol(&api, "ada", OffsetDateTime::now_utc()).await;

    let mfa_token = challenge(&api, "ada").await;
    let first = second_step(&api, &mfa_token, &ada.recovery[0]).await;
    assert_eq!(first.status, 200, "{}", text(&first));
    second_step(&api, &mfa_token, &ada.recovery[0]).await.problem(401); // the token is spent
    second_step(&api, &challenge(&api, "ada").await, &ada.recovery[0]).await.problem(400);

    // As typed: upper case, no hyphen, spaces.
    let typed = ada.recovery[1].replace('-', " ").to_uppercase();
    let second = second_step(&api, &challenge(&api, "ada").await, &typed).await;
    assert_eq!(second.status, 200, "{}", text(&second));
    second_step(&api, &challenge(&api, "ada").await, &ada.recovery[1]).await.problem(400);

    // One code sent five times at once, each with a login of its own, logs in once; two codes at
    // once both do.
    let tokens = join_all((0..5).map(|_| challenge(&api, "ada"))).await;
    let replies = join_all(tokens.iter().map(|token| second_step(&api, token, &ada.recovery[2]))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 4, "{statuses:?}");
    let (a, b) = futures::future::join(
        second_step(&api, &challenge(&api, "ada").await, &ada.recovery[3]),
        second_step(&api, &challenge(&api, "ada").await, &ada.recovery[4]),
    )
    .await;
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", text(&a), text(&b));
    // The rest stay good.
    for code in &ada.recovery[5..] {
        let reply = second_step(&api, &challenge(&api, "ada").await, code).await;
        assert_eq!(reply.status, 200, "{}", text(&reply));
    }
    second_step(&api, &challenge(&api, "ada").await, "abcde-fghij").await.problem(400);
}

/// On a clock of the test's own: a code of each step works once, whatever the concurrency, and
/// only near its time.
async fn each_step_logs_in_once(backend: Backend) {
    let clock = lagging_clock();
    let api = start(backend, clock.clone()).await;
    let ada = enrol(&api, "ada", clock.now()).await;
    // A login's mfa_token completes one login: each success here takes a new one.
    let code_of = |steps: i32| ada.secret.code(clock.now() + STEP * steps);
    second_step(&api, &challenge(&api, "ada").await, &code_of(0)).await.problem(400);

    clock.advance(STEP);
    let code = code_of(0);
    let tokens = join_all((0..4).map(|_| challenge(&api, "ada"))).await;
    let replies = join_all(tokens.iter().map(|token| second_step(&api, token, &code))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 3, "{statuses:?}");

    // A code for the next step is good now (a phone a little ahead); it spends its step.
    assert_eq!(second_step(&api, &challenge(&api, "ada").await, &code_of(1)).await.status, 200);
    clock.advance(STEP);
    second_step(&api, &challenge(&api, "ada").await, &code_of(0)).await.problem(400);
    // A code a step late is good, if its step is not spent; two steps either way are too far.
    clock.advance(STEP * 2);
    // As apps show it, in two halves.
    let late = code_of(-1);
    let halves = format!("{} {}", &late[..3], &late[3..]);
    assert_eq!(second_step(&api, &challenge(&api, "ada").await, &halves).await.status, 200);
    second_step(&api, &challenge(&api, "ada").await, &code_of(2)).await.problem(400);
    assert_eq!(second_step(&api, &challenge(&api, "ada").await, &code_of(0)).await.status, 200);
    second_step(&api, &challenge(&api, "ada").await, &code_of(-2)).await.problem(400);
}

async fn wrong_codes_are_limited_per_account(backend: Backend) {
    let clock = lagging_clock();
    let mut wiring = mfa_wiring(backend, clock.clone()).await;
    // The limit as shipped (MFA_RATE_LIMIT and MFA_RATE_WINDOW_SECONDS unset).
    wiring.settings.auth.mfa_limit = stratus_core::config::Settings::from_env().unwrap().auth.mfa_limit;
    assert_eq!(wiring.settings.auth.mfa_limit, RateLimit { max_hits: 5, window: Duration::minutes(5) });
    let api = Api::start_with(wiring).await;
    let now = clock.now();

    // Confirming: five wrong codes, then even the right one is refused for the window.
    let access = api.user_token("ada").await;
    let secret =
        TotpSecret::from_base32(begin(&api, &access).await.json()["secret"].as_str().unwrap()).unwrap();
    let wrong = wrong_code(&secret, now);
    for _ in 0..5 {
        confirm(&api, &access, &wrong).await.problem(400);
    }
    let limited = confirm(&api, &access, &secret.code(now)).await;
    limited.problem(429);
    assert!(
        limited.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s > 0)),
        "{limited:?}"
    );
    assert_eq!(api.get_with_token("/users/me", &access).await.json()["mfa_enabled"], false);

    // The second step of a login: the same limit, per account and address (these requests all
    // come from one); right codes do not count.
    let grace = enrol(&api, "grace", now).await;
    let token = challenge(&api, "grace").await;
    let wrong = wrong_code(&grace.secret, now);
    for _ in 0..4 {
        second_step(&api, &token, &wrong).await.problem(400);
    }
    assert_eq!(second_step(&api, &token, &grace.recovery[0]).await.status, 200);
    // That login is done: the next attempts are another login's.
    let token = challenge(&api, "grace").await;
    second_step(&api, &token, &grace.recovery[0]).await.problem(400); // the fifth wrong one
    let limited = second_step(&api, &token, &grace.recovery[1]).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some(), "{limited:?}");
    // The limit did not spend the code, and another account is not limited.
    let hopper = enrol(&api, "hopper", now).await;
    let hoppers = challenge(&api, "hopper").await;
    assert_eq!(second_step(&api, &hoppers, &hopper.recovery[0]).await.status, 200);
    // Turning it off counts apart (code_limits_api has the rest): a wrong code there is judged,
    // not refused for the login's full bucket.
    remove(&api, &grace.access, PASSWORD, &wrong).await.problem(400);

    // The window ends: the code that was refused for the limit works.
    clock.advance(Duration::minutes(5));
    let reply = second_step(&api, &token, &grace.recovery[1]).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
}

async fn turning_totp_off_needs_the_password_and_a_code(backend: Backend) {
    let wiring = mfa_wiring(backend, Arc::new(SystemClock)).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let plain = api.user_token("plain").await;
    remove(&api, &plain, PASSWORD, "123456").await.problem(409);
    let pending = api.user_token("pending").await;
    assert_eq!(begin(&api, &pending).await.status, 200);
    remove(&api, &pending, PASSWORD, "123456").await.problem(409);
    confirm(&api, &plain, "123456").await.problem(409); // nothing set up

    let now = OffsetDateTime::now_utc();
    let ada = enrol(&api, "ada", now).await;
    let request = api.http.delete(api.url("/users/me/mfa/totp"));
    api.send(request.json(&json!({"password": PASSWORD, "code": ada.recovery[0]}))).await.problem(401);
    let wrong_password = remove(&api, &ada.access, "not the password 1", &ada.recovery[0]).await.problem(400);
    assert_eq!(wrong_password["errors"][0]["field"], "password", "{wrong_password}");
    let wrong = remove(&api, &ada.access, PASSWORD, &wrong_code(&ada.secret, now)).await.problem(400);
    assert_eq!(wrong["errors"][0]["field"], "code", "{wrong}");
    remove(&api, &ada.access, PASSWORD, "12ab").await.problem(400);
    // The spent confirming code does not do either.
    remove(&api, &ada.access, PASSWORD, &ada.secret.code(now)).await.problem(400);
    assert_eq!(api.get_with_token("/users/me", &ada.access).await.json()["mfa_enabled"], true);

    let pending_login = challenge(&api, "ada").await;
    let off = remove(&api, &ada.access, PASSWORD, &ada.secret.code(now + STEP)).await;
    assert_eq!(off.status, 200, "{}", text(&off));
    assert_eq!(off.header("cache-control"), Some("no-store"));
    // The sessions before ended; the answer is the caller's new one.
    api.get_with_token("/users/me", &ada.access).await.problem(401);
    let access = off.json()["access_token"].as_str().expect("a new access token").to_owned();
    assert_eq!(api.get_with_token("/users/me", &access).await.json()["mfa_enabled"], false);
    remove(&api, &access, PASSWORD, &ada.recovery[1]).await.problem(409);
    // A login begun before is over; one now gives tokens at once.
    second_step(&api, &pending_login, &ada.recovery[1]).await.problem(401);
    let tokens = api.login("ada", PASSWORD).await;
    assert!(tokens["access_token"].is_string() && tokens.get("mfa_required").is_none(), "{tokens}");

    // Set up again: a new secret, new recovery codes; the old ones are void.
    let again = begin(&api, &access).await.json();
    assert_ne!(again["secret"], ada.secret.base32().as_str());
    let secret = TotpSecret::from_base32(again["secret"].as_str().unwrap()).unwrap();
    let confirmed = confirm(&api, &access, &secret.code(OffsetDateTime::now_utc())).await;
    assert_eq!(confirmed.status, 200, "{}", text(&confirmed));
    let fresh = confirmed.json()["recovery_codes"][0].as_str().unwrap().to_owned();
    let token = challenge(&api, "ada").await;
    second_step(&api, &token, &ada.recovery[2]).await.problem(400);
    assert_eq!(second_step(&api, &token, &fresh).await.status, 200);

    // An account disabled between the two steps does not log in: the disable ended the
    // session generation the mfa_token belongs to.
    let token = challenge(&api, "ada").await;
    let root = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let disabled = api
        .send(api.http.patch(api.url("/users/ada")).bearer_auth(&root).json(&json!({"disabled": true})))
        .await;
    assert_eq!(disabled.status, 200, "{}", text(&disabled));
    assert_eq!(disabled.json()["mfa_enabled"], true, "{}", text(&disabled));
    second_step(&api, &token, confirmed.json()["recovery_codes"][1].as_str().unwrap()).await.problem(401);
}

/// Two tabs confirm with one code at once: TOTP is turned on once, and the recovery codes that
/// work are the ones the winner answered.
async fn concurrent_confirmations_answer_recovery_codes_once(backend: Backend) {
    let api = start(backend, Arc::new(SystemClock)).await;
    let access = api.user_token("ada").await;
    let secret =
        TotpSecret::from_base32(begin(&api, &access).await.json()["secret"].as_str().unwrap()).unwrap();
    let code = secret.code(OffsetDateTime::now_utc());
    let replies = join_all((0..4).map(|_| confirm(&api, &access, &code))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{statuses:?}");
    // A loser either lost the race to turn it on (409), or came after the winner had ended the
    // session it was sent in (401).
    assert!(replies.iter().all(|r| matches!(r.status, 200 | 401 | 409)), "{statuses:?}");
    let losers: Vec<String> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| r.problem(r.status)["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(losers.len(), 3, "{losers:?}");
    let recovery = winners[0].json()["recovery_codes"][0].as_str().unwrap().to_owned();
    let token = challenge(&api, "ada").await;
    assert_eq!(second_step(&api, &token, &recovery).await.status, 200);
}

/// The second step of an account deleted after the first finds nobody to log in.
async fn a_deleted_account_does_not_finish_its_login(backend: Backend) {
    let api = start(backend, Arc::new(SystemClock)).await;
    let ada = enrol(&api, "ada", OffsetDateTime::now_utc()).await;
    let token = challenge(&api, "ada").await;
    let deletion = api.http.delete(api.url("/users/me")).bearer_auth(&ada.access);
    assert_eq!(api.send(deletion.json(&json!({"password": PASSWORD}))).await.status, 204);
    second_step(&api, &token, &ada.recovery[0]).await.problem(401);
    // Registered again under the name: a new account, with no TOTP and other codes.
    let again = api.user_token("ada").await;
    assert_eq!(api.get_with_token("/users/me", &again).await.json()["mfa_enabled"], false);
    second_step(&api, &token, &ada.recovery[0]).await.problem(401);
}

/// A user who lost both the phone and the recovery codes asks an admin, who turns TOTP off;
/// only the user can turn it on, and a set-up under way is the user's.
async fn an_admin_turns_a_locked_out_users_totp_off(backend: Backend) {
    let wiring = mfa_wiring(backend, Arc::new(SystemClock)).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let root = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let patch = |name: &str, token: &str, body: Value| {
        api.send(api.http.patch(api.url(&format!("/users/{name}"))).bearer_auth(token.to_owned()).json(&body))
    };
    let ada = enrol(&api, "ada", OffsetDateTime::now_utc()).await;

    patch("ada", &ada.access, json!({"mfa_enabled": false})).await.problem(403);
    let on = patch("ada", &root, json!({"mfa_enabled": true})).await.problem(400);
    assert_eq!(on["errors"][0]["field"], "mfa_enabled", "{on}");
    assert_eq!(api.get_with_token("/users/me", &ada.access).await.json()["mfa_enabled"], true);

    let begun = challenge(&api, "ada").await;
    let off = patch("ada", &root, json!({"mfa_enabled": false})).await;
    assert_eq!(off.status, 200, "{}", text(&off));
    assert_eq!(off.json()["mfa_enabled"], false);
    // Turned off by an admin: the account's sessions end too.
    api.get_with_token("/users/me", &ada.access).await.problem(401);
    second_step(&api, &begun, &ada.recovery[0]).await.problem(401);
    assert!(api.login("ada", PASSWORD).await["access_token"].is_string());
    let again = patch("ada", &root, json!({"mfa_enabled": false})).await;
    assert_eq!((again.status, again.json()["mfa_enabled"].clone()), (200, json!(false)));

    // A set-up under way is left to its user.
    let grace = api.user_token("grace").await;
    let secret =
        TotpSecret::from_base32(begin(&api, &grace).await.json()["secret"].as_str().unwrap()).unwrap();
    let pending = patch("grace", &root, json!({"mfa_enabled": false})).await;
    assert_eq!(pending.status, 200, "{}", text(&pending));
    let confirmed = confirm(&api, &grace, &secret.code(OffsetDateTime::now_utc())).await;
    assert_eq!(confirmed.status, 200, "{}", text(&confirmed));
}

/// Two instances on one users table, each with its own `KmsDataKey` (on AWS: two sandboxes,
/// or a cold start after the first): the secret one sealed, the other opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sandbox_opens_the_secrets_one_sealed() {
    let clock = lagging_clock();
    let envelope = KmsEnvelope::new().await;
    let mut first = mfa_wiring(Backend::DynamoDb, clock.clone()).await;
    first.totp_secrets = envelope.sandbox();
    let users = first.users.clone();
    let first = Api::start_with(first).await;
    let ada = enrol(&first, "ada", clock.now()).await;

    let mut second = mfa_wiring(Backend::DynamoDb, clock.clone()).await;
    second.users = users;
    second.totp_secrets = envelope.sandbox();
    let second = Api::start_with(second).await;
    let token = challenge(&second, "ada").await;
    clock.advance(STEP);
    let reply = second_step(&second, &token, &ada.secret.code(clock.now())).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    drop(first);
}

on_both_backends!(
    totp_turns_on_and_logins_ask_for_a_code,
    the_mfa_token_and_access_tokens_do_not_mix,
    recovery_codes_work_once_each,
    each_step_logs_in_once,
    wrong_codes_are_limited_per_account,
    turning_totp_off_needs_the_password_and_a_code,
    an_admin_turns_a_locked_out_users_totp_off,
    concurrent_confirmations_answer_recovery_codes_once,
    a_deleted_account_does_not_finish_its_login,
);
