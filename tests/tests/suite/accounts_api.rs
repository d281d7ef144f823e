//! Accounts and authentication over HTTP, against local-api on both backends.

use std::net::Ipv4Addr;
use std::sync::Arc;
use stratus_auth::tokens::TokenKind;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use serde_json::{Value, json};
use stratus_core::clock::ManualClock;
use stratus_core::ports::{AccessChange, AccessChanged, RateLimit, TokenSigner};
use stratus_tests::{Api, Backend, PASSWORD, bootstrap_admin, on_both_backends, registration, wiring};

const PROFILE_FIELDS: [&str; 11] = [
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "role",
    "created_at",
    "last_login",
    "disabled",
    "email_verified",
    "mfa_enabled",
];

fn assert_profile(profile: &Value, username: &str) {
    let keys: Vec<&str> = profile.as_object().expect("a profile object").keys().map(String::as_str).collect();
    let mut expected = PROFILE_FIELDS.to_vec();
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected, "{profile}");
    assert_eq!(profile["username"], username);
    assert!(!profile.to_string().contains("argon2"), "a profile leaked a hash: {profile}");
}

async fn full_account_flow(backend: Backend) {
    let api = Api::start(backend).await;
    let registered = api.register("Ada_L", "Ada@Example.com").await;
    assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    assert_eq!(registered.header("location"), Some("/users/ada_l"));
    let profile = registered.json();
    assert_profile(&profile, "ada_l");
    assert_eq!(profile["email"], "Ada@Example.com");
    assert_eq!(profile["first_name"], "Ada");
    assert_eq!(profile["last_name"], "Lovelace");
    assert_eq!(profile["role"], "user");
    assert_eq!(profile["last_login"], Value::Null);

    let tokens = api.login("ADA_L", PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    for path in ["/users/me", "/getUserData", "/users/ada_l"] {
        let me = api.get_with_token(path, access).await;
        assert_eq!(me.status, 200, "{path}");
        assert_profile(&me.json(), "ada_l");
        assert!(me.json()["last_login"].is_string(), "login stamps last_login");
    }

    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await;
    assert_eq!(renewed.status, 200);
    let renewed = renewed.json();
    assert_ne!(renewed["refresh_token"], refresh);
    let new_access = renewed["access_token"].as_str().unwrap();
    assert_eq!(api.get_with_token("/users/me", new_access).await.status, 200);

    let new_refresh = renewed["refresh_token"].as_str().unwrap();
    let logout = api.post_with_token("/logout", new_access, &json!({"refresh_token": new_refresh})).await;
    assert_eq!(logout.status, 204);
    api.post_json("/token/refresh", &json!({"refresh_token": new_refresh})).await.problem(401);
}

async fn duplicate_usernames_and_emails_conflict_in_any_case(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("grace", "grace@example.com").await.status, 201);
    let body = api.register("GRACE", "other@example.com").await.problem(409);
    assert_eq!(body["errors"][0]["field"], "username");
    let body = api.register("hopper", "Grace@EXAMPLE.com").await.problem(409);
    assert_eq!(body["errors"][0]["field"], "email");
}

async fn concurrent_registrations_of_one_name_create_one(backend: Backend) {
    let api = Api::start(backend).await;
    let bodies: Vec<Value> =
        (0..25).map(|i| registration("racer", &format!("racer{i}@example.com"))).collect();
    let replies = join_all(bodies.iter().map(|body| api.post_json("/register", body))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, conflicts), (1, 24), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
}

async fn invalid_registrations_name_their_fields(backend: Backend) {
    let api = Api::start(backend).await;
    let cases: &[(&str, Value)] = &[
        ("username", json!("ab")),
        ("username", json!("a".repeat(33))),
        ("username", json!("has space")),
        ("username", json!("\u{0430}dmin")),
        ("username", json!("ｇrace")),
        ("username", json!(5)),
        ("email", json!("not-an-email")),
        ("email", json!("two@@example.com")),
        ("email", json!("")),
        ("password", json!("short")),
        ("password", json!("password")),
        ("password", json!("12345678")),
        ("password", json!("qwertyuiop")),
        ("first_name", json!("")),
        ("role", json!("superuser")),
        // A username starts with a letter or digit; a name holds no invisible characters.
        ("username", json!("-ada")),
        ("username", json!(".ada")),
        ("username", json!("_ada")),
        ("first_name", json!("Ada\u{202e}ecalevoL")),
        ("last_name", json!("Love\u{200b}lace")),
        ("first_name", json!("\u{2066}Ada\u{2069}")),
        ("last_name", json!(" Lovelace")),
    ];
    for (field, value) in cases {
        let mut body = registration("valid_name", "valid@example.com");
        body[*field] = value.clone();
        let problem = api.post_json("/register", &body).await.problem(400);
        let fields: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec![*field], "{field} = {value}: {problem}");
    }
    // A value of the wrong type is not repeated back: it may be a password.
    let mut wrong_type = registration("valid_name", "valid@example.com");
    wrong_type["password"] = json!(12345678901u64);
    let problem = api.post_json("/register", &wrong_type).await.problem(400);
    assert!(!problem.to_string().contains("12345678901"), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "password");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("expected"), "{problem}");
    let mut missing = registration("valid_name", "valid@example.com");
    missing.as_object_mut().unwrap().remove("email");
    assert_eq!(api.post_json("/register", &missing).await.problem(400)["errors"][0]["field"], "email");
    // None of those created anything.
    assert_eq!(api.register("valid_name", "valid@example.com").await.status, 201);
}

async fn only_admins_create_admins(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let mut admin_request = registration("second_admin", "second@example.com");
    admin_request["role"] = json!("admin");

    api.post_json("/register", &admin_request).await.problem(403);
    let user_token = api.user_token("plain").await;
    api.post_with_token("/register", &user_token, &admin_request).await.problem(403);
    api.post_with_token("/register", "not-a-token", &admin_request).await.problem(401);

    let admin_token = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let created = api.post_with_token("/register", &admin_token, &admin_request).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["role"], "admin");
}

async fn unknown_user_and_wrong_password_look_alike(backend: Backend) {
    let api = Api::start(backend).await;
    api.register("known", "known@example.com").await;
    let wrong = api.post_json("/login", &json!({"username": "known", "password": "wrong password 1"})).await;
    let unknown =
        api.post_json("/login", &json!({"username": "unknown", "password": "wrong password 1"})).await;
    let malformed = api.post_json("/login", &json!({"username": "?", "password": "wrong password 1"})).await;
    for reply in [&wrong, &unknown, &malformed] {
        reply.problem(401);
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, malformed.body);
    assert_eq!(wrong.header("www-authenticate"), unknown.header("www-authenticate"));
}

async fn login_with_http_basic(backend: Backend) {
    let api = Api::start(backend).await;
    api.register("basic", "basic@example.com").await;
    let ok = api.send(api.http.post(api.url("/login")).basic_auth("basic", Some(PASSWORD))).await;
    assert_eq!(ok.status, 200);
    assert!(ok.json()["access_token"].is_string());
    let wrong = api.send(api.http.post(api.url("/login")).basic_auth("basic", Some("nope nope nope"))).await;
    wrong.problem(401);
    let garbage = api.send(api.http.post(api.url("/login")).header("authorization", "Basic !!!")).await;
    garbage.problem(400);
    api.post_raw("/login", "text/plain", b"basic:pw".to_vec()).await.problem(415);
    api.post_json("/login", &json!({"username": "basic"})).await.problem(400);

    // A Bearer token sent along (clients often send one everywhere) is no login credential: the
    // body is. HTTP Basic, when present, is the credential, whatever the body says.
    let body = json!({"username": "basic", "password": PASSWORD});
    let with_bearer =
        api.send(api.http.post(api.url("/login")).bearer_auth("some.access.token").json(&body)).await;
    assert_eq!(with_bearer.status, 200, "{}", String::from_utf8_lossy(&with_bearer.body));
    let wrong_body = json!({"username": "basic", "password": "not the password 1"});
    let basic_wins = api
        .send(api.http.post(api.url("/login")).basic_auth("basic", Some(PASSWORD)).json(&wrong_body))
        .await;
    assert_eq!(basic_wins.status, 200);
}

async fn sixth_login_attempt_in_a_window_is_429(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = stratus_tests::steady_clock();
    wiring.clock = clock.clone();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 5, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    api.register("limited", "limited@example.com").await;
    for _ in 0..5 {
        api.post_json("/login", &json!({"username": "limited", "password": "wrong password 1"}))
            .await
            .problem(401);
    }
    let limited = api.post_json("/login", &json!({"username": "limited", "password": PASSWORD})).await;
    limited.problem(429);
    let retry_after: i64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    clock.advance(time::Duration::seconds(retry_after));
    api.login("limited", PASSWORD).await;
}

async fn logins_are_rate_limited_per_address_whatever_the_username(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 5, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    api.register("spray", "spray@example.com").await;
    for i in 0..5 {
        api.post_json("/login", &json!({"username": format!("sprayed{i}"), "password": PASSWORD}))
            .await
            .problem(401);
    }
    // A sixth username, a right password and a made-up forwarding header: the address is still
    // the one the request came from, and it has used its attempts.
    let request = api
        .http
        .post(api.url("/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("cloudfront-viewer-address", "203.0.113.9:4242")
        .json(&json!({"username": "spray", "password": PASSWORD}));
    let limited = api.send(request).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
}

async fn a_stranger_at_one_address_cannot_lock_owners_out(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 5, window: time::Duration::minutes(1) };
    wiring.settings.auth.login_user_limit = RateLimit { max_hits: 100, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    let owners: Vec<String> = (0..5).map(|i| format!("owner{i}")).collect();
    for owner in &owners {
        assert_eq!(api.register(owner, &format!("{owner}@example.com")).await.status, 201);
    }
    let stranger = Ipv4Addr::new(127, 0, 0, 2);
    let mut statuses = Vec::new();
    for owner in &owners {
        for _ in 0..6 {
            let guess = json!({"username": owner, "password": "a wrong guess 42"});
            statuses.push(api.post_json_from(stranger, "/login", &guess).await.status);
        }
    }
    // The stranger's address ran out after five guesses; nothing after that counted anywhere.
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25, "{statuses:?}");
    let home = Ipv4Addr::new(127, 0, 0, 3);
    for owner in &owners {
        let login =
            api.post_json_from(home, "/login", &json!({"username": owner, "password": PASSWORD})).await;
        assert_eq!(login.status, 200, "{owner} is locked out: {}", String::from_utf8_lossy(&login.body));
    }
}

async fn guessing_from_many_addresses_meets_the_per_user_ceiling(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 5, window: time::Duration::minutes(1) };
    wiring.settings.auth.login_user_limit = RateLimit { max_hits: 8, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    api.register("target", "target@example.com").await;
    let guess = json!({"username": "target", "password": "a wrong guess 42"});
    for _ in 0..5 {
        api.post_json_from(Ipv4Addr::new(127, 0, 0, 2), "/login", &guess).await.problem(401);
    }
    for _ in 0..3 {
        api.post_json_from(Ipv4Addr::new(127, 0, 0, 3), "/login", &guess).await.problem(401);
    }
    // Eight failures from two addresses: the username's own ceiling now refuses every address.
    let refused = api.post_json_from(Ipv4Addr::new(127, 0, 0, 4), "/login", &guess).await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
    // Other accounts are untouched.
    api.register("bystander", "bystander@example.com").await;
    let other = json!({"username": "bystander", "password": PASSWORD});
    assert_eq!(api.post_json_from(Ipv4Addr::new(127, 0, 0, 4), "/login", &other).await.status, 200);
}

async fn only_failed_logins_count(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 3, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    api.register("regular", "regular@example.com").await;
    for _ in 0..6 {
        api.login("regular", PASSWORD).await;
    }
    for _ in 0..3 {
        api.post_json("/login", &json!({"username": "regular", "password": "a wrong guess 42"}))
            .await
            .problem(401);
    }
    api.post_json("/login", &json!({"username": "regular", "password": PASSWORD})).await.problem(429);
}

async fn logout_with_someone_elses_refresh_token_leaves_it_alone(backend: Backend) {
    let api = Api::start(backend).await;
    api.register("victim", "victim@example.com").await;
    let victim = api.login("victim", PASSWORD).await;
    let intruder = api.user_token("intruder2").await;
    let stolen = json!({"refresh_token": victim["refresh_token"]});
    api.post_with_token("/logout", &intruder, &stolen).await.problem(401);
    // The victim's session is intact: the token still refreshes, once, as any token does.
    let renewed = api.post_json("/token/refresh", &stolen).await;
    assert_eq!(renewed.status, 200, "{}", String::from_utf8_lossy(&renewed.body));
}

async fn sessions_end_at_their_maximum_lifetime(backend: Backend) {
    let mut wiring = wiring(backend).await;
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    wiring.clock = clock.clone();
    wiring.settings.auth.refresh_ttl = time::Duration::days(30);
    wiring.settings.auth.session_max_lifetime = time::Duration::days(90);
    let api = Api::start_with(wiring).await;
    api.register("longlived", "longlived@example.com").await;
    let mut refresh = api.login("longlived", PASSWORD).await["refresh_token"].clone();
    // Refreshed every 25 days, each token inside its 30: the session goes on...
    for _ in 0..3 {
        clock.advance(time::Duration::days(25));
        let renewed = api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await;
        assert_eq!(renewed.status, 200, "{}", String::from_utf8_lossy(&renewed.body));
        refresh = renewed.json()["refresh_token"].clone();
    }
    clock.advance(time::Duration::days(14));
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await;
    assert_eq!(renewed.status, 200, "day 89");
    refresh = renewed.json()["refresh_token"].clone();
    // ...until 90 days after the login, however recently it was refreshed.
    clock.advance(time::Duration::days(1));
    api.post_json("/token/refresh", &json!({"refresh_token": refresh})).await.problem(401);
    let fresh = api.login("longlived", PASSWORD).await;
    assert!(fresh["refresh_token"].is_string());
}

async fn a_demoted_admin_loses_admin_routes_at_once(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "formeradmin").await;
    // Another admin: the store would not demote the only one.
    bootstrap_admin(&wiring, "keeper").await;
    let users = wiring.users.clone();
    let api = Api::start_with(wiring).await;
    let token = api.login("formeradmin", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api.get_with_token("/users", &token).await.status, 200);
    api.register("someone", "someone@example.com").await;
    assert_eq!(api.get_with_token("/users/someone", &token).await.status, 200);
    let name = stratus_core::domain::Username::parse("formeradmin").unwrap();
    let read = users.get(&name).await.unwrap().unwrap();
    let demotion = AccessChange { role: Some(stratus_core::domain::Role::User), disabled: None };
    let demoted = users.change_access(&read, demotion, uuid::Uuid::new_v4()).await.unwrap();
    assert!(matches!(demoted, AccessChanged::Changed(_)), "{demoted:?}");
    // The token still says admin for up to 15 minutes; the store says otherwise now.
    api.get_with_token("/users", &token).await.problem(403);
    api.get_with_token("/users/someone", &token).await.problem(403);
    let mut admin_request = registration("promoted_me", "promoted@example.com");
    admin_request["role"] = json!("admin");
    api.post_with_token("/register", &token, &admin_request).await.problem(403);
    assert_eq!(api.get_with_token("/users/formeradmin", &token).await.status, 200, "their own profile");
}

async fn registrations_are_rate_limited_per_address(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.register_limit = RateLimit { max_hits: 10, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    for i in 0..10 {
        assert_ne!(api.register(&format!("reg{i}"), &format!("reg{i}@example.com")).await.status, 429);
    }
    let limited = api.register("reg10", "reg10@example.com").await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
}

async fn spent_refresh_token_revokes_its_family(backend: Backend) {
    let api = Api::start(backend).await;
    api.register("family", "family@example.com").await;
    let first = api.login("family", PASSWORD).await;
    let first_refresh = first["refresh_token"].as_str().unwrap();
    let second = api.post_json("/token/refresh", &json!({"refresh_token": first_refresh})).await.json();
    let second_refresh = second["refresh_token"].as_str().unwrap();

    // The first token again: a replay. It fails, and so does the legitimate newer one.
    api.post_json("/token/refresh", &json!({"refresh_token": first_refresh})).await.problem(401);
    api.post_json("/token/refresh", &json!({"refresh_token": second_refresh})).await.problem(401);

    // Another login starts a new, unaffected family.
    let other = api.login("family", PASSWORD).await;
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": other["refresh_token"]})).await;
    assert_eq!(renewed.status, 200);

    for bad in [json!({"refresh_token": "garbage"}), json!({"refresh_token": "A".repeat(43)})] {
        api.post_json("/token/refresh", &bad).await.problem(401);
    }
    api.post_json("/token/refresh", &json!({})).await.problem(400);
}

async fn logout_needs_the_owner(backend: Backend) {
    let api = Api::start(backend).await;
    api.register("owner", "owner@example.com").await;
    let owner = api.login("owner", PASSWORD).await;
    let intruder = api.user_token("intruder").await;
    let body = json!({"refresh_token": owner["refresh_token"]});
    api.send(api.http.post(api.url("/logout")).json(&body)).await.problem(401);
    api.post_with_token("/logout", &intruder, &body).await.problem(401);
}

async fn admins_list_and_read_users(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let user = api.user_token("lister").await;
    for i in 0..6 {
        api.register(&format!("member{i}"), &format!("member{i}@example.com")).await;
    }
    api.get_with_token("/users", &user).await.problem(403);
    api.get("/users").await.problem(401);
    api.get_with_token("/users/root", &user).await.problem(403);

    let admin = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut issued = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=3&cursor={c}"),
            None => "/users?limit=3".into(),
        };
        let page = api.get_with_token(&path, &admin).await;
        assert_eq!(page.status, 200);
        let page = page.json();
        for item in page["items"].as_array().unwrap() {
            assert_profile(item, item["username"].as_str().unwrap());
            seen.push(item["username"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => {
                issued.push(next.to_owned());
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    // A real cursor edited by hand (its last byte, the end of a username, changed to another
    // letter that makes a valid username) starts no page: 400, like any cursor we did not issue.
    let first = issued.first().expect("8 users at 3 a page give a next cursor");
    let mut bytes = URL_SAFE_NO_PAD.decode(first).unwrap();
    let last = bytes.last_mut().unwrap();
    *last = if *last == b'a' { b'b' } else { b'a' };
    let tampered = URL_SAFE_NO_PAD.encode(&bytes);
    let problem = api.get_with_token(&format!("/users?limit=3&cursor={tampered}"), &admin).await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "cursor", "{problem}");
    seen.sort();
    assert_eq!(seen.len(), 8, "{seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 8);

    for query in ["limit=0", "limit=101", "limit=x", "cursor=garbage!", "cursor=YWJj"] {
        let problem = api.get_with_token(&format!("/users?{query}"), &admin).await.problem(400);
        assert!(problem["errors"].is_array(), "{query}");
    }
    assert_eq!(api.get_with_token("/users/member1", &admin).await.status, 200);
    api.get_with_token("/users/nobody_here", &admin).await.problem(404);
    api.get_with_token("/users/a%20b", &admin).await.problem(400);
}

/// Signs arbitrary header and claims with the real key: the server must still check them.
async fn forge(signer: &dyn TokenSigner, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).await.unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn forged_tokens_are_refused(backend: Backend) {
    let wiring = wiring(backend).await;
    let signer = wiring.signer.clone();
    let public_key = wiring.public_key();
    let api = Api::start_with(wiring).await;
    let valid = api.user_token("target").await;
    assert_eq!(api.get_with_token("/users/me", &valid).await.status, 200);

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let kid = signer.key_id().to_owned();
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let claims = |changes: Value| {
        let mut claims = json!({
            "sub": "target", "role": "user", "iat": now, "nbf": now, "exp": now + 600,
            "iss": "stratus", "aud": "stratus-api", "jti": "x"
        });
        for (key, value) in changes.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };
    // Sanity: the forging itself works when nothing is wrong.
    let genuine = forge(signer.as_ref(), header.clone(), claims(json!({}))).await;
    assert_eq!(api.get_with_token("/users/me", &genuine).await.status, 200);

    let mut forged = vec![
        (
            "expired",
            forge(
                signer.as_ref(),
                header.clone(),
                claims(json!({"iat": now - 1200, "nbf": now - 1200, "exp": now - 600})),
            )
            .await,
        ),
        (
            "not yet valid",
            forge(signer.as_ref(), header.clone(), claims(json!({"nbf": now + 600, "exp": now + 1200})))
                .await,
        ),
        ("wrong iss", forge(signer.as_ref(), header.clone(), claims(json!({"iss": "evil"}))).await),
        ("wrong aud", forge(signer.as_ref(), header.clone(), claims(json!({"aud": "other-api"}))).await),
        (
            "no exp",
            forge(signer.as_ref(), header.clone(), {
                let mut c = claims(json!({}));
                c.as_object_mut().unwrap().remove("exp");
                c
            })
            .await,
        ),
        (
            "unknown kid",
            forge(
                signer.as_ref(),
                json!({"alg": "ES256", "typ": "JWT", "kid": "someone-else"}),
                claims(json!({})),
            )
            .await,
        ),
        ("no kid", forge(signer.as_ref(), json!({"alg": "ES256", "typ": "JWT"}), claims(json!({}))).await),
    ];
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered_claims = claims(json!({"role": "admin"}));
    forged.push((
        "tampered payload",
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(tampered_claims.to_string()), parts[2]),
    ));
    let none_header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    forged.push((
        "alg none",
        format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())),
    ));
    forged.push((
        "alg none, no dot",
        format!("{none_header}.{}", URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())),
    ));
    // HS256 keyed with the public key, the classic algorithm-confusion attack.
    let hs_header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string());
    let hs_input =
        format!("{hs_header}.{}", URL_SAFE_NO_PAD.encode(claims(json!({"role": "admin"})).to_string()));
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_key.point);
    let hs_signature = aws_lc_rs::hmac::sign(&hmac_key, hs_input.as_bytes());
    forged.push((
        "HS256 with the public key",
        format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(hs_signature.as_ref())),
    ));
    forged.push(("truncated", valid[..valid.len() - 10].to_owned()));
    forged.push(("signature dropped", format!("{}.{}.", parts[0], parts[1])));
    forged.push(("garbage", "garbage".to_owned()));
    forged.push(("empty segments", "..".to_owned()));

    for (name, token) in forged {
        let reply = api.get_with_token("/users/me", &token).await;
        reply.problem(401);
        assert!(reply.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{name}");
    }
    let other_scheme =
        api.send(api.http.get(api.url("/users/me")).header("authorization", format!("Token {valid}"))).await;
    other_scheme.problem(401);
}

async fn jwks_and_discovery_publish_what_tokens_are_signed_with(backend: Backend) {
    let api = Api::start(backend).await;
    let token = api.user_token("keyholder").await;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();

    let jwks = api.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let set = jwks.json();
    let key = &set["keys"][0];
    // The access tokens' ES256 key, then the RS256 key of ID tokens.
    assert_eq!(set["keys"].as_array().unwrap().len(), 2, "{set}");
    for (field, value) in [("kty", "EC"), ("crv", "P-256"), ("alg", "ES256"), ("use", "sig")] {
        assert_eq!(key[field], value, "{set}");
    }
    for (field, value) in [("kty", "RSA"), ("alg", "RS256"), ("use", "sig"), ("e", "AQAB")] {
        assert_eq!(set["keys"][1][field], value, "{set}");
    }
    assert_eq!(key["kid"], header["kid"]);
    // What the set says is enough to verify the token: nothing else is shared.
    let keys = stratus_auth::keys::JwkSet::parse_keys(&String::from_utf8_lossy(&jwks.body)).unwrap();
    let verifier = stratus_auth::TokenVerifier::new(&keys, &stratus_auth::AuthConfig::default());
    assert_eq!(verifier.verify(&token, TokenKind::Access).unwrap().username.as_str(), "keyholder");

    let discovery = api.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, 200);
    let discovery = discovery.json();
    assert_eq!(discovery["issuer"], claims["iss"]);
    assert_eq!(discovery["jwks_uri"], format!("{}/.well-known/jwks.json", api.base));
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["RS256", "ES256"]));
}

/// A token answers 404 from GET /result/{unknown} when it is accepted, 401 when it is not: the
/// route checks the token and its account, and reads nothing else first.
async fn accepted(api: &Api, token: &str) -> bool {
    let status = api.get_with_token(&format!("/result/{}", uuid::Uuid::new_v4()), token).await.status;
    assert!(status == 404 || status == 401, "{status}");
    status == 404
}

async fn a_retired_key_verifies_until_it_is_dropped(backend: Backend) {
    let old = wiring(backend).await;
    // One user store across the three servers, as one stack keeps its users across a rotation.
    let users = old.users.clone();
    let old_api = Api::start_with(old).await;
    let old_token = old_api.user_token("rotator").await;
    let old_key = stratus_auth::keys::JwkSet::parse_keys(&String::from_utf8_lossy(
        &old_api.get("/.well-known/jwks.json").await.body,
    ))
    .unwrap();

    let mut rotated = wiring(backend).await;
    rotated.retired_keys = old_key.clone();
    rotated.users = users.clone();
    let api = Api::start_with(rotated).await;
    let new_token = api.user_token("rotator2").await;
    let kids: Vec<Value> = api.get("/.well-known/jwks.json").await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    // The current ES256 key, the retired one, then the ID tokens' RS256 key.
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[1], json!(old_key[0].key_id), "the retired key comes after the current one");
    assert!(accepted(&api, &new_token).await);
    assert!(accepted(&api, &old_token).await, "a retired key's tokens verify during the rotation");

    let mut dropped = wiring(backend).await;
    dropped.users = users;
    let dropped = Api::start_with(dropped).await;
    assert!(!accepted(&dropped, &old_token).await, "once dropped, the old key's tokens are refused");
}

async fn delete_with_token(api: &Api, path: &str, token: &str, body: &Value) -> stratus_tests::Reply {
    api.send(api.http.delete(api.url(path)).bearer_auth(token).json(body)).await
}

async fn changing_the_password_ends_every_session(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("changer", "changer@example.com").await.status, 201);
    let laptop = api.login("changer", PASSWORD).await;
    let phone = api.login("changer", PASSWORD).await;
    let access = laptop["access_token"].as_str().unwrap();
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let new_password = "a brand new passphrase 9";

    let wrong =
        api.post_with_token("/users/me/password", access, &change("not it at all", new_password)).await;
    assert_eq!(wrong.problem(400)["errors"][0]["field"], "current_password");
    let weak = api.post_with_token("/users/me/password", access, &change(PASSWORD, "password")).await;
    assert_eq!(weak.problem(400)["errors"][0]["field"], "new_password");
    let same = api.post_with_token("/users/me/password", access, &change(PASSWORD, PASSWORD)).await;
    assert_eq!(same.problem(400)["errors"][0]["field"], "new_password");
    let anonymous = api.post_json("/users/me/password", &change(PASSWORD, new_password)).await;
    anonymous.problem(401);

    let changed = api.post_with_token("/users/me/password", access, &change(PASSWORD, new_password)).await;
    assert_eq!(changed.status, 204, "{}", String::from_utf8_lossy(&changed.body));
    for session in [&laptop, &phone] {
        let refresh = json!({"refresh_token": session["refresh_token"]});
        api.post_json("/token/refresh", &refresh).await.problem(401);
    }
    let old = api.post_json("/login", &json!({"username": "changer", "password": PASSWORD})).await;
    old.problem(401);
    let fresh = api.login("changer", new_password).await;
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": fresh["refresh_token"]})).await;
    assert_eq!(renewed.status, 200, "a session begun after the change goes on");
}

async fn wrong_current_passwords_are_limited_per_user(backend: Backend) {
    let mut wiring = wiring(backend).await;
    wiring.clock = stratus_tests::steady_clock();
    wiring.settings.auth.login_limit = RateLimit { max_hits: 5, window: time::Duration::minutes(1) };
    let api = Api::start_with(wiring).await;
    let token = api.user_token("guessed").await;
    let guess = |i: u32| json!({"current_password": format!("guess number {i}"), "new_password": "whatever it is 77"});
    for i in 0..5 {
        api.post_with_token("/users/me/password", &token, &guess(i)).await.problem(400);
    }
    let limited = api.post_with_token("/users/me/password", &token, &guess(5)).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    // The limit is the account's own: another user is not held back by it.
    let other = api.user_token("unguessed").await;
    api.post_with_token("/users/me/password", &other, &guess(6)).await.problem(400);
}

async fn deleting_the_account_frees_its_name_and_ends_its_sessions(backend: Backend) {
    let api = Api::start(backend).await;
    assert_eq!(api.register("leaver", "leaver@example.com").await.status, 201);
    let tokens = api.login("leaver", PASSWORD).await;
    let other_session = api.login("leaver", PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();

    let wrong = delete_with_token(&api, "/users/me", access, &json!({"password": "not the password"})).await;
    assert_eq!(wrong.problem(400)["errors"][0]["field"], "password");
    assert_eq!(api.get_with_token("/users/me", access).await.status, 200, "a wrong password deletes nothing");

    let deleted = delete_with_token(&api, "/users/me", access, &json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status, 204, "{}", String::from_utf8_lossy(&deleted.body));
    api.get_with_token("/users/me", access).await.problem(401);
    api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await.problem(401);
    api.post_json("/login", &json!({"username": "leaver", "password": PASSWORD})).await.problem(401);

    // The name and the email are free; the old sessions do not carry over to the new account.
    assert_eq!(api.register("leaver", "leaver@example.com").await.status, 201);
    let never_presented = json!({"refresh_token": other_session["refresh_token"]});
    api.post_json("/token/refresh", &never_presented).await.problem(401);
    assert_eq!(api.login("leaver", PASSWORD).await["token_type"], "Bearer");
}

async fn patch(api: &Api, path: &str, token: &str, body: &Value) -> stratus_tests::Reply {
    api.send(api.http.patch(api.url(path)).bearer_auth(token).json(body)).await
}

async fn admins_disable_enable_and_change_roles(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "root").await;
    let api = Api::start_with(wiring).await;
    let root = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api.register("member", "member@example.com").await.status, 201);
    let member_session = api.login("member", PASSWORD).await;
    let member = member_session["access_token"].as_str().unwrap();

    // Only admins, and only fields that exist.
    patch(&api, "/users/member", member, &json!({"disabled": true})).await.problem(403);
    let unchanged = patch(&api, "/users/member", &root, &json!({})).await;
    assert_eq!((unchanged.status, unchanged.json()["disabled"].clone()), (200, json!(false)));
    patch(&api, "/users/member", &root, &json!({"admin": true})).await.problem(400);
    patch(&api, "/users/member", &root, &json!({"role": "owner"})).await.problem(400);
    patch(&api, "/users/nobody", &root, &json!({"disabled": true})).await.problem(404);

    let disabled = patch(&api, "/users/member", &root, &json!({"disabled": true})).await;
    assert_eq!(disabled.status, 200, "{}", String::from_utf8_lossy(&disabled.body));
    assert_profile(&disabled.json(), "member");
    assert_eq!(disabled.json()["disabled"], true);
    // A disabled user can neither log in (told so only with the right password) nor refresh.
    let login = |password: &'static str| json!({"username": "member", "password": password});
    api.post_json("/login", &login(PASSWORD)).await.problem(403);
    api.post_json("/login", &login("not the password")).await.problem(401);
    let refresh = json!({"refresh_token": member_session["refresh_token"]});
    api.post_json("/token/refresh", &refresh).await.problem(401);

    let enabled = patch(&api, "/users/member", &root, &json!({"disabled": false})).await;
    assert_eq!(enabled.json()["disabled"], false);
    assert_eq!(api.login("member", PASSWORD).await["token_type"], "Bearer");

    // The last active admin can be neither demoted nor disabled, not even by themselves...
    patch(&api, "/users/root", &root, &json!({"role": "user"})).await.problem(409);
    patch(&api, "/users/root", &root, &json!({"disabled": true})).await.problem(409);
    // ...until there is another.
    let promoted = patch(&api, "/users/member", &root, &json!({"role": "admin"})).await;
    assert_eq!(promoted.json()["role"], "admin");
    let member = api.login("member", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    let demoted = patch(&api, "/users/root", &member, &json!({"role": "user"})).await;
    assert_eq!(demoted.status, 200, "{}", String::from_utf8_lossy(&demoted.body));
    // The demotion counts at once, whatever root's token still says.
    api.get_with_token("/users", &root).await.problem(403);
    patch(&api, "/users/member", &member, &json!({"disabled": true})).await.problem(409);

    // A disabled admin keeps the role but loses the admin routes, and every session with them.
    patch(&api, "/users/root", &member, &json!({"role": "admin", "disabled": true})).await;
    api.get_with_token("/users", &root).await.problem(401);
    assert_eq!(api.get_with_token("/users", &member).await.status, 200);

    // Nor can the last active admin delete their account; another admin can, once there is one.
    let confirm = json!({"password": PASSWORD});
    delete_with_token(&api, "/users/me", &member, &confirm).await.problem(409);
    assert_eq!(api.get_with_token("/users/me", &member).await.status, 200, "a refusal deletes nothing");
    patch(&api, "/users/root", &member, &json!({"disabled": false})).await;
    let root = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(delete_with_token(&api, "/users/me", &member, &confirm).await.status, 204);
    delete_with_token(&api, "/users/me", &root, &confirm).await.problem(409);
}

/// The race the count of active admins closes, over HTTP: the only two admins demote (or
/// disable) each other at the same moment. Exactly one request succeeds; the other is refused,
/// as the last admin's (409), or, when the winner's write came before its own check of who
/// asks, as no longer an admin's (403) or no longer a session (401, after a disable). Either way one active admin is left, every round.
async fn two_admins_demoting_each_other_at_once_leave_one(backend: Backend) {
    let wiring = wiring(backend).await;
    bootstrap_admin(&wiring, "first").await;
    bootstrap_admin(&wiring, "second").await;
    let users = wiring.users.clone();
    let api = Api::start_with(wiring).await;
    let token = |name: &'static str| {
        let api = &api;
        async move { api.login(name, PASSWORD).await["access_token"].as_str().unwrap().to_owned() }
    };
    let (mut first, mut second) = (token("first").await, token("second").await);
    for round in 0..8 {
        // The last rounds disable instead, which ends the loser's sessions too.
        let change = if round < 6 { json!({"role": "user"}) } else { json!({"disabled": true}) };
        let (by_second, by_first) = futures::future::join(
            patch(&api, "/users/first", &second, &change),
            patch(&api, "/users/second", &first, &change),
        )
        .await;
        let statuses = [by_second.status, by_first.status];
        let ok = statuses.iter().filter(|s| **s == 200).count();
        // A disable that came first also ends the loser's session: 401.
        let refused = statuses.iter().filter(|s| [409, 403, 401].contains(*s)).count();
        assert_eq!((ok, refused), (1, 1), "round {round}: {statuses:?}");
        for reply in [&by_second, &by_first] {
            if reply.status != 200 {
                reply.problem(reply.status);
            }
        }
        assert_eq!(users.active_admins().await.unwrap(), 1, "round {round}");
        // The winner makes the other an active admin again.
        let (winner, loser) = if by_second.status == 200 { (&second, "first") } else { (&first, "second") };
        let restore = json!({"role": "admin", "disabled": false});
        let restored = patch(&api, &format!("/users/{loser}"), winner, &restore).await;
        assert_eq!(restored.status, 200, "{}", String::from_utf8_lossy(&restored.body));
        assert_eq!(users.active_admins().await.unwrap(), 2);
        if round >= 6 {
            (first, second) = (token("first").await, token("second").await);
        }
    }
}

on_both_backends!(
    two_admins_demoting_each_other_at_once_leave_one,
    admins_disable_enable_and_change_roles,
    changing_the_password_ends_every_session,
    wrong_current_passwords_are_limited_per_user,
    deleting_the_account_frees_its_name_and_ends_its_sessions,
    jwks_and_discovery_publish_what_tokens_are_signed_with,
    a_retired_key_verifies_until_it_is_dropped,
    full_account_flow,
    duplicate_usernames_and_emails_conflict_in_any_case,
    concurrent_registrations_of_one_name_create_one,
    invalid_registrations_name_their_fields,
    only_admins_create_admins,
    unknown_user_and_wrong_password_look_alike,
    login_with_http_basic,
    sixth_login_attempt_in_a_window_is_429,
    logins_are_rate_limited_per_address_whatever_the_username,
    registrations_are_rate_limited_per_address,
    a_stranger_at_one_address_cannot_lock_owners_out,
    guessing_from_many_addresses_meets_the_per_user_ceiling,
    only_failed_logins_count,
    logout_with_someone_elses_refresh_token_leaves_it_alone,
    sessions_end_at_their_maximum_lifetime,
    a_demoted_admin_loses_admin_routes_at_once,
    spent_refresh_token_revokes_its_family,
    logout_needs_the_owner,
    admins_list_and_read_users,
    forged_tokens_are_refused,
);
