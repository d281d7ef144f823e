//! Every release binary with only its own role's rights (template.yaml's policies, resolved),
//! against a moto server that enforces IAM: a missing grant fails here as AccessDenied, as it
//! would on AWS, instead of passing against engines that take any credentials. See
//! `stratus_tests::iam` for what moto checks (actions) and what the template checks cover
//! statically (resources).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use stratus_auth::bootstrap::{AdminSeed, create_admin};
use stratus_aws::dynamodb::{DynamoTaskStore, DynamoUserStore, tables};
use stratus_core::domain::{Number, Task, Username};
use stratus_core::ports::{TaskStore, UserStore};
use stratus_tests::iam::{IamStack, WithoutAction};
use stratus_tests::runtime_api::{Delivery, Gateway};
use stratus_tests::{PASSWORD, Reply, registration};

async fn gateway(changes: &[WithoutAction]) -> Gateway {
    serve(provisioned(changes).await)
}

async fn provisioned(changes: &[WithoutAction]) -> IamStack {
    IamStack::provision_with(changes).await.unwrap_or_else(|e| panic!("provisioning under IAM: {e}"))
}

fn serve(iam: IamStack) -> Gateway {
    // No SES identity in these stacks: the functions write their mails to an outbox file.
    Gateway::new(iam.stack).with_var(stratus_memory::mail::MAIL_OUTBOX, outbox().display().to_string())
}

fn outbox() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("stratus-iam-outbox-{}.jsonl", std::process::id()))
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

async fn login(api: &Gateway, username: &str) -> Value {
    let reply = api.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(reply.status, 200, "login {username}: {}\n{}", text(&reply), api.output().await);
    reply.json()
}

async fn register(api: &Gateway, username: &str) {
    let reply = api.post_json("/register", &registration(username, &format!("{username}@example.com"))).await;
    assert_eq!(reply.status, 201, "register {username}: {}\n{}", text(&reply), api.output().await);
}

fn token(tokens: &Value) -> String {
    tokens["access_token"].as_str().expect("an access token").to_owned()
}

/// Hands the queue to the worker until the task is done (bounded).
async fn until_ready(api: &Gateway, token: &str, location: &str) -> Value {
    for _ in 0..20 {
        let result = api.get_with_token(location, token).await;
        assert_eq!(result.status, 200, "{}\n{}", text(&result), api.output().await);
        if result.json()["ready"] == true {
            return result.json();
        }
        let delivery = api.deliver_queue().await;
        assert!(delivery.failed.is_empty(), "{}\n{}", delivery.response, api.output().await);
    }
    panic!("{location} never became ready\n{}", api.output().await);
}

fn assert_no_access_denied(output: &str) {
    assert!(!output.contains("not authorized to perform"), "a function was denied an action:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_runs_with_each_functions_own_rights() {
    let api = gateway(&[]).await;
    let users = DynamoUserStore::new(
        aws_sdk_dynamodb::Client::new(api.stack().sdk()),
        api.stack().table(&tables::USERS),
    );
    let seed = AdminSeed::parse("root", "root@example.com", PASSWORD.to_owned()).unwrap();
    create_admin(&users, seed, time::OffsetDateTime::now_utc()).await.expect("the operator's bootstrap");

    register(&api, "ada").await;
    let tokens = login(&api, "ada").await;
    let user = token(&tokens);
    assert_eq!(api.get_with_token("/users/me", &user).await.status, 200);

    let created = api.post_json("/messages", &json!({"message": "under IAM"})).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let location = created.header("location").unwrap().to_owned();
    assert_eq!(api.get(&location).await.json()["message"], "under IAM");

    let accepted = api.post_with_token("/add", &user, &json!({"a": 20, "b": 22})).await;
    assert_eq!(accepted.status, 202, "{}\n{}", text(&accepted), api.output().await);
    let result = until_ready(&api, &user, accepted.header("location").unwrap()).await;
    assert_eq!(result["value"], json!(42));

    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(renewed.status, 200, "{}", text(&renewed));
    let renewed = renewed.json();
    let logout = api
        .post_with_token("/logout", &token(&renewed), &json!({"refresh_token": renewed["refresh_token"]}))
        .await;
    assert_eq!(logout.status, 204, "{}", text(&logout));

    let admin = token(&login(&api, "root").await);
    let page = api.get_with_token("/users?limit=10", &admin).await;
    assert_eq!(page.status, 200, "{}", text(&page));
    assert_eq!(api.get_with_token("/users/ada", &admin).await.status, 200);
    // Each function that changes who is an active admin may also be the first to need the
    // count on a stack deployed before it: it counts the admins from the `role` index (Query).
    let raw = aws_sdk_dynamodb::Client::new(api.stack().sdk());
    let forget_the_count = || async {
        raw.delete_item()
            .table_name(api.stack().table(&tables::USERS))
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("COUNT#active-admins".into()))
            .send()
            .await
            .expect("the provisioning user deletes the count");
    };
    forget_the_count().await;
    let mut second_admin = registration("root2", "root2@example.com");
    second_admin["role"] = json!("admin");
    assert_eq!(api.post_with_token("/register", &admin, &second_admin).await.status, 201);
    let mut third_admin = registration("root3", "root3@example.com");
    third_admin["role"] = json!("admin");
    assert_eq!(api.post_with_token("/register", &admin, &third_admin).await.status, 201);
    forget_the_count().await;
    let root3 = token(&login(&api, "root3").await);
    let leave = json!({"password": PASSWORD});
    let left = api
        .send(
            http::Request::builder()
                .method("DELETE")
                .uri("/users/me")
                .header("authorization", format!("Bearer {root3}"))
                .header("content-type", "application/json")
                .body(leave.to_string().into_bytes())
                .unwrap(),
        )
        .await;
    assert_eq!(left.status, 204, "{}\n{}", text(&left), api.output().await);

    // An admin disables and demotes an admin (the count moves with it, in one transaction).
    forget_the_count().await;
    let disable = http::Request::builder()
        .method("PATCH")
        .uri("/users/root2")
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .body(br#"{"disabled": true, "role": "user"}"#.to_vec())
        .unwrap();
    let disabled = api.send(disable).await;
    assert_eq!(disabled.status, 200, "{}\n{}", text(&disabled), api.output().await);
    assert_eq!(users.active_admins().await.unwrap(), 1, "root alone");

    // Mailed codes: the address verified, then a forgotten password reset.
    let ada = token(&login(&api, "ada").await);
    let code = json!({"code": stratus_tests::outbox_code(&outbox(), "ada@example.com", "Verify")});
    let verified = api.post_with_token("/users/me/email/verify", &ada, &code).await;
    assert_eq!(verified.status, 204, "{}\n{}", text(&verified), api.output().await);
    let forgot = api.post_json("/password/forgot", &json!({"email": "ada@example.com"})).await;
    assert_eq!(forgot.status, 202, "{}\n{}", text(&forgot), api.output().await);
    let reset_password = "ada reset it 1843";
    let code = stratus_tests::outbox_code(&outbox(), "ada@example.com", "reset");
    let reset = json!({"email": "ada@example.com", "code": code, "new_password": reset_password});
    let reset = api.post_json("/password/reset", &reset).await;
    assert_eq!(reset.status, 204, "{}\n{}", text(&reset), api.output().await);
    register(&api, "lin").await;
    let lin = token(&login(&api, "lin").await);
    let resent = api.post_with_token("/users/me/email/verify/resend", &lin, &json!({})).await;
    assert_eq!(resent.status, 202, "{}\n{}", text(&resent), api.output().await);

    // The account's own lifecycle: a new password, then the account deleted.
    let ada =
        token(&api.post_json("/login", &json!({"username": "ada", "password": reset_password})).await.json());
    let new_password = "ada changed it 1843";
    let change = json!({"current_password": reset_password, "new_password": new_password});
    let changed = api.post_with_token("/users/me/password", &ada, &change).await;
    assert_eq!(changed.status, 204, "{}\n{}", text(&changed), api.output().await);
    // The change ended the session: the deletion comes from a new one.
    let ada =
        token(&api.post_json("/login", &json!({"username": "ada", "password": new_password})).await.json());
    let deletion = http::Request::builder()
        .method("DELETE")
        .uri("/users/me")
        .header("authorization", format!("Bearer {ada}"))
        .header("content-type", "application/json")
        .body(json!({"password": new_password}).to_string().into_bytes())
        .unwrap();
    let deleted = api.send(deletion).await;
    assert_eq!(deleted.status, 204, "{}\n{}", text(&deleted), api.output().await);
    assert_eq!(api.get("/.well-known/jwks.json").await.status, 200);

    // The sweeper, on its schedule: a task that was written and never queued.
    let tasks = DynamoTaskStore::new(
        aws_sdk_dynamodb::Client::new(api.stack().sdk()),
        api.stack().table(&tables::TASKS),
    );
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let forgotten = Task::new(
        Username::parse("ada").unwrap(),
        Number::parse("1").unwrap(),
        Number::parse("2").unwrap(),
        long_ago,
    );
    tasks.create(&forgotten, None, long_ago).await.unwrap();
    let swept = api
        .invoke("sweeper", &json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
        .await
        .unwrap();
    assert_eq!(swept["requeued"], 1, "{swept}\n{}", api.output().await);
    // Its owner's account is deleted by now: an admin reads it.
    let result = until_ready(&api, &admin, &format!("/result/{}", forgotten.id)).await;
    assert_eq!(result["value"], json!(3));

    for path in ["/health", "/docs", "/openapi.json"] {
        assert_eq!(api.get(path).await.status, 200, "{path}");
    }
    api.get("/nowhere").await.problem(404);
    assert_no_access_denied(&api.output().await);
}

/// The paths that only run when something fails still make AWS calls: each needs its grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_paths_have_their_grants() {
    let api = gateway(&[]).await;
    register(&api, "grace").await;
    let user = token(&login(&api, "grace").await);

    // A task its store cannot read (an item with nothing but its key and status) fails on
    // every receive; on the last one the worker marks it failed (an UpdateItem) and lets it go.
    let poisoned = uuid::Uuid::new_v4();
    aws_sdk_dynamodb::Client::new(api.stack().sdk())
        .put_item()
        .table_name(api.stack().table(&tables::TASKS))
        .item("pk", AttributeValue::S(format!("TASK#{poisoned}")))
        .item("status", AttributeValue::S("pending".into()))
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(api.stack().sdk());
    let poison = json!({"task_id": poisoned}).to_string();
    sqs.send_message().queue_url(api.stack().queue_url()).message_body(poison).send().await.unwrap();
    let mut deliveries: Vec<Delivery> = Vec::new();
    for _ in 0..stratus_core::ports::MAX_RECEIVES {
        let delivery = api.deliver_queue().await;
        assert_eq!((delivery.received, delivery.failed.len()), (1, 1), "{}", delivery.response);
        api.retry_now(&delivery).await;
        deliveries.push(delivery);
    }
    let marked = aws_sdk_dynamodb::Client::new(api.stack().sdk())
        .get_item()
        .table_name(api.stack().table(&tables::TASKS))
        .key("pk", AttributeValue::S(format!("TASK#{poisoned}")))
        .send()
        .await
        .unwrap();
    let status = marked.item().and_then(|item| item.get("status")).and_then(|s| s.as_s().ok());
    assert_eq!(status.map(String::as_str), Some("failed"), "the worker gave the poisoned task up");

    assert_no_access_denied(&api.output().await);

    // The queue gone: the task cannot be queued, so it is taken back (DeleteItem), and 500, not
    // 503: the stack is broken, which no retry mends. (moto answers a SendMessage to a queue that
    // no longer exists with AccessDenied, where AWS says the queue does not exist: either way, a
    // refusal for good.)
    sqs.delete_queue().queue_url(api.stack().queue_url()).send().await.unwrap();
    let refused = api.post_with_token("/add", &user, &json!({"a": 1, "b": 1})).await;
    refused.problem(500);
    let output = api.output().await;
    assert!(!output.contains("could not take back"), "the discard failed:\n{output}");
    assert!(!output.contains("not authorized to perform: dynamodb"), "{output}");
}

/// A task that can be neither queued nor taken back is marked failed, with the add function's
/// own UpdateItem grant (which it once lacked). Taking DeleteItem away makes the discard fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_neither_queued_nor_taken_back_is_marked_failed() {
    let api = gateway(&[WithoutAction { binary: "add", action: "dynamodb:DeleteItem" }]).await;
    register(&api, "hopper").await;
    let user = token(&login(&api, "hopper").await);
    let sqs = aws_sdk_sqs::Client::new(api.stack().sdk());
    sqs.delete_queue().queue_url(api.stack().queue_url()).send().await.unwrap();
    let submit = || {
        api.send(
            http::Request::builder()
                .method("POST")
                .uri("/add")
                .header("authorization", format!("Bearer {user}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "the-one")
                .body(br#"{"a": 1, "b": 2}"#.to_vec())
                .unwrap(),
        )
    };
    submit().await.problem(500);
    // The same key again answers the task as it stands: failed, not pending for ever.
    let again = submit().await;
    assert_eq!(again.status, 202, "{}", text(&again));
    assert_eq!(again.json()["status"], "failed", "{}", api.output().await);
    let output = api.output_containing("not authorized to perform: dynamodb:DeleteItem").await;
    assert!(
        output.contains("not authorized to perform: dynamodb:DeleteItem"),
        "the control is in place: {output}"
    );
    assert!(!output.contains("not authorized to perform: dynamodb:UpdateItem"), "{output}");
}

/// The negative control: with one action taken from one function's policy, the suite fails,
/// with AccessDenied naming that action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_one_grant_the_story_fails_with_access_denied_naming_it() {
    let api = gateway(&[WithoutAction { binary: "create-message", action: "dynamodb:PutItem" }]).await;
    let refused = api.post_json("/messages", &json!({"message": "denied"})).await;
    refused.problem(500);
    let output = api.output_containing("not authorized to perform: dynamodb:PutItem").await;
    assert!(output.contains("not authorized to perform: dynamodb:PutItem"), "{output}");
    // Everything else still works: the control took exactly one action away.
    assert_eq!(api.get("/health").await.status, 200);
}

/// What the request's error says: it must be IAM's refusal of `action`.
fn refused<T, E: std::error::Error + 'static>(result: Result<T, E>, action: &str) {
    let Err(error) = result else { panic!("{action} was allowed") };
    let text = aws_sdk_kms::error::DisplayErrorContext(&error).to_string();
    assert!(text.contains(&format!("not authorized to perform: {action}")), "{action}: {text}");
}

/// TOTP under its roles: the stack's first set-up makes the data key (GenerateDataKey, and the
/// put of the one item totp-mfa may put), a login's second step unwraps it (Decrypt) to check a
/// code and signs tokens, a recovery code stands in for a code, and turning TOTP off checks the
/// password. Then, acting as the roles themselves: login-mfa cannot make a data key, no role
/// unwraps outside the TOTP encryption context, a verifier cannot unwrap at all, and totp-mfa
/// can put no item in the users table but the data key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_runs_with_its_own_rights_and_the_key_with_nobody_elses() {
    use stratus_auth::totp::TotpSecret;
    use stratus_aws::kms::TOTP_KEY_CONTEXT;
    use time::{Duration, OffsetDateTime};

    let iam = provisioned(&[]).await;
    let as_login_mfa = aws_sdk_kms::Client::new(&iam.sdk_as("login-mfa").await.unwrap());
    let as_totp_mfa = iam.sdk_as("totp-mfa").await.unwrap();
    let as_me = aws_sdk_kms::Client::new(&iam.sdk_as("me").await.unwrap());
    let api = serve(iam);
    let key = api.stack().launch_spec("totp-mfa").unwrap().env[stratus_wiring::aws::TOTP_KEY_ARN].clone();
    let users_table = api.stack().table(&tables::USERS);

    register(&api, "tess").await;
    let access = token(&login(&api, "tess").await);
    let setup = api.post_with_token("/users/me/mfa/totp", &access, &json!({"password": PASSWORD})).await;
    assert_eq!(setup.status, 200, "{}\n{}", text(&setup), api.output().await);
    let secret = TotpSecret::from_base32(setup.json()["secret"].as_str().unwrap()).unwrap();
    let item = aws_sdk_dynamodb::Client::new(api.stack().sdk())
        .get_item()
        .table_name(&users_table)
        .key("pk", AttributeValue::S("KEY#totp-data-key".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the first set-up stored the wrapped data key");
    let wrapped = item["wrapped"].as_b().expect("the data key, wrapped").clone();

    let code = json!({"code": secret.code(OffsetDateTime::now_utc())});
    let confirmed = api.post_with_token("/users/me/mfa/totp/confirm", &access, &code).await;
    assert_eq!(confirmed.status, 200, "{}\n{}", text(&confirmed), api.output().await);
    let recovery: Vec<String> = serde_json::from_value(confirmed.json()["recovery_codes"].clone()).unwrap();

    // The password alone no longer logs in.
    let challenge = login(&api, "tess").await;
    assert_eq!(challenge["mfa_required"], true, "{challenge}");
    assert!(challenge["access_token"].is_null(), "{challenge}");
    // Confirming spent this step's code: the next step's is live, and later.
    let next = secret.code(OffsetDateTime::now_utc() + Duration::seconds(30));
    let step = json!({"mfa_token": challenge["mfa_token"], "code": next});
    let tokens = api.post_json("/login/mfa", &step).await;
    assert_eq!(tokens.status, 200, "{}\n{}", text(&tokens), api.output().await);
    assert_eq!(api.get_with_token("/users/me", &token(&tokens.json())).await.status, 200);
    // A code is good once, and so is the mfa_token.
    api.post_json("/login/mfa", &step).await.problem(401);
    let challenge = login(&api, "tess").await;
    let step = json!({"mfa_token": challenge["mfa_token"], "code": recovery[0]});
    let tokens = api.post_json("/login/mfa", &step).await;
    assert_eq!(tokens.status, 200, "{}\n{}", text(&tokens), api.output().await);

    let removal = http::Request::builder()
        .method("DELETE")
        .uri("/users/me/mfa/totp")
        .header("authorization", format!("Bearer {}", token(&tokens.json())))
        .header("content-type", "application/json")
        .body(json!({"password": PASSWORD, "code": recovery[1]}).to_string().into_bytes())
        .unwrap();
    let removed = api.send(removal).await;
    assert_eq!(removed.status, 200, "{}\n{}", text(&removed), api.output().await);
    assert!(login(&api, "tess").await["access_token"].is_string(), "TOTP is off again");
    assert_no_access_denied(&api.output().await);

    // As the roles themselves, beyond what their code happens to call.
    let (context_key, context_value) = TOTP_KEY_CONTEXT;
    let generate = |kms: &aws_sdk_kms::Client, context: &str| {
        kms.generate_data_key()
            .key_id(&key)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(context_key, context)
            .send()
    };
    let decrypt = |kms: &aws_sdk_kms::Client, context: &str| {
        kms.decrypt()
            .key_id(&key)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped.clone().into_inner()))
            .encryption_context(context_key, context)
            .send()
    };
    refused(generate(&as_login_mfa, context_value).await, "kms:GenerateDataKey");
    decrypt(&as_login_mfa, context_value).await.expect("login-mfa unwraps the data key");
    let as_totp_kms = aws_sdk_kms::Client::new(&as_totp_mfa);
    // What a cold sandbox of totp-mfa does once the data key exists.
    decrypt(&as_totp_kms, context_value).await.expect("totp-mfa unwraps the data key");
    refused(decrypt(&as_totp_kms, "something-else").await, "kms:Decrypt");
    refused(generate(&as_totp_kms, "something-else").await, "kms:GenerateDataKey");
    refused(decrypt(&as_me, context_value).await, "kms:Decrypt");
    // Overwriting an account (here with one that has no password) is exactly what it must not do.
    let put = aws_sdk_dynamodb::Client::new(&as_totp_mfa)
        .put_item()
        .table_name(&users_table)
        .item("pk", AttributeValue::S("USER#tess".into()))
        .send()
        .await;
    refused(put, "dynamodb:PutItem");
}

/// A registered user and an admin's access token, for the OAuth stories: the admin registers
/// the client (oauth-clients), the user signs in on the hosted page (authorize).
async fn oauth_cast(api: &Gateway) -> String {
    let users = DynamoUserStore::new(
        aws_sdk_dynamodb::Client::new(api.stack().sdk()),
        api.stack().table(&tables::USERS),
    );
    let seed = AdminSeed::parse("root", "root@example.com", PASSWORD.to_owned()).unwrap();
    create_admin(&users, seed, time::OffsetDateTime::now_utc()).await.expect("the operator's bootstrap");
    register(api, "olga").await;
    token(&login(api, "root").await)
}

/// The OpenID Provider's whole story, each function with its own role's rights: an admin
/// registers a confidential client (and reads, updates and deletes another, RFC 7592); a user
/// signs in on the hosted page and consents; the code is exchanged with PKCE for an access, a
/// refresh and an RS256 ID token (signed by IdTokenKey, which only the token endpoint's role may
/// use); userinfo; the refresh token rotates; introspection; revocation; a code presented twice
/// revokes its grant; end-session ends the browser's session; client_credentials; and a user
/// with TOTP signs in with a code on the hosted page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_story_runs_with_each_functions_own_rights() {
    let api = gateway(&[]).await;
    oauth_story(&api).await;
    assert_no_access_denied(&api.output().await);
}

async fn oauth_story(api: &Gateway) {
    use stratus_tests::oauth::{
        self, Browser, POST_LOGOUT_URI, PUBLIC_BASE_URL, Pkce, authorization_query, client_form,
        exchange_code,
    };
    let admin = oauth_cast(api).await;
    let output = || async { api.output().await };

    let client = oauth::register_client(api, &admin, &oauth::confidential_metadata("iam rp"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(client.secret.is_some(), "{}", client.registered);
    // RFC 7592 on a client of its own: read, update, delete with its registration token.
    let other = oauth::register_client(api, &admin, &oauth::confidential_metadata("short-lived"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/oauth/clients/{}", other.id);
    let registration = other.registered["registration_access_token"].as_str().unwrap().to_owned();
    let read = api.get_with_token(&path, &registration).await;
    assert_eq!(read.status, 200, "{}\n{}", text(&read), output().await);
    let mut update = oauth::confidential_metadata("renamed");
    update["client_id"] = json!(other.id);
    let put = oauth::json_request("PUT", &path, Some(&registration), &update);
    let updated = api.send(put).await;
    assert_eq!(updated.status, 200, "{}\n{}", text(&updated), output().await);
    assert_eq!(updated.json()["client_name"], "renamed");
    let delete = http::Request::builder()
        .method("DELETE")
        .uri(&path)
        .header("authorization", format!("Bearer {registration}"))
        .body(Vec::new())
        .unwrap();
    let deleted = api.send(delete).await;
    assert_eq!(deleted.status, 204, "{}\n{}", text(&deleted), output().await);

    let discovery = api.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.status, 200, "{}", text(&discovery));
    assert_eq!(discovery.json()["issuer"], PUBLIC_BASE_URL);

    // The hosted page: sign in, consent, back to the client with a code.
    let mut browser = Browser::new(PUBLIC_BASE_URL);
    let pkce = Pkce::new();
    let scope = "openid profile email offline_access api";
    let query = authorization_query(&client.id, scope, &pkce, "state-1", "nonce-1");
    let authorized = match browser.authorize(api, &query, "olga", PASSWORD).await {
        Ok(authorized) => authorized,
        Err(error) => panic!("{error}\n{}", output().await),
    };
    assert_eq!(authorized.pages, ["login", "consent"], "{authorized:?}");
    assert_eq!(authorized.params.get("state").map(String::as_str), Some("state-1"), "{authorized:?}");
    assert_eq!(authorized.params.get("iss").map(String::as_str), Some(PUBLIC_BASE_URL), "{authorized:?}");

    let exchanged = exchange_code(api, &client, authorized.code(), &pkce.verifier).await;
    assert_eq!(exchanged.status, 200, "{}\n{}", text(&exchanged), output().await);
    let tokens = exchanged.json();
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_owned();
    let id_token = tokens["id_token"].as_str().expect("an ID token").to_owned();
    let jwks = api.get("/.well-known/jwks.json").await.json();
    let claims = oauth::verify_rs256(&id_token, &jwks).unwrap_or_else(|e| panic!("the ID token: {e}"));
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some(PUBLIC_BASE_URL), Some(client.id.as_str()))
    );
    assert_eq!(claims["nonce"], "nonce-1");

    let userinfo = api.get_with_token("/oauth/userinfo", &access).await;
    assert_eq!(userinfo.status, 200, "{}\n{}", text(&userinfo), output().await);
    assert_eq!(userinfo.json()["sub"], claims["sub"]);
    assert_eq!(userinfo.json()["email"], "olga@example.com");
    // The API's guard reads the token's grant with the `me` function's own rights.
    let me = api.get_with_token("/users/me", &access).await;
    assert_eq!(me.status, 200, "{}\n{}", text(&me), output().await);

    let refreshed = api
        .send(client_form(
            "/oauth/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        ))
        .await;
    assert_eq!(refreshed.status, 200, "{}\n{}", text(&refreshed), output().await);
    let refreshed = refreshed.json();
    let rotated = refreshed["refresh_token"].as_str().expect("a rotated refresh token").to_owned();
    assert_ne!(rotated, refresh);

    let introspect = |token: String| {
        let client = client.clone();
        async move { api.send(client_form("/oauth/introspect", &client, &[("token", &token)])).await }
    };
    let active = introspect(refreshed["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(active.status, 200, "{}\n{}", text(&active), output().await);
    assert_eq!(active.json()["active"], true, "{}", text(&active));
    assert_eq!(active.json()["client_id"], client.id.as_str());

    let revoke = [("token", rotated.as_str()), ("token_type_hint", "refresh_token")];
    let revoked = api.send(client_form("/oauth/revoke", &client, &revoke)).await;
    assert_eq!(revoked.status, 200, "{}\n{}", text(&revoked), output().await);
    assert_eq!(introspect(rotated.clone()).await.json()["active"], false);

    // The browser's session spares the login page; its code, presented twice, ends its grant.
    let pkce = Pkce::new();
    let query = authorization_query(&client.id, scope, &pkce, "state-2", "nonce-2");
    let again = browser.authorize(api, &query, "olga", PASSWORD).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.pages.contains(&"login"), "{again:?}");
    let second = exchange_code(api, &client, again.code(), &pkce.verifier).await;
    assert_eq!(second.status, 200, "{}\n{}", text(&second), output().await);
    let replayed = exchange_code(api, &client, again.code(), &pkce.verifier).await;
    assert_eq!(replayed.status, 400, "{}\n{}", text(&replayed), output().await);
    assert_eq!(replayed.json()["error"], "invalid_grant");
    let second_refresh = second.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(second_refresh).await.json()["active"], false, "the replay ended the grant");
    let second_access = second.json()["access_token"].as_str().unwrap().to_owned();
    let me = api.get_with_token("/users/me", &second_access).await;
    assert_eq!(me.status, 401, "the replay ended the grant's access token too: {}", text(&me));

    // RP-initiated logout with the ID token as hint: the session ends, so prompt=none cannot pass.
    let logout = oauth::form_encode(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ("state", "bye"),
    ]);
    let ended = browser.get(api, &format!("/oauth/logout?{logout}")).await;
    assert_eq!(ended.status, 303, "{}\n{}", text(&ended), output().await);
    assert_eq!(ended.header("location"), Some(format!("{POST_LOGOUT_URI}?state=bye").as_str()));
    let pkce = Pkce::new();
    let silent = format!("{}&prompt=none", authorization_query(&client.id, "openid", &pkce, "s", "n"));
    let refused = browser.get(api, &format!("/authorize?{silent}")).await;
    assert_eq!(refused.status, 303, "{}", text(&refused));
    assert!(refused.header("location").is_some_and(|l| l.contains("error=login_required")), "{refused:?}");

    let credentials = [("grant_type", "client_credentials"), ("scope", "api")];
    let machine = api.send(client_form("/oauth/token", &client, &credentials)).await;
    assert_eq!(machine.status, 200, "{}\n{}", text(&machine), output().await);
    let machine = machine.json();
    assert!(machine["refresh_token"].is_null() && machine["id_token"].is_null(), "{machine}");
    let introspected = introspect(machine["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(introspected.json()["active"], true, "{}", text(&introspected));

    // A user with TOTP on: the hosted page's second step unwraps the data key (TotpKey's Decrypt)
    // and ends the password step's session for a new one.
    use stratus_auth::totp::TotpSecret;
    register(api, "tess").await;
    let tess = token(&login(api, "tess").await);
    let setup = api.post_with_token("/users/me/mfa/totp", &tess, &json!({"password": PASSWORD})).await;
    assert_eq!(setup.status, 200, "{}\n{}", text(&setup), output().await);
    let secret = TotpSecret::from_base32(setup.json()["secret"].as_str().unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let confirmed =
        api.post_with_token("/users/me/mfa/totp/confirm", &tess, &json!({"code": secret.code(now)})).await;
    assert_eq!(confirmed.status, 200, "{}\n{}", text(&confirmed), output().await);
    let mut browser = Browser::new(PUBLIC_BASE_URL);
    // Confirming spent this step's code: the next step's is live.
    browser.second_factor = Some(secret.code(now + time::Duration::seconds(30)));
    let pkce = Pkce::new();
    let query = authorization_query(&client.id, "openid", &pkce, "state-3", "nonce-3");
    let authorized = match browser.authorize(api, &query, "tess", PASSWORD).await {
        Ok(authorized) => authorized,
        Err(error) => panic!("{error}\n{}", output().await),
    };
    assert_eq!(authorized.pages, ["login", "totp", "consent"], "{authorized:?}");
    let exchanged = exchange_code(api, &client, authorized.code(), &pkce.verifier).await;
    assert_eq!(exchanged.status, 200, "{}\n{}", text(&exchanged), output().await);
    let id_token = exchanged.json()["id_token"].as_str().expect("an ID token").to_owned();
    let claims = oauth::verify_rs256(&id_token, &jwks).unwrap_or_else(|e| panic!("the ID token: {e}"));
    assert_eq!(claims["amr"], json!(["pwd", "otp"]), "{claims}");
}

/// The negative control for the OAuth functions: the token endpoint without `UpdateItem`
/// cannot redeem a code (the redemption is an update of the code's item in the authorizations
/// table), and the output names the action on that table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_update_grant_the_token_endpoint_cannot_redeem_a_code() {
    use stratus_tests::oauth::{self, Browser, PUBLIC_BASE_URL, Pkce, authorization_query, exchange_code};
    let api = gateway(&[WithoutAction { binary: "oauth-token", action: "dynamodb:UpdateItem" }]).await;
    let admin = oauth_cast(&api).await;
    let client = oauth::register_client(&api, &admin, &oauth::confidential_metadata("denied rp"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut browser = Browser::new(PUBLIC_BASE_URL);
    let pkce = Pkce::new();
    let query = authorization_query(&client.id, "openid", &pkce, "s", "n");
    let authorized =
        browser.authorize(&api, &query, "olga", PASSWORD).await.unwrap_or_else(|e| panic!("{e}"));
    let refused = exchange_code(&api, &client, authorized.code(), &pkce.verifier).await;
    assert!(refused.status >= 500, "{} {}", refused.status, text(&refused));
    assert!(refused.json()["error"].is_string(), "an OAuth error: {}", text(&refused));
    let table = api.stack().table(&tables::AUTHORIZATIONS);
    let denied = format!(
        "not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/{table}"
    );
    let output = api.output_containing(&denied).await;
    assert!(output.contains(&denied), "{output}");
    // Everything before the exchange worked: the control took exactly one action away.
    let others = output.lines().filter(|line| line.contains("not authorized to perform"));
    assert!(others.clone().all(|line| line.contains("dynamodb:UpdateItem")), "{output}");
}

/// `sealed` signing keys under the roles (docs/signing.md): at deploy, the signing-keys role
/// makes the blue key and seals it with TokenSealingKey's `Encrypt`; login, refresh and the
/// whole OAuth story sign with it after one `Decrypt` per sandbox, and every verifier accepts
/// what they sign by the published JWK, whose `kid` is the key's RFC 7638 thumbprint. Then, as the
/// roles themselves: login unseals the key under the signing context and only as the key it
/// names (a blob passed off as another kid does not open), not under another purpose; a verifier
/// cannot unseal at all; and no signer can seal a key of its own choosing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_signing_keys_run_with_each_functions_own_rights() {
    use base64::Engine;
    use stratus_auth::keys::{Jwk, PublicKey, SEALED_KEY_ID_CONTEXT, SEALED_KEY_PURPOSE, SealedKey};
    use stratus_aws::kms::SealedSigner;
    use stratus_core::ports::{SignError, TokenSigner};
    use stratus_wiring::aws::{SIGNING_KEY_ARN, SIGNING_KEY_SEALED, TOKEN_SEALING_KEY_ARN};

    let iam = IamStack::provision_with_parameters(&[], &[("BlueSigningKeyType", "sealed")])
        .await
        .unwrap_or_else(|e| panic!("provisioning under IAM: {e}"));
    let as_login = aws_sdk_kms::Client::new(&iam.sdk_as("login").await.unwrap());
    let as_me = aws_sdk_kms::Client::new(&iam.sdk_as("me").await.unwrap());
    let api = serve(iam);
    let env = api.stack().launch_spec("login").unwrap().env;
    assert!(!env.contains_key(SIGNING_KEY_ARN), "a sealed slot has no KMS signing key: {env:?}");
    assert!(api.stack().signing_key_arn().is_empty());
    let sealed = SealedKey::parse(&env[SIGNING_KEY_SEALED]).expect("login is given the sealed key");
    let sealing_key = env[TOKEN_SEALING_KEY_ARN].clone();

    register(&api, "sam").await;
    let tokens = login(&api, "sam").await;
    let access = token(&tokens);
    let header = access.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap())
            .unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("ES256"), Some(sealed.key_id.as_str()))
    );
    let jwks = api.get("/.well-known/jwks.json").await.json();
    let published: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    assert_eq!(published.kid, sealed.key_id, "the sealed key is published first: {jwks}");
    assert_eq!(PublicKey::from_jwk(&published).unwrap().thumbprint(), sealed.key_id);
    let me = api.get_with_token("/users/me", &access).await;
    assert_eq!(me.status, 200, "{}\n{}", text(&me), api.output().await);
    let renewed = api.post_json("/token/refresh", &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(renewed.status, 200, "{}\n{}", text(&renewed), api.output().await);
    assert_eq!(api.get_with_token("/users/me", &token(&renewed.json())).await.status, 200);
    // The token endpoint signs access tokens with the sealed key, ID tokens with IdTokenKey.
    oauth_story(&api).await;
    let output = api.output().await;
    assert_no_access_denied(&output);
    assert!(output.contains("unsealed the signing key"), "{output}");

    // As the roles themselves.
    let decrypt = |kms: &aws_sdk_kms::Client, purpose: &str| {
        kms.decrypt()
            .key_id(&sealing_key)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(sealed.ciphertext.clone()))
            .encryption_context(SEALED_KEY_PURPOSE.0, purpose)
            .encryption_context(SEALED_KEY_ID_CONTEXT, &sealed.key_id)
            .send()
    };
    let signer = SealedSigner::new(as_login.clone(), &sealing_key, sealed.clone());
    let unsealed = signer.unseal().await.expect("login unseals its key");
    assert_eq!(unsealed.public_key().point, PublicKey::from_jwk(&published).unwrap().point);
    let passed_off = SealedKey { key_id: "another-kid".into(), ciphertext: sealed.ciphertext.clone() };
    let wrong_context = SealedSigner::new(as_login.clone(), &sealing_key, passed_off);
    match wrong_context.sign(b"header.claims").await {
        Err(SignError::Failed(reason)) => assert!(reason.contains("InvalidCiphertext"), "{reason}"),
        other => panic!("a blob under another kid must not open: {:?}", other.map(|_| ())),
    }
    refused(decrypt(&as_login, "totp-secrets").await, "kms:Decrypt");
    refused(decrypt(&as_me, SEALED_KEY_PURPOSE.1).await, "kms:Decrypt");
    let seal = as_login
        .encrypt()
        .key_id(&sealing_key)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"a key of my own".to_vec()))
        .encryption_context(SEALED_KEY_PURPOSE.0, SEALED_KEY_PURPOSE.1)
        .send()
        .await;
    refused(seal, "kms:Encrypt");
}

/// The negative control for sealed keys: login's role without the sealing key's `Decrypt`
/// cannot sign, and the output names the action; everything before the signature worked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_unseal_grant_login_cannot_sign_with_a_sealed_key() {
    let iam = IamStack::provision_with_parameters(
        &[WithoutAction { binary: "login", action: "kms:Decrypt" }],
        &[("BlueSigningKeyType", "sealed")],
    )
    .await
    .unwrap_or_else(|e| panic!("provisioning under IAM: {e}"));
    let api = serve(iam);
    register(&api, "nina").await;
    let refused = api.post_json("/login", &json!({"username": "nina", "password": PASSWORD})).await;
    assert_eq!(refused.status, 500, "{}", text(&refused));
    let output = api.output_containing("not authorized to perform: kms:Decrypt").await;
    assert!(output.contains("not authorized to perform: kms:Decrypt"), "the control is in place: {output}");
    let others = output.lines().filter(|line| line.contains("not authorized to perform"));
    assert!(others.clone().all(|line| line.contains("kms:Decrypt")), "{output}");
}
