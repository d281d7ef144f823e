//! One contract for the users, refresh-token and rate-limit stores, run against the in-memory
//! adapters and against DynamoDB Local.

use std::collections::HashSet;

use shared::auth::codes::{CodePurpose, OneTimeCode};
use shared::domain::{Email, PasswordHash, PersonName, Role, User, Username};
use shared::ports::{CodeRecord, CreateUserError, RateDecision, RateLimit, Redeemed, RefreshRecord, Spend};
use stratus_tests::{Backend, on_both_backends, wiring};
use time::{Duration, OffsetDateTime};

fn user(name: &str, email: &str) -> User {
    User {
        id: uuid::Uuid::new_v4(),
        username: Username::parse(name).unwrap(),
        email: Email::parse(email).unwrap(),
        first_name: PersonName::parse("Ada").unwrap(),
        last_name: PersonName::parse("Lovelace").unwrap(),
        role: Role::User,
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        last_login: None,
        session_generation: uuid::Uuid::new_v4(),
        disabled: false,
        email_verified: false,
        totp: None,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn creates_and_reads_users(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert_eq!(users.get(&ada.username).await.unwrap(), Some(ada.clone()));
    assert_eq!(users.get(&Username::parse("nobody").unwrap()).await.unwrap(), None);
}

async fn usernames_and_emails_are_unique(backend: Backend) {
    let users = wiring(backend).await.users;
    users.create(&user("ada", "ada@example.com")).await.unwrap();
    assert!(matches!(
        users.create(&user("ADA", "other@example.com")).await,
        Err(CreateUserError::UsernameTaken)
    ));
    assert!(matches!(
        users.create(&user("grace", "Ada@Example.COM")).await,
        Err(CreateUserError::EmailTaken)
    ));
    // The refused attempts left nothing behind: the email and name are still free for others.
    users.create(&user("grace", "grace@example.com")).await.unwrap();
    users.create(&user("other", "other@example.com")).await.unwrap();
}

async fn concurrent_creations_of_one_name_succeed_once(backend: Backend) {
    let users = wiring(backend).await.users;
    let attempts: Vec<User> = (0..12).map(|i| user("contended", &format!("c{i}@example.com"))).collect();
    let results = futures::future::join_all(attempts.iter().map(|u| users.create(u))).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let taken = results.iter().filter(|r| matches!(r, Err(CreateUserError::UsernameTaken))).count();
    assert_eq!((ok, taken), (1, 11), "{results:?}");
}

async fn login_stamp_role_and_rehash(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let rehashed = PasswordHash::from_phc("$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$bmV3".into());
    users.record_login(&ada.username, now(), Some(&rehashed)).await.unwrap();
    assert!(users.set_role(&ada.username, Role::Admin).await.unwrap());
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert_eq!(stored.last_login, Some(now()));
    assert_eq!(stored.password_hash, rehashed);
    assert_eq!(stored.role, Role::Admin);
    assert!(!users.set_role(&Username::parse("nobody").unwrap(), Role::Admin).await.unwrap());
}

async fn listing_pages_through_every_user_once(backend: Backend) {
    let users = wiring(backend).await.users;
    let mut expected = HashSet::new();
    for i in 0..23 {
        let u = user(&format!("user{i:02}"), &format!("u{i}@example.com"));
        expected.insert(u.username.clone());
        users.create(&u).await.unwrap();
    }
    let mut seen = HashSet::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = users.list(5, after.as_ref()).await.unwrap();
        assert!(page.items.len() <= 5);
        pages += 1;
        for item in &page.items {
            assert!(seen.insert(item.username.clone()), "{} listed twice", item.username);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 5);
    let all = users.list(100, None).await.unwrap();
    assert_eq!(all.items.len(), 23);
    assert_eq!(all.next, None);
}

fn record(family: uuid::Uuid) -> RefreshRecord {
    RefreshRecord {
        token_hash: rand_hash(),
        username: Username::parse("ada").unwrap(),
        family,
        family_started_at: now() - Duration::days(3),
        generation: uuid::Uuid::new_v4(),
        expires_at: now() + Duration::days(30),
    }
}

fn rand_hash() -> [u8; 32] {
    *uuid::Uuid::new_v4().as_bytes().repeat(2).first_chunk::<32>().unwrap()
}

async fn refresh_tokens_spend_once(backend: Backend) {
    let tokens = wiring(backend).await.refresh_tokens;
    let live = record(uuid::Uuid::new_v4());
    tokens.insert(&live).await.unwrap();
    assert_eq!(tokens.spend(&live.token_hash, None, now()).await.unwrap(), Spend::Spent(live.clone()));
    assert_eq!(tokens.spend(&live.token_hash, None, now()).await.unwrap(), Spend::Replayed(live.clone()));
    assert_eq!(tokens.spend(&rand_hash(), None, now()).await.unwrap(), Spend::Unknown);
}

/// An owner-scoped spend of someone else's token touches nothing: the token stays live for its
/// owner, so presenting it cannot make its owner's next use look like a replay.
async fn only_the_owner_spends_an_owned_token(backend: Backend) {
    let tokens = wiring(backend).await.refresh_tokens;
    let live = record(uuid::Uuid::new_v4());
    tokens.insert(&live).await.unwrap();
    let intruder = Username::parse("mallory").unwrap();
    assert_eq!(tokens.spend(&live.token_hash, Some(&intruder), now()).await.unwrap(), Spend::Unknown);
    assert_eq!(tokens.spend(&live.token_hash, Some(&intruder), now()).await.unwrap(), Spend::Unknown);
    let owner = live.username.clone();
    assert_eq!(
        tokens.spend(&live.token_hash, Some(&owner), now()).await.unwrap(),
        Spend::Spent(live.clone())
    );
    assert_eq!(tokens.spend(&live.token_hash, Some(&intruder), now()).await.unwrap(), Spend::Unknown);
    assert_eq!(
        tokens.spend(&live.token_hash, Some(&owner), now()).await.unwrap(),
        Spend::Replayed(live.clone())
    );
}

async fn expired_refresh_tokens_are_absent(backend: Backend) {
    let tokens = wiring(backend).await.refresh_tokens;
    let live = record(uuid::Uuid::new_v4());
    tokens.insert(&live).await.unwrap();
    let later = live.expires_at + Duration::seconds(1);
    assert_eq!(tokens.spend(&live.token_hash, None, later).await.unwrap(), Spend::Unknown);
}

async fn concurrent_spends_have_one_winner(backend: Backend) {
    let tokens = wiring(backend).await.refresh_tokens;
    let live = record(uuid::Uuid::new_v4());
    tokens.insert(&live).await.unwrap();
    let results =
        futures::future::join_all((0..8).map(|_| tokens.spend(&live.token_hash, None, now()))).await;
    let spent = results.iter().filter(|r| matches!(r, Ok(Spend::Spent(_)))).count();
    let replayed = results.iter().filter(|r| matches!(r, Ok(Spend::Replayed(_)))).count();
    assert_eq!((spent, replayed), (1, 7));
}

async fn families_are_revoked_until_their_end(backend: Backend) {
    let tokens = wiring(backend).await.refresh_tokens;
    let family = uuid::Uuid::new_v4();
    assert!(!tokens.is_family_revoked(family, now()).await.unwrap());
    tokens.revoke_family(family, now() + Duration::days(30)).await.unwrap();
    assert!(tokens.is_family_revoked(family, now()).await.unwrap());
    assert!(!tokens.is_family_revoked(family, now() + Duration::days(31)).await.unwrap());
    assert!(!tokens.is_family_revoked(uuid::Uuid::new_v4(), now()).await.unwrap());
}

async fn rate_limiter_counts_per_key_and_window(backend: Backend) {
    let limiter = wiring(backend).await.rate_limiter;
    let limit = RateLimit { max_hits: 3, window: Duration::seconds(60) };
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_040).unwrap(); // 20 s before a window ends
    for _ in 0..3 {
        assert_eq!(limiter.hit("login:ada", limit, start).await.unwrap(), RateDecision::Allowed);
    }
    assert_eq!(
        limiter.hit("login:ada", limit, start).await.unwrap(),
        RateDecision::Limited { retry_after: Duration::seconds(20) }
    );
    assert_eq!(limiter.hit("login:grace", limit, start).await.unwrap(), RateDecision::Allowed);
    let next_window = start + Duration::seconds(20);
    assert_eq!(limiter.hit("login:ada", limit, next_window).await.unwrap(), RateDecision::Allowed);
}

/// A refused hit counts for nothing, and a released hit makes room again, in its own window only.
async fn rate_limiter_refusals_do_not_count_and_releases_make_room(backend: Backend) {
    let limiter = wiring(backend).await.rate_limiter;
    let limit = RateLimit { max_hits: 2, window: Duration::seconds(60) };
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    for _ in 0..2 {
        assert_eq!(limiter.hit("k", limit, start).await.unwrap(), RateDecision::Allowed);
    }
    for _ in 0..5 {
        assert!(matches!(limiter.hit("k", limit, start).await.unwrap(), RateDecision::Limited { .. }));
    }
    // Five refusals took nothing: one release leaves exactly one free slot.
    limiter.release("k", limit, start).await.unwrap();
    assert_eq!(limiter.hit("k", limit, start).await.unwrap(), RateDecision::Allowed);
    assert!(matches!(limiter.hit("k", limit, start).await.unwrap(), RateDecision::Limited { .. }));
    // Releasing in a window with no hits, or beyond its hits, never goes negative.
    let later = start + Duration::seconds(120);
    limiter.release("k", limit, later).await.unwrap();
    limiter.release("fresh", limit, start).await.unwrap();
    for _ in 0..2 {
        assert_eq!(limiter.hit("fresh", limit, start).await.unwrap(), RateDecision::Allowed);
    }
    assert!(matches!(limiter.hit("fresh", limit, start).await.unwrap(), RateDecision::Limited { .. }));
}

async fn a_new_password_starts_a_new_session_generation(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA".into());
    let generation = uuid::Uuid::new_v4();
    assert!(users.set_password(&ada.username, &hash, generation).await.unwrap());
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, hash);
    assert_eq!(stored.session_generation, generation);
    assert!(stored.continues(generation) && !stored.continues(ada.session_generation));
    let nobody = Username::parse("nobody").unwrap();
    assert!(!users.set_password(&nobody, &hash, generation).await.unwrap());
    assert_eq!(users.get(&nobody).await.unwrap(), None, "no account is made up");
}

async fn deleting_frees_the_name_and_the_email(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "Ada@Example.com");
    users.create(&ada).await.unwrap();
    users.create(&user("grace", "grace@example.com")).await.unwrap();
    // Another account under the name (as if re-registered meanwhile) is not this one.
    let impostor = User { id: uuid::Uuid::new_v4(), ..ada.clone() };
    assert!(!users.delete(&impostor).await.unwrap());
    assert!(users.get(&ada.username).await.unwrap().is_some());

    assert!(users.delete(&ada).await.unwrap());
    assert_eq!(users.get(&ada.username).await.unwrap(), None);
    assert!(!users.delete(&ada).await.unwrap(), "deleting twice finds nothing");
    // Name and email are free again; the other account is untouched.
    users.create(&user("ada", "ada@example.com")).await.unwrap();
    assert!(matches!(
        users.create(&user("ada2", "grace@example.com")).await,
        Err(CreateUserError::EmailTaken)
    ));
    assert_eq!(users.list(10, None).await.unwrap().items.len(), 2);
}

async fn disabling_is_stored_and_ends_sessions(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert!(users.set_disabled(&ada.username, true).await.unwrap());
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert!(stored.disabled && !stored.continues(ada.session_generation));
    assert!(users.set_disabled(&ada.username, false).await.unwrap());
    assert!(users.get(&ada.username).await.unwrap().unwrap().continues(ada.session_generation));
    assert!(!users.set_disabled(&Username::parse("nobody").unwrap(), true).await.unwrap());
}

async fn users_are_found_by_email_and_verified_once_proven(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "Ada@Example.com");
    users.create(&ada).await.unwrap();
    let found = users.find_by_email(&Email::parse("ada@EXAMPLE.com").unwrap()).await.unwrap();
    assert_eq!(found, Some(ada.clone()));
    assert_eq!(users.find_by_email(&Email::parse("nobody@example.com").unwrap()).await.unwrap(), None);

    assert!(users.mark_email_verified(&ada).await.unwrap());
    assert!(users.get(&ada.username).await.unwrap().unwrap().email_verified);
    // Another account under the name (or the address changed) is not what the code proved.
    assert!(users.delete(&ada).await.unwrap());
    let again = user("ada", "Ada@Example.com");
    users.create(&again).await.unwrap();
    assert!(!users.mark_email_verified(&ada).await.unwrap());
    assert!(!users.get(&again.username).await.unwrap().unwrap().email_verified);
    assert_eq!(users.find_by_email(&ada.email).await.unwrap().map(|u| u.id), Some(again.id));
}

fn code(purpose: CodePurpose, ada: &User, digits: &str) -> (OneTimeCode, CodeRecord) {
    let code = OneTimeCode::parse(digits).unwrap();
    let record = code.record(purpose, ada, now());
    (code, record)
}

async fn codes_are_spent_once(backend: Backend) {
    let codes = wiring(backend).await.codes;
    let ada = user("ada", "ada@example.com");
    let (right, record) = code(CodePurpose::PasswordReset, &ada, "12345678");
    codes.issue(&record).await.unwrap();
    let hash = |c: &OneTimeCode, purpose| c.hash(purpose, &ada, &ada.email);
    let redeem = |hash: [u8; 32], purpose| {
        let codes = codes.clone();
        let name = ada.username.clone();
        async move { codes.redeem(purpose, &name, &hash, now()).await.unwrap() }
    };
    // Another purpose's code is another code.
    let other = hash(&right, CodePurpose::EmailVerification);
    assert_eq!(redeem(other, CodePurpose::EmailVerification).await, Redeemed::NoCode);
    let reset = hash(&right, CodePurpose::PasswordReset);
    let both = futures::future::join(
        redeem(reset, CodePurpose::PasswordReset),
        redeem(reset, CodePurpose::PasswordReset),
    )
    .await;
    let mut outcomes = [both.0, both.1];
    outcomes.sort_by_key(|o| *o == Redeemed::Accepted);
    assert_eq!(outcomes[1], Redeemed::Accepted, "{outcomes:?}");
    assert_ne!(outcomes[0], Redeemed::Accepted, "{outcomes:?}");
    assert_eq!(redeem(reset, CodePurpose::PasswordReset).await, Redeemed::NoCode);
}

async fn wrong_guesses_spend_a_code_and_expiry_ends_it(backend: Backend) {
    let codes = wiring(backend).await.codes;
    let ada = user("ada", "ada@example.com");
    let purpose = CodePurpose::EmailVerification;
    let (right, record) = code(purpose, &ada, "00000001");
    let wrong = OneTimeCode::parse("00000002").unwrap().hash(purpose, &ada, &ada.email);
    let right = right.hash(purpose, &ada, &ada.email);
    codes.issue(&record).await.unwrap();
    for _ in 0..record.attempts_left {
        assert_eq!(codes.redeem(purpose, &ada.username, &wrong, now()).await.unwrap(), Redeemed::Wrong);
    }
    assert_eq!(codes.redeem(purpose, &ada.username, &right, now()).await.unwrap(), Redeemed::NoCode);

    // A new code replaces the spent one; it lives until its expiry and not a second longer.
    codes.issue(&record).await.unwrap();
    let at_expiry = record.expires_at;
    assert_eq!(codes.redeem(purpose, &ada.username, &right, at_expiry).await.unwrap(), Redeemed::NoCode);
    let before = at_expiry - Duration::seconds(1);
    assert_eq!(codes.redeem(purpose, &ada.username, &right, before).await.unwrap(), Redeemed::Accepted);
}

on_both_backends!(
    users_are_found_by_email_and_verified_once_proven,
    codes_are_spent_once,
    wrong_guesses_spend_a_code_and_expiry_ends_it,
    disabling_is_stored_and_ends_sessions,
    a_new_password_starts_a_new_session_generation,
    deleting_frees_the_name_and_the_email,
    creates_and_reads_users,
    usernames_and_emails_are_unique,
    concurrent_creations_of_one_name_succeed_once,
    login_stamp_role_and_rehash,
    listing_pages_through_every_user_once,
    refresh_tokens_spend_once,
    expired_refresh_tokens_are_absent,
    only_the_owner_spends_an_owned_token,
    concurrent_spends_have_one_winner,
    families_are_revoked_until_their_end,
    rate_limiter_counts_per_key_and_window,
    rate_limiter_refusals_do_not_count_and_releases_make_room,
);
