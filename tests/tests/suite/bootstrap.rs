//! The first admin: bootstrap creates, never silently promotes. Registration is open from the
//! moment of deploy, so whoever registers the admin's name first must not become the admin.

use stratus_auth::bootstrap::{AdminSeed, BootstrapError, Bootstrapped, create_admin, promote_existing};
use stratus_aws::dynamodb::tables;
use stratus_core::domain::{Email, Role, Username};
use stratus_tests::{Api, Backend, PASSWORD, on_both_backends, wiring};

fn seed(name: &str, email: &str) -> AdminSeed {
    AdminSeed::parse(name, email, "operator's own passphrase 9".to_owned()).expect("a valid seed")
}

async fn bootstrap_refuses_a_name_someone_registered(backend: Backend) {
    let wiring = wiring(backend).await;
    let users = wiring.users.clone();
    let now = wiring.clock.now();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("root", "squatter@example.com").await.status, 201);

    let refused = create_admin(users.as_ref(), seed("root", "ops@example.com"), now).await;
    assert!(matches!(refused, Err(BootstrapError::Exists(_))), "{refused:?}");
    // Not even with the squatter's own email: bootstrap never promotes.
    let refused = create_admin(users.as_ref(), seed("root", "squatter@example.com"), now).await;
    assert!(matches!(refused, Err(BootstrapError::Exists(_))), "{refused:?}");
    let root = users.get(&Username::parse("root").unwrap()).await.unwrap().unwrap();
    assert_eq!(root.role, Role::User);
    let squatter = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    api.get_with_token("/users", &squatter).await.problem(403);
}

async fn promoting_takes_the_flag_and_the_stored_email(backend: Backend) {
    let wiring = wiring(backend).await;
    let users = wiring.users.clone();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("ops", "ops@example.com").await.status, 201);
    let name = Username::parse("ops").unwrap();

    let wrong =
        promote_existing(users.as_ref(), &name, &Email::parse("other@example.com").unwrap(), PASSWORD).await;
    assert!(matches!(wrong, Err(BootstrapError::EmailMismatch(_))), "{wrong:?}");
    assert_eq!(users.get(&name).await.unwrap().unwrap().role, Role::User);

    let promoted =
        promote_existing(users.as_ref(), &name, &Email::parse("OPS@example.com").unwrap(), PASSWORD).await;
    assert!(matches!(promoted, Ok(Bootstrapped::Promoted { .. })), "{promoted:?}");
    assert!(promoted.unwrap().to_string().contains("ops@example.com"), "the operator is told what changed");
    assert_eq!(users.get(&name).await.unwrap().unwrap().role, Role::Admin);
    let nobody = promote_existing(
        users.as_ref(),
        &Username::parse("nobody").unwrap(),
        &Email::parse("n@example.com").unwrap(),
        PASSWORD,
    )
    .await;
    assert!(matches!(nobody, Err(BootstrapError::NoSuchUser(_))));
}

/// Anyone may register the admin's name with the operator's address before the operator runs
/// the bootstrap. The address alone must not promote that account: it needs a verified email
/// (its owner read mail there) or the account's own password.
async fn promoting_needs_a_verified_email_or_the_accounts_password(backend: Backend) {
    let wiring = wiring(backend).await;
    let users = wiring.users.clone();
    let api = Api::start_with(wiring).await;
    assert_eq!(api.register("root", "ops@example.com").await.status, 201);
    let name = Username::parse("root").unwrap();
    let ops = Email::parse("ops@example.com").unwrap();

    // The operator's own password, not the squatter's, and the email never verified.
    let refused = promote_existing(users.as_ref(), &name, &ops, "operator's own passphrase 9").await;
    assert!(matches!(refused, Err(BootstrapError::Unproven(_))), "{refused:?}");
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("not verified") && message.contains("nothing was changed"), "{message}");
    assert!(message.contains("password") && message.contains("verify"), "it says what to do: {message}");
    assert_eq!(users.get(&name).await.unwrap().unwrap().role, Role::User);
    let squatter = api.login("root", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
    api.get_with_token("/users", &squatter).await.problem(403);

    // The account's own password proves it is the operator's.
    let promoted = promote_existing(users.as_ref(), &name, &ops, PASSWORD).await;
    assert!(matches!(promoted, Ok(Bootstrapped::Promoted { .. })), "{promoted:?}");

    // So does a verified email, whatever password comes with it.
    assert_eq!(api.register("chief", "chief@example.com").await.status, 201);
    let chief = Username::parse("chief").unwrap();
    let stored = users.get(&chief).await.unwrap().unwrap();
    assert!(users.mark_email_verified(&stored).await.unwrap());
    let chief_email = Email::parse("chief@example.com").unwrap();
    let promoted = promote_existing(users.as_ref(), &chief, &chief_email, "not the password at all").await;
    assert!(matches!(promoted, Ok(Bootstrapped::Promoted { .. })), "{promoted:?}");
    assert_eq!(users.get(&chief).await.unwrap().unwrap().role, Role::Admin);
}

async fn bootstrap_is_idempotent_for_its_own_admin(backend: Backend) {
    let wiring = wiring(backend).await;
    let now = wiring.clock.now();
    let users = wiring.users.as_ref();
    assert_eq!(
        create_admin(users, seed("chief", "chief@example.com"), now).await.unwrap(),
        Bootstrapped::Created
    );
    assert_eq!(
        create_admin(users, seed("chief", "chief@example.com"), now).await.unwrap(),
        Bootstrapped::AlreadyAdmin
    );
    let other = create_admin(users, seed("chief", "impostor@example.com"), now).await;
    assert!(matches!(other, Err(BootstrapError::EmailMismatch(_))), "{other:?}");
}

on_both_backends!(
    bootstrap_refuses_a_name_someone_registered,
    promoting_takes_the_flag_and_the_stored_email,
    promoting_needs_a_verified_email_or_the_accounts_password,
    bootstrap_is_idempotent_for_its_own_admin,
);

/// The operator's command, as shipped (the release `stratus-admin`), against a users table on
/// DynamoDB Local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_command_refuses_then_promotes_only_a_proven_account() {
    stratus_tests::require_local_engines();
    let sdk = stratus_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("{}users", stratus_tests::unique_prefix());
    tables::ensure_table(&dynamodb, &table, &tables::USERS).await.unwrap();
    let users = stratus_aws::dynamodb::DynamoUserStore::new(dynamodb, &table);
    let now = time::OffsetDateTime::now_utc();
    // Someone registered the admin's name with the operator's address, and a password of their own.
    let squatter = AdminSeed::parse("root", "root@example.com", "a squatter's passphrase 7".to_owned())
        .expect("a valid seed");
    let user = stratus_core::domain::User {
        id: uuid::Uuid::new_v4(),
        username: squatter.username,
        email: squatter.email,
        first_name: squatter.first_name,
        last_name: squatter.last_name,
        role: Role::User,
        password_hash: stratus_auth::password::hash(&squatter.password).unwrap(),
        created_at: now,
        last_login: None,
        session_generation: uuid::Uuid::new_v4(),
        disabled: false,
        email_verified: false,
        totp: None,
    };
    stratus_core::ports::UserStore::create(&users, &user).await.unwrap();

    let run = |extra: &[&str]| {
        let binary = stratus_tests::runtime_api::binaries_dir().join("stratus-admin");
        let mut command = std::process::Command::new(&binary);
        command
            .args(["create-admin", "--username", "root", "--email", "root@example.com"])
            .args(extra)
            .env("USERS_TABLE", &table)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"operator's own passphrase 9\n").unwrap();
        let output = child.wait_with_output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (ok, text) = run(&[]);
    assert!(!ok && text.contains("already exists"), "{text}");
    assert_eq!(
        stratus_core::ports::UserStore::get(&users, &user.username).await.unwrap().unwrap().role,
        Role::User
    );
    // The operator follows the advice with their own password: the unverified account is not
    // shown to be theirs, so it stays as it is.
    let (ok, text) = run(&["--promote-existing"]);
    assert!(!ok && text.contains("not verified") && text.contains("nothing was changed"), "{text}");
    assert_eq!(
        stratus_core::ports::UserStore::get(&users, &user.username).await.unwrap().unwrap().role,
        Role::User
    );
    // Once the address's owner has verified it, the account is the operator's.
    assert!(stratus_core::ports::UserStore::mark_email_verified(&users, &user).await.unwrap());
    let (ok, text) = run(&["--promote-existing"]);
    assert!(ok && text.contains("promoted the existing account"), "{text}");
    assert_eq!(
        stratus_core::ports::UserStore::get(&users, &user.username).await.unwrap().unwrap().role,
        Role::Admin
    );
}
