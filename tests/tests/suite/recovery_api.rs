//! Forgotten passwords and email verification over HTTP, on both backends: the codes are read
//! from the outbox file, as a developer reads them.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use stratus_tests::{Api, Backend, PASSWORD, on_both_backends, wiring};

const NEW_PASSWORD: &str = "difference engine 1822";
const RESET: &str = "password reset";
const VERIFY: &str = "Verify your email";

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

fn wrong(code: &str) -> String {
    let last = code.as_bytes()[7] - b'0';
    format!("{}{}", &code[..7], (last + 1) % 10)
}

async fn forgot(api: &Api, email: &str) {
    let reply = api.post_json("/password/forgot", &json!({"email": email})).await;
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.body.is_empty());
}

async fn reset(api: &Api, email: &str, code: &str, new_password: &str) -> stratus_tests::Reply {
    api.post_json("/password/reset", &json!({"email": email, "code": code, "new_password": new_password}))
        .await
}

async fn a_forgotten_password_is_reset_by_the_mailed_code(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("grace", "Grace@Example.com").await.status, 201);
    let session = api.login("grace", PASSWORD).await;
    let mails_before = api.mails().len();

    forgot(&api, "nobody@example.com").await;
    assert_eq!(api.mails().len(), mails_before, "no account, no mail");

    forgot(&api, "grace@EXAMPLE.com").await;
    let mails = api.mails();
    assert_eq!(mails.len(), mails_before + 1);
    let mail = mails.last().unwrap();
    assert_eq!(mail["to"], "Grace@Example.com");
    let code = api.last_code("Grace@Example.com", RESET);

    let refused = reset(&api, "grace@example.com", &wrong(&code), NEW_PASSWORD).await.problem(400);
    assert_eq!(refused["errors"][0]["field"], "code");
    let weak = reset(&api, "grace@example.com", &code, "grace1234").await.problem(400);
    assert_eq!(weak["errors"][0]["field"], "new_password", "{weak}");
    let unknown = reset(&api, "nobody@example.com", &code, NEW_PASSWORD).await.problem(400);
    assert_eq!(unknown["detail"], refused["detail"], "an unknown address answers as a wrong code");

    // Typed with a space, as mails often show codes.
    let spaced = format!("{} {}", &code[..4], &code[4..]);
    let done = reset(&api, "grace@example.com", &spaced, NEW_PASSWORD).await;
    assert_eq!(done.status, 204, "{}", String::from_utf8_lossy(&done.body));
    reset(&api, "grace@example.com", &code, "yet another passphrase 7").await.problem(400);

    let old_session =
        api.post_json("/token/refresh", &json!({"refresh_token": session["refresh_token"]})).await;
    old_session.problem(401);
    let old_password = api.post_json("/login", &json!({"username": "grace", "password": PASSWORD})).await;
    old_password.problem(401);
    let tokens = api.login("grace", NEW_PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["email_verified"], true, "the reset code was read at the address");
    assert_eq!(api.get_with_token("/users/me", access).await.json()["email_verified"], true);
}

async fn a_code_survives_few_wrong_guesses_and_no_expiry(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = stratus_tests::steady_clock();
    wiring.clock = clock.clone();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("hopper", "hopper@example.com").await.status, 201);

    forgot(&api, "hopper@example.com").await;
    let code = api.last_code("hopper@example.com", RESET);
    for _ in 0..5 {
        reset(&api, "hopper@example.com", &wrong(&code), NEW_PASSWORD).await.problem(400);
    }
    reset(&api, "hopper@example.com", &code, NEW_PASSWORD).await.problem(400);

    // New codes re-arm the tries, but not the code that ran out of them. The newer codes both
    // live (code_limits_api tests that), until their expiry and not a second longer.
    forgot(&api, "hopper@example.com").await;
    let first = api.last_code("hopper@example.com", RESET);
    forgot(&api, "hopper@example.com").await;
    let second = api.last_code("hopper@example.com", RESET);
    if code != first && code != second {
        reset(&api, "hopper@example.com", &code, NEW_PASSWORD).await.problem(400);
    }
    clock.advance(time::Duration::minutes(15));
    reset(&api, "hopper@example.com", &first, NEW_PASSWORD).await.problem(400);
    reset(&api, "hopper@example.com", &second, NEW_PASSWORD).await.problem(400);
    api.login("hopper", PASSWORD).await;
}

async fn registration_mails_a_code_that_verifies_the_email(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("turing", "turing@example.com").await.status, 201);
    let first = api.last_code("turing@example.com", VERIFY);
    let access = api.login("turing", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["email_verified"], false);
    assert_eq!(api.get_with_token("/users/me", &access).await.json()["email_verified"], false);

    let resent = api.send(api.http.post(api.url("/users/me/email/verify/resend")).bearer_auth(&access)).await;
    assert_eq!(resent.status, 202, "{}", String::from_utf8_lossy(&resent.body));
    let second = api.last_code("turing@example.com", VERIFY);
    let verify = |code: String| {
        let api = &api;
        let access = &access;
        async move { api.post_with_token("/users/me/email/verify", access, &json!({"code": code})).await }
    };
    if first != second {
        verify(first).await.problem(400);
    }
    verify(wrong(&second)).await.problem(400);
    verify("12ab".into()).await.problem(400);
    assert_eq!(verify(second.clone()).await.status, 204);
    assert_eq!(verify(second).await.status, 204, "verifying a verified address changes nothing");

    assert_eq!(api.get_with_token("/users/me", &access).await.json()["email_verified"], true);
    let fresh = api.login("turing", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&fresh)["email_verified"], true);
    let again = api.send(api.http.post(api.url("/users/me/email/verify/resend")).bearer_auth(&fresh)).await;
    again.problem(409);
    api.send(api.http.post(api.url("/users/me/email/verify/resend"))).await.problem(401);
}

async fn a_required_verification_gates_login(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.settings.auth.require_verified_email = true;
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("noether", "noether@example.com").await.status, 201);
    let code = api.last_code("noether@example.com", VERIFY);

    let refused = api.post_json("/login", &json!({"username": "noether", "password": PASSWORD})).await;
    let problem = refused.problem(403);
    assert_eq!(problem["email_verification_required"], true);
    assert!(problem.get("access_token").is_none() && problem.get("refresh_token").is_none());
    let token = problem["verification_token"].as_str().expect("a verification token").to_owned();
    assert_eq!(claims(&token)["aud"], "urn:stratus:email-verification");
    // It opens the verification routes and nothing else.
    api.get_with_token("/users/me", &token).await.problem(401);
    let wrong_password =
        api.post_json("/login", &json!({"username": "noether", "password": "not it at all 99"})).await;
    wrong_password.problem(401);

    let verified = api.post_with_token("/users/me/email/verify", &token, &json!({"code": code})).await;
    assert_eq!(verified.status, 204, "{}", String::from_utf8_lossy(&verified.body));
    let tokens = api.login("noether", PASSWORD).await;
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["email_verified"], true);
}

async fn forgot_answers_after_the_same_floor_either_way(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let floor = Duration::from_millis(300);
    wiring.settings.auth.forgot_password_floor = floor;
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("lamarr", "lamarr@example.com").await.status, 201);
    for email in ["lamarr@example.com", "nobody-here@example.com"] {
        let started = Instant::now();
        forgot(&api, email).await;
        assert!(started.elapsed() >= floor, "{email} answered before the floor");
    }
    let bad = api.post_json("/password/forgot", &json!({"email": "not an address"})).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "email");
}

on_both_backends!(
    a_forgotten_password_is_reset_by_the_mailed_code,
    a_code_survives_few_wrong_guesses_and_no_expiry,
    registration_mails_a_code_that_verifies_the_email,
    a_required_verification_gates_login,
    forgot_answers_after_the_same_floor_either_way,
);
