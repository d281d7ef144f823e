//! Private registration (`PRIVATE_REGISTRATION=true`): `POST /register` answers a stranger the
//! same whether or not the email has an account, so it cannot be used to find out who has one.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stratus_core::config::RegistrationPrivacy;
use stratus_core::ports::RateLimit;
use stratus_tests::{Api, Backend, PASSWORD, Reply, on_both_backends, registration, wiring};

const FLOOR: Duration = Duration::from_millis(300);

async fn private_api(backend: Backend) -> Api {
    let mut wiring = wiring(backend).await;
    wiring.settings.auth.registration = RegistrationPrivacy::Private { floor: FLOOR };
    Api::start_with(wiring).await
}

/// Registers, timing the answer.
async fn register_timed(api: &Api, username: &str, email: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = api.register(username, email).await;
    (reply, started.elapsed())
}

/// Every header but the request's own id (and the date, should a server add one), in order.
fn comparable_headers(reply: &Reply) -> Vec<(String, String)> {
    reply
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").to_owned()))
        .collect()
}

fn mails_to(api: &Api, to: &str) -> Vec<Value> {
    api.mails().into_iter().filter(|mail| mail["to"] == to).collect()
}

async fn taken_and_free_emails_get_the_same_answer(backend: Backend) {
    let api = private_api(backend).await;
    let (first, _) = register_timed(&api, "ada", "ada@example.com").await;
    assert_eq!(first.status, 202, "{}", String::from_utf8_lossy(&first.body));

    // A stranger tries an address that has an account, and one that has none.
    let (taken, taken_time) = register_timed(&api, "mallory", "ADA@example.com").await;
    let (free, free_time) = register_timed(&api, "eve", "eve@example.com").await;
    assert_eq!(taken.status, 202, "{}", String::from_utf8_lossy(&taken.body));
    assert_eq!(free.status, taken.status);
    assert_eq!(free.body, taken.body, "the bodies must be byte for byte the same");
    assert_eq!(comparable_headers(&free), comparable_headers(&taken));
    assert_eq!(taken.header("content-type"), Some("application/json"));
    assert_eq!(taken.header("location"), None, "a location would name the new account");
    assert!(taken.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(first.body, taken.body);
    let body = taken.json();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(!body.to_string().contains("mallory") && !body.to_string().contains("eve"), "{body}");
    for (email, spent) in [("taken", taken_time), ("free", free_time)] {
        assert!(spent >= FLOOR, "the {email} address answered before the floor ({spent:?})");
    }

    // The free address got an account, unverified, and its verification code.
    let eve = api.login("eve", PASSWORD).await;
    assert!(eve["access_token"].is_string());
    let eve_mails = mails_to(&api, "eve@example.com");
    assert_eq!(eve_mails.len(), 1, "{eve_mails:?}");
    assert!(eve_mails[0]["subject"].as_str().unwrap().contains("Verify"), "{eve_mails:?}");

    // The taken one did not; its owner was told someone tried, and what to do.
    let mallory = api.post_json("/login", &json!({"username": "mallory", "password": PASSWORD})).await;
    mallory.problem(401);
    let ada_mails = mails_to(&api, "ada@example.com");
    assert_eq!(ada_mails.len(), 2, "ada's own verification code, then the notice: {ada_mails:?}");
    let notice = &ada_mails[1];
    let text = notice["text"].as_str().unwrap();
    assert!(notice["subject"].as_str().unwrap().contains("register"), "{notice}");
    assert!(text.contains("password reset"), "{text}");
    assert!(!text.contains("mallory"), "the notice repeats nothing the stranger chose: {text}");
    assert!(
        !text.split(|c: char| !c.is_ascii_digit()).any(|run| run.len() == 8),
        "no code in a notice: {text}"
    );
    let ada = api.login("ada", PASSWORD).await;
    let me = api.get_with_token("/users/me", ada["access_token"].as_str().unwrap()).await;
    assert_eq!(me.json()["email"], "ada@example.com", "the owner's account is untouched");
}

/// Usernames are public identifiers, not contact details: a taken one keeps its 409, whatever
/// the email, so that answer says nothing about the email.
async fn a_taken_username_still_conflicts_whatever_the_email(backend: Backend) {
    let api = private_api(backend).await;
    assert_eq!(api.register("grace", "grace@example.com").await.status, 202);
    for email in ["someone-new@example.com", "GRACE@example.com"] {
        let body = api.register("GRACE", email).await.problem(409);
        assert_eq!(body["errors"][0]["field"], "username", "{email}: {body}");
        assert!(!body.to_string().contains("email"), "{email}: {body}");
    }
    let invalid = api.post_json("/register", &registration("grace2", "not an address")).await;
    assert_eq!(invalid.problem(400)["errors"][0]["field"], "email");
}

/// The notices count against the address's mail limit, as codes do (the limit is checked before
/// the store is asked, so a full window answers 429 whoever has the address): nobody floods an
/// owner's inbox through registration.
async fn notices_count_against_the_address_mail_limit(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.settings.auth.registration = RegistrationPrivacy::Private { floor: Duration::from_millis(1) };
    wiring.settings.auth.mail_limit = RateLimit { max_hits: 2, window: time::Duration::minutes(15) };
    let api = Api::start_with(wiring).await;
    let sources = [Ipv4Addr::new(127, 0, 0, 11), Ipv4Addr::new(127, 0, 0, 12), Ipv4Addr::new(127, 0, 0, 13)];
    for address in ["hedy@example.com", "free@example.com"] {
        // The first registration creates the account and mails its code; the next is a
        // stranger's, and mails the owner a notice; the third finds the window full.
        let mut statuses = Vec::new();
        for (i, source) in sources.iter().enumerate() {
            let name = format!("{}{i}", &address[..4]);
            statuses
                .push(api.post_json_from(*source, "/register", &registration(&name, address)).await.status);
        }
        assert_eq!(statuses, [202, 202, 429], "{address}");
        assert_eq!(mails_to(&api, address).len(), 2, "{address}");
    }
}

on_both_backends!(
    taken_and_free_emails_get_the_same_answer,
    a_taken_username_still_conflicts_whatever_the_email,
    notices_count_against_the_address_mail_limit,
);
