//! The limits around one-time codes, second factors and password hashing, over HTTP on both
//! backends, as an outside reviewer found them wanting (issue 23): an address that tells
//! whether it has an account, a victim kept from resetting or verifying, an owner locked out of
//! the second step by whoever knows the password, a code's attempt limit raced, and argon2 work
//! a single access token could drive without end. Limits are the shipped ones here, except
//! where a test says otherwise.

use std::net::Ipv4Addr;

use futures::future::join_all;
use serde_json::{Value, json};
use stratus_auth::AuthConfig;
use stratus_core::clock::Clock;
use stratus_core::ports::RateLimit;
use stratus_tests::{Api, Backend, LocalWiring, PASSWORD, Reply, on_both_backends, steady_clock, wiring};

use crate::mfa_api::{challenge, enrol, mfa_wiring, remove, second_step, text, wrong_code};

const NEW_PASSWORD: &str = "difference engine 1822";
const RESET: &str = "password reset";
const VERIFY: &str = "Verify your email";
const GENEROUS: RateLimit = RateLimit { max_hits: 10_000, window: time::Duration::minutes(1) };

/// `wiring` with every limit as shipped (the harness raises them for the other suites).
fn shipped(mut wiring: LocalWiring) -> LocalWiring {
    let kept = wiring.settings.auth.clone();
    wiring.settings.auth =
        AuthConfig { issuer: kept.issuer, audience: kept.audience, ..AuthConfig::default() };
    wiring
}

async fn forgot_from(api: &Api, from: Ipv4Addr, email: &str) {
    let reply = api.post_json_from(from, "/password/forgot", &json!({"email": email})).await;
    assert_eq!(reply.status, 202, "{}", text(&reply));
}

async fn reset(api: &Api, email: &str, code: &str, new_password: &str) -> Reply {
    api.post_json("/password/reset", &json!({"email": email, "code": code, "new_password": new_password}))
        .await
}

/// The codes mailed to `to` about `subject_part`, oldest first.
fn codes(api: &Api, to: &str, subject_part: &str) -> Vec<String> {
    api.mails()
        .iter()
        .filter(|m| m["to"] == to && m["subject"].as_str().is_some_and(|s| s.contains(subject_part)))
        .map(|m| stratus_tests::mail_code(m["text"].as_str().expect("a mail has a text")))
        .collect()
}

/// A code that is none of `codes`.
fn other_than(codes: &[String]) -> String {
    (0..)
        .map(|n: u32| format!("{:08}", (n * 7919 + 31_337) % 100_000_000))
        .find(|candidate| !codes.contains(candidate))
        .expect("a wrong code")
}

/// What a client can tell two problems apart by (the request id aside).
fn visible(problem: &Value) -> Value {
    json!({"status": problem["status"], "title": problem["title"], "detail": problem["detail"],
           "errors": problem["errors"]})
}

fn retry_after(reply: &Reply) -> u64 {
    let seconds = reply.header("retry-after").and_then(|s| s.parse::<u64>().ok());
    seconds.filter(|s| *s > 0).unwrap_or_else(|| panic!("a positive Retry-After: {reply:?}"))
}

/// 6a: the new password was judged against the account before the code was checked, so a
/// password built from the account's name told a known address from an unknown one.
async fn reset_answers_alike_for_an_unknown_address_and_a_wrong_code(backend: Backend) {
    let api = Api::start_with(shipped(wiring(backend).await)).await;
    assert_eq!(api.register("zorblaxtqu", "zorblaxtqu@example.com").await.status, 201);
    // Strong for anyone else, weak for this account: it is its username and a year.
    let personal = "zorblaxtqu2024";

    // No code was ever sent; then one is, and a wrong one is typed.
    let unsent = reset(&api, "zorblaxtqu@example.com", "12345678", personal).await.problem(400);
    let unknown = reset(&api, "nobody@example.com", "12345678", personal).await.problem(400);
    assert_eq!(visible(&unsent), visible(&unknown), "an unknown address answers as a wrong code");
    assert_eq!(unknown["errors"][0]["field"], "code", "{unknown}");
    forgot_from(&api, Ipv4Addr::LOCALHOST, "zorblaxtqu@example.com").await;
    let code = api.last_code("zorblaxtqu@example.com", RESET);
    let wrong =
        reset(&api, "zorblaxtqu@example.com", &other_than(std::slice::from_ref(&code)), personal).await;
    assert_eq!(visible(&wrong.problem(400)), visible(&unknown));

    // A password refused by rules that need no account is refused alike for both, first.
    let common_known = reset(&api, "zorblaxtqu@example.com", "12345678", "password1").await.problem(400);
    let common_unknown = reset(&api, "nobody@example.com", "12345678", "password1").await.problem(400);
    assert_eq!(visible(&common_known), visible(&common_unknown));
    assert_eq!(common_known["errors"][0]["field"], "new_password", "{common_known}");

    // With the right code the account's own rules apply, and a refusal does not cost the code.
    let personal_refused = reset(&api, "zorblaxtqu@example.com", &code, personal).await.problem(400);
    assert_eq!(personal_refused["errors"][0]["field"], "new_password", "{personal_refused}");
    let done = reset(&api, "zorblaxtqu@example.com", &code, NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "{}", text(&done));
    api.login("zorblaxtqu", NEW_PASSWORD).await;
}

/// 7: each forgot-password replaced the live code, so a stranger asking again voided the mail
/// the owner was reading. A few codes stay live; the oldest goes when a fourth is mailed.
async fn earlier_reset_codes_stay_live(backend: Backend) {
    let mut wiring = shipped(wiring(backend).await);
    wiring.settings.auth.mail_limit = GENEROUS;
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("lovelace", "lovelace@example.com").await.status, 201);
    for _ in 0..4 {
        forgot_from(&api, Ipv4Addr::LOCALHOST, "lovelace@example.com").await;
    }
    let mailed = codes(&api, "lovelace@example.com", RESET);
    assert_eq!(mailed.len(), 4);

    reset(&api, "lovelace@example.com", &mailed[0], NEW_PASSWORD).await.problem(400);
    let done = reset(&api, "lovelace@example.com", &mailed[1], NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "an earlier code still works: {}", text(&done));
    // A reset ends every code it was one of.
    reset(&api, "lovelace@example.com", &mailed[3], "yet another passphrase 7").await.problem(400);
    api.login("lovelace", NEW_PASSWORD).await;
}

/// 7: the per-address mail bucket was shared by forgot-password and resend-verification, so a
/// stranger's three forgot-password requests kept the owner from both for 15 minutes.
async fn a_stranger_cannot_keep_the_owner_from_resetting_or_verifying(backend: Backend) {
    let mut wiring = shipped(wiring(backend).await);
    wiring.clock = steady_clock();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("curie", "curie@example.com").await.status, 201);
    let access = api.login("curie", PASSWORD).await["access_token"].as_str().unwrap().to_owned();

    let stranger = Ipv4Addr::new(127, 0, 0, 2);
    for _ in 0..3 {
        forgot_from(&api, stranger, "curie@example.com").await;
    }
    let full = api.post_json_from(stranger, "/password/forgot", &json!({"email": "curie@example.com"})).await;
    full.problem(429);
    let mailed = codes(&api, "curie@example.com", RESET);
    assert_eq!(mailed.len(), 3, "the address's mail limit holds");

    // Verification mails have their bucket: the stranger's requests did not fill it.
    let resend = || api.send(api.http.post(api.url("/users/me/email/verify/resend")).bearer_auth(&access));
    for _ in 0..3 {
        let resent = resend().await;
        assert_eq!(resent.status, 202, "{}", text(&resent));
    }
    let limited = resend().await;
    limited.problem(429);
    retry_after(&limited);
    let code = api.last_code("curie@example.com", VERIFY);
    let verified = api.post_with_token("/users/me/email/verify", &access, &json!({"code": code})).await;
    assert_eq!(verified.status, 204, "{}", text(&verified));

    // And every code the stranger had mailed to the owner works, the first as well.
    let done = reset(&api, "curie@example.com", &mailed[0], NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "{}", text(&done));
}

/// 9: wrong second-factor codes were limited per account only, and TOTP removal shared the
/// bucket: whoever knew the password locked the owner out of the second step.
async fn a_stranger_with_the_password_cannot_lock_the_second_step(backend: Backend) {
    let clock = steady_clock();
    let mut wiring = shipped(mfa_wiring(backend, clock.clone()).await);
    wiring.clock = clock.clone();
    let api = Api::start_with(wiring).await;
    let now = clock.now();
    let owner = enrol(&api, "noether", now).await;
    let token = challenge(&api, "noether").await;
    let wrong = wrong_code(&owner.secret, now);
    let step_from = |from: Ipv4Addr, code: &str| {
        let body = json!({"mfa_token": token, "code": code});
        let api = &api;
        async move { api.post_json_from(from, "/login/mfa", &body).await }
    };

    // The stranger's address runs out of tries...
    let stranger = Ipv4Addr::new(127, 0, 0, 2);
    for _ in 0..5 {
        step_from(stranger, &wrong).await.problem(400);
    }
    let limited = step_from(stranger, &owner.recovery[0]).await;
    limited.problem(429);
    retry_after(&limited);
    // ...and the owner, elsewhere, logs in (a login of their own: an mfa_token completes one).
    let owner_at = Ipv4Addr::new(127, 0, 0, 3);
    let own = json!({"mfa_token": challenge(&api, "noether").await, "code": owner.recovery[0]});
    let reply = api.post_json_from(owner_at, "/login/mfa", &own).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));

    // Guessing from many addresses meets a ceiling for the account: then a fresh address is
    // refused too.
    let mut judged = 5;
    'addresses: for n in 10..60u8 {
        for _ in 0..5 {
            let reply = step_from(Ipv4Addr::new(127, 0, 0, n), &wrong).await;
            if reply.status == 429 {
                break 'addresses;
            }
            reply.problem(400);
            judged += 1;
        }
    }
    let ceiling = AuthConfig::default().mfa_user_limit.max_hits;
    assert_eq!(judged, ceiling, "wrong codes judged from every address together");
    step_from(Ipv4Addr::new(127, 0, 0, 99), &owner.recovery[1]).await.problem(429);

    // Turning TOTP off has a bucket of its own: the login's full ceiling does not block it.
    let removed = remove(&api, &owner.access, PASSWORD, &owner.recovery[1]).await;
    assert_eq!(removed.status, 200, "{}", text(&removed));
}

/// 9, the other way: wrong codes when turning TOTP off do not block the login's second step.
async fn wrong_removal_codes_do_not_block_the_login(backend: Backend) {
    let clock = steady_clock();
    let mut wiring = shipped(mfa_wiring(backend, clock.clone()).await);
    wiring.clock = clock.clone();
    let api = Api::start_with(wiring).await;
    let now = clock.now();
    let owner = enrol(&api, "hopper", now).await;
    let wrong = wrong_code(&owner.secret, now);
    for _ in 0..5 {
        remove(&api, &owner.access, PASSWORD, &wrong).await.problem(400);
    }
    remove(&api, &owner.access, PASSWORD, &owner.recovery[0]).await.problem(429);
    let token = challenge(&api, "hopper").await;
    let reply = second_step(&api, &token, &owner.recovery[0]).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
}

/// 10, over HTTP: wrong guesses sent together use up the code's attempts as surely as one by
/// one, and a right code afterwards is refused; a new code re-arms them. (Which of many racing
/// requests reaches the store first is up to the server, so the guarantee that a guess is
/// counted before it is compared is proven on the stores themselves, in
/// `account_stores_contract::racing_guesses_are_judged_at_most_code_attempts_times`.)
async fn racing_guesses_use_up_the_attempts(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("kovalevskaya", "kovalevskaya@example.com").await.status, 201);
    forgot_from(&api, Ipv4Addr::LOCALHOST, "kovalevskaya@example.com").await;
    let code = api.last_code("kovalevskaya@example.com", RESET);
    let guesses: Vec<String> =
        (0..30u32).map(|n| format!("{:08}", (code.parse::<u32>().unwrap() + 1 + n) % 100_000_000)).collect();
    let replies =
        join_all(guesses.iter().map(|g| reset(&api, "kovalevskaya@example.com", g, NEW_PASSWORD))).await;
    assert!(replies.iter().all(|r| r.status == 400), "{replies:?}");
    reset(&api, "kovalevskaya@example.com", &code, NEW_PASSWORD).await.problem(400);

    forgot_from(&api, Ipv4Addr::LOCALHOST, "kovalevskaya@example.com").await;
    let fresh = api.last_code("kovalevskaya@example.com", RESET);
    let done = reset(&api, "kovalevskaya@example.com", &fresh, NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "{}", text(&done));
}

/// 13: right passwords on change-password were not limited: one access token drove argon2
/// without end. Every attempt counts against the account's hashing budget, right or wrong,
/// and the budget is shared with the other password checks.
async fn password_hashing_is_limited_per_account(backend: Backend) {
    let mut wiring = shipped(wiring(backend).await);
    wiring.clock = steady_clock();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("babbage", "babbage@example.com").await.status, 201);
    let change = |token: String, current: &'static str, new: &'static str| {
        let api = &api;
        async move {
            let body = json!({"current_password": current, "new_password": new});
            api.post_with_token("/users/me/password", &token, &body).await
        }
    };
    let token = |password: &'static str| {
        let api = &api;
        async move { api.login("babbage", password).await["access_token"].as_str().unwrap().to_owned() }
    };

    // A wrong current password counts as well.
    let first = token(PASSWORD).await;
    change(first.clone(), "not the password 42", NEW_PASSWORD).await.problem(400);
    let (mut current, mut other) = (PASSWORD, NEW_PASSWORD);
    let mut changed = 0;
    let limited = loop {
        let reply = change(token(current).await, current, other).await;
        if reply.status != 204 {
            break reply;
        }
        changed += 1;
        (current, other) = (other, current);
        assert!(changed < 30, "thirty password changes in a row and no limit");
    };
    limited.problem(429);
    retry_after(&limited);
    let budget = AuthConfig::default().password_work_limit.max_hits;
    assert_eq!(changed + 1, budget, "every attempt counted, the wrong one too");

    // The budget is the account's: deleting it, which checks the password too, waits as well.
    let request = api.http.delete(api.url("/users/me")).bearer_auth(token(current).await);
    api.send(request.json(&json!({"password": current}))).await.problem(429);
}

on_both_backends!(
    reset_answers_alike_for_an_unknown_address_and_a_wrong_code,
    earlier_reset_codes_stay_live,
    a_stranger_cannot_keep_the_owner_from_resetting_or_verifying,
    a_stranger_with_the_password_cannot_lock_the_second_step,
    wrong_removal_codes_do_not_block_the_login,
    racing_guesses_use_up_the_attempts,
    password_hashing_is_limited_per_account,
);
