//! Tokens that mean one thing and sessions that really end (issue "Tokens other services can
//! trust"), over HTTP against local-api on both backends. Each test is a finding of the outside
//! review, replayed: it failed on the code before the token profile and passes after.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use stratus_auth::totp::TotpSecret;
use stratus_core::ports::TokenSigner;
use stratus_tests::{Api, Backend, PASSWORD, Reply, bootstrap_admin, on_both_backends, wiring};
use time::OffsetDateTime;

on_both_backends!(
    access_tokens_name_the_account_not_the_name,
    totp_set_up_needs_the_password_and_a_current_session,
    a_disabled_account_is_refused_everywhere_and_revives_no_session,
    the_mfa_token_is_single_use_and_bound_to_the_generation,
    admin_routes_read_the_current_role,
    turning_totp_on_ends_the_sessions_begun_with_the_password_alone,
    pre_profile_access_tokens_work_until_they_expire,
);

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

fn header(token: &str) -> Value {
    let head = token.split('.').next().expect("a JWT has a header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).expect("base64url")).expect("a JSON header")
}

fn access(pair: &Value) -> String {
    pair["access_token"].as_str().expect("an access token").to_owned()
}

async fn delete_me(api: &Api, token: &str) -> Reply {
    api.send(api.http.delete(api.url("/users/me")).bearer_auth(token).json(&json!({"password": PASSWORD})))
        .await
}

async fn patch(api: &Api, path: &str, token: &str, body: &Value) -> Reply {
    api.send(api.http.patch(api.url(path)).bearer_auth(token).json(body)).await
}

async fn submit_task(api: &Api, token: &str) -> String {
    let reply = api.post_with_token("/add", token, &json!({"a": 2, "b": 3})).await;
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    reply.header("location").expect("a Location").to_owned()
}

/// Finding 2: a token of a deleted account read and changed the account registered next under
/// its name, and `/result` still read the deleted account's tasks.
async fn access_tokens_name_the_account_not_the_name(backend: Backend) {
    let api = Api::start(backend).await;
    let old = api.user_token("reused").await;
    let old_profile = api.get_with_token("/users/me", &old).await.json();
    let token_claims = claims(&old);
    assert_eq!(header(&old)["typ"], "at+jwt");
    assert_eq!(token_claims["sub"], old_profile["id"], "sub is the account's id");
    assert_eq!(token_claims["preferred_username"], "reused");
    assert_eq!(
        (token_claims["client_id"].clone(), token_claims["scope"].clone()),
        (json!("stratus"), json!("api"))
    );
    let task = submit_task(&api, &old).await;
    assert_eq!(delete_me(&api, &old).await.status, 204);

    // A stranger registers the freed name.
    let new = api.user_token("reused").await;
    assert_ne!(claims(&new)["sub"], token_claims["sub"]);
    let gone = api.get_with_token("/users/me", &old).await.problem(401);
    assert_eq!(gone["detail"], "The account of this token no longer exists");
    api.post_with_token("/users/me/mfa/totp", &old, &json!({"password": PASSWORD})).await.problem(401);
    api.post_with_token("/add", &old, &json!({"a": 1, "b": 1})).await.problem(401);
    // The new account does not inherit the old one's tasks.
    api.get_with_token(&task, &new).await.problem(404);
    assert_eq!(api.get_with_token("/users/me", &new).await.json()["mfa_enabled"], false);
}

/// Finding 3: a bare access token, even one from before a password change, began and confirmed
/// TOTP, locking the owner out.
async fn totp_set_up_needs_the_password_and_a_current_session(backend: Backend) {
    let api = Api::start(backend).await;
    let stolen = api.user_token("victim").await;
    let no_password = api.post_with_token("/users/me/mfa/totp", &stolen, &json!({})).await.problem(400);
    assert!(no_password.to_string().contains("password"), "{no_password}");
    let wrong =
        api.post_with_token("/users/me/mfa/totp", &stolen, &json!({"password": "a guess it is 1"})).await;
    assert_eq!(wrong.problem(400)["errors"][0]["field"], "password");

    // The owner changes the password: the stolen token's session is over, everywhere.
    let owner = api.login("victim", PASSWORD).await;
    let new_password = "the owner's new passphrase 5";
    let change = json!({"current_password": PASSWORD, "new_password": new_password});
    assert_eq!(api.post_with_token("/users/me/password", &access(&owner), &change).await.status, 204);
    let ended = api.post_with_token("/users/me/mfa/totp", &stolen, &json!({"password": new_password})).await;
    assert!(ended.problem(401)["detail"].as_str().unwrap().starts_with("This session has ended"));
    api.get_with_token("/users/me", &stolen).await.problem(401);
    api.get_with_token("/users/me", &access(&owner)).await.problem(401);
    let fresh = api.login("victim", new_password).await;
    assert_eq!(api.get_with_token("/users/me", &access(&fresh)).await.status, 200);
}

/// Finding 5: a disabled user's live token worked on non-admin routes, self-deletion included
/// (freeing the name and email for an enabled account), and refresh tokens from before the
/// disable worked again once re-enabled.
async fn a_disabled_account_is_refused_everywhere_and_revives_no_session(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let root = access(&api.login("root", PASSWORD).await);
    assert_eq!(api.register("mallory", "mallory@example.com").await.status, 201);
    let session = api.login("mallory", PASSWORD).await;
    let token = access(&session);
    let task = submit_task(&api, &token).await;

    assert_eq!(patch(&api, "/users/mallory", &root, &json!({"disabled": true})).await.status, 200);
    for reply in [
        api.get_with_token("/users/me", &token).await,
        api.get_with_token(&task, &token).await,
        api.post_with_token("/add", &token, &json!({"a": 1, "b": 2})).await,
        delete_me(&api, &token).await,
    ] {
        let problem = reply.problem(401);
        assert!(problem["detail"].as_str().unwrap().starts_with("This session has ended"), "{problem}");
    }
    // The account still holds its name and email: a disabled account cannot free them.
    api.register("mallory", "other@example.com").await.problem(409);

    assert_eq!(patch(&api, "/users/mallory", &root, &json!({"disabled": false})).await.status, 200);
    api.post_json("/token/refresh", &json!({"refresh_token": session["refresh_token"]})).await.problem(401);
    api.get_with_token("/users/me", &token).await.problem(401);
    let again = access(&api.login("mallory", PASSWORD).await);
    assert_eq!(api.get_with_token("/users/me", &again).await.status, 200);
}

/// Finding 8: an mfa_token from before a password change still worked after it, and one
/// mfa_token could be used several times.
async fn the_mfa_token_is_single_use_and_bound_to_the_generation(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("stepper").await;
    let setup = api.post_with_token("/users/me/mfa/totp", &token, &json!({"password": PASSWORD})).await;
    let secret = TotpSecret::from_base32(setup.json()["secret"].as_str().unwrap()).unwrap();
    let now = OffsetDateTime::now_utc();
    let step = time::Duration::seconds(30);
    let on =
        api.post_with_token("/users/me/mfa/totp/confirm", &token, &json!({"code": secret.code(now)})).await;
    assert_eq!(on.status, 200, "{}", String::from_utf8_lossy(&on.body));
    let recovery: Vec<String> = serde_json::from_value(on.json()["recovery_codes"].clone()).unwrap();
    let challenge = || async {
        let reply = api.post_json("/login", &json!({"username": "stepper", "password": PASSWORD})).await;
        reply.json()["mfa_token"].as_str().expect("an mfa_token").to_owned()
    };

    let mfa_token = challenge().await;
    assert_eq!(header(&mfa_token)["typ"], "mfa-step+jwt");
    assert_eq!(claims(&mfa_token)["aud"], "urn:stratus:login-mfa");
    assert!(claims(&mfa_token).get("role").is_none() && claims(&mfa_token).get("scope").is_none());
    let second = |code: String| json!({"mfa_token": mfa_token, "code": code});
    // A wrong code leaves the token usable; the right one spends it.
    api.post_json("/login/mfa", &second("000000".into())).await.problem(400);
    assert_eq!(api.post_json("/login/mfa", &second(secret.code(now + step))).await.status, 200);
    let replayed = api.post_json("/login/mfa", &second(recovery[0].clone())).await.problem(401);
    assert!(replayed["detail"].as_str().unwrap().contains("used"), "{replayed}");
    // ... and the recovery code it was sent with is not spent by the refusal.
    let fresh = challenge().await;
    let recovered = api.post_json("/login/mfa", &json!({"mfa_token": fresh, "code": recovery[0]})).await;
    assert_eq!(recovered.status, 200, "{}", String::from_utf8_lossy(&recovered.body));

    // Issued before a password change, it is void after it.
    let before_change = challenge().await;
    let change = json!({"current_password": PASSWORD, "new_password": "stepper's new passphrase 3"});
    assert_eq!(
        api.post_with_token("/users/me/password", &access(&recovered.json()), &change).await.status,
        204
    );
    api.post_json("/login/mfa", &json!({"mfa_token": before_change, "code": recovery[1]})).await.problem(401);
}

/// Finding 11: `/result` trusted the token's role, so a demoted admin read any user's task
/// until the token expired.
async fn admin_routes_read_the_current_role(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "root").await;
    bootstrap_admin(&wiring, "deputy").await;
    let api = Api::start_with(wiring).await;
    let root = access(&api.login("root", PASSWORD).await);
    let deputy = access(&api.login("deputy", PASSWORD).await);
    let user = api.user_token("tasker").await;
    let task = submit_task(&api, &user).await;
    assert_eq!(api.get_with_token(&task, &deputy).await.status, 200, "an admin reads any task");

    let demoted = patch(&api, "/users/deputy", &root, &json!({"role": "user"})).await;
    assert_eq!(demoted.status, 200, "{}", String::from_utf8_lossy(&demoted.body));
    api.get_with_token(&task, &deputy).await.problem(404);
    api.get_with_token("/users/tasker", &deputy).await.problem(403);
    api.get_with_token("/users", &deputy).await.problem(403);
}

/// Finding 14 (as decided): refresh tokens from before TOTP was turned on kept working, so a
/// session begun with a stolen password outlived the second factor.
async fn turning_totp_on_ends_the_sessions_begun_with_the_password_alone(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("guarded").await;
    let thief = api.login("guarded", PASSWORD).await;
    let setup = api.post_with_token("/users/me/mfa/totp", &token, &json!({"password": PASSWORD})).await;
    let secret = TotpSecret::from_base32(setup.json()["secret"].as_str().unwrap()).unwrap();
    let code = json!({"code": secret.code(OffsetDateTime::now_utc())});
    let on = api.post_with_token("/users/me/mfa/totp/confirm", &token, &code).await;
    assert_eq!(on.status, 200, "{}", String::from_utf8_lossy(&on.body));
    api.post_json("/token/refresh", &json!({"refresh_token": thief["refresh_token"]})).await.problem(401);
    api.get_with_token("/users/me", &access(&thief)).await.problem(401);
    // The owner's own session goes on in the answer.
    let renewed =
        api.post_json("/token/refresh", &json!({"refresh_token": on.json()["refresh_token"]})).await;
    assert_eq!(renewed.status, 200, "{}", String::from_utf8_lossy(&renewed.body));
}

/// Tokens signed before the profile (`typ: JWT`, `sub` the username) stop working at their
/// natural expiry, not at the deploy: nobody is logged out by the change. Their old `scope`d
/// kinds (mfa, email verification) are no access tokens.
async fn pre_profile_access_tokens_work_until_they_expire(backend: Backend) {
    let wiring = wiring(backend).await;
    let signer = wiring.signer.clone();
    let api = Api::start_with(wiring).await;
    api.user_token("veteran").await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let sign = |claims: Value| {
        let signer = signer.clone();
        async move {
            let head = json!({"alg": "ES256", "typ": "JWT", "kid": signer.key_id()});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(head.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = signer.sign(input.as_bytes()).await.unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        }
    };
    let old = |extra: Value| {
        let mut claims = json!({
            "sub": "veteran", "role": "user", "iat": now, "nbf": now, "exp": now + 600,
            "iss": "stratus", "aud": "stratus-api", "jti": "pre-profile", "email_verified": false
        });
        for (key, value) in extra.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };
    let live = sign(old(json!({}))).await;
    assert_eq!(api.get_with_token("/users/me", &live).await.json()["username"], "veteran");
    let expired = sign(old(json!({"iat": now - 1200, "nbf": now - 1200, "exp": now - 600}))).await;
    api.get_with_token("/users/me", &expired).await.problem(401);
    for scope in ["mfa", "email-verification"] {
        let token = sign(old(json!({"scope": scope}))).await;
        api.get_with_token("/users/me", &token).await.problem(401);
    }
}
