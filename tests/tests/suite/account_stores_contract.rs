//! One contract for the users, refresh-token and rate-limit stores, run against the in-memory
//! adapters and against DynamoDB Local.

use std::collections::HashSet;

use stratus_auth::codes::{CODE_ATTEMPTS, CodePurpose, OneTimeCode};
use stratus_core::domain::{Email, PasswordHash, PersonName, Role, TotpEnrollment, User, Username};
use stratus_core::ports::{
    AccessChange, AccessChanged, Checked, CodeRecord, CreateUserError, Deleted, RateDecision, RateLimit,
    Redeemed, RefreshRecord, Spend, UserStore,
};
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

fn admin(name: &str) -> User {
    User { role: Role::Admin, ..user(name, &format!("{name}@example.com")) }
}

/// Changes the account's role or flag on a fresh read of it, as update-user does.
async fn change(users: &dyn UserStore, name: &Username, change: AccessChange) -> AccessChanged {
    let Some(read) = users.get(name).await.unwrap() else { return AccessChanged::NoSuchUser };
    users.change_access(&read, change, uuid::Uuid::new_v4()).await.unwrap()
}

fn role(role: Role) -> AccessChange {
    AccessChange { role: Some(role), disabled: None }
}

fn disabled(disabled: bool) -> AccessChange {
    AccessChange { role: None, disabled: Some(disabled) }
}

fn changed(outcome: &AccessChanged) -> bool {
    matches!(outcome, AccessChanged::Changed(_))
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
    assert!(changed(&change(users.as_ref(), &ada.username, role(Role::Admin)).await));
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert_eq!(stored.last_login, Some(now()));
    assert_eq!(stored.password_hash, rehashed);
    assert_eq!(stored.role, Role::Admin);
    let nobody = user("nobody", "nobody@example.com");
    let promoted = users.change_access(&nobody, role(Role::Admin), uuid::Uuid::new_v4()).await.unwrap();
    assert_eq!(promoted, AccessChanged::NoSuchUser);
    assert_eq!(users.get(&nobody.username).await.unwrap(), None, "no account is made up");
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
        client: None,
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
    assert!(users.set_password(&ada, &hash, generation).await.unwrap());
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, hash);
    assert_eq!(stored.session_generation, generation);
    assert!(stored.continues(generation) && !stored.continues(ada.session_generation));
    // The same call again (its answer lost, say) finds its own generation: done, once.
    assert!(users.set_password(&ada, &hash, generation).await.unwrap());
    // Another, from the account as read before the first: a password was set since, so no.
    let other = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXI".into());
    assert!(!users.set_password(&ada, &other, uuid::Uuid::new_v4()).await.unwrap());
    assert_eq!(users.get(&ada.username).await.unwrap().unwrap().password_hash, hash, "the first stands");
    let nobody = user("nobody", "nobody@example.com");
    assert!(!users.set_password(&nobody, &hash, generation).await.unwrap());
    assert_eq!(users.get(&nobody.username).await.unwrap(), None, "no account is made up");
}

async fn deleting_frees_the_name_and_the_email(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "Ada@Example.com");
    users.create(&ada).await.unwrap();
    users.create(&user("grace", "grace@example.com")).await.unwrap();
    // Another account under the name (as if re-registered meanwhile) is not this one.
    let impostor = User { id: uuid::Uuid::new_v4(), ..ada.clone() };
    assert_eq!(users.delete(&impostor).await.unwrap(), Deleted::Gone);
    assert!(users.get(&ada.username).await.unwrap().is_some());

    assert_eq!(users.delete(&ada).await.unwrap(), Deleted::Deleted);
    assert_eq!(users.get(&ada.username).await.unwrap(), None);
    assert_eq!(users.delete(&ada).await.unwrap(), Deleted::Gone, "deleting twice finds nothing");
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
    assert!(changed(&change(users.as_ref(), &ada.username, disabled(true)).await));
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    assert!(stored.disabled && !stored.continues(ada.session_generation));
    let enabled_under = uuid::Uuid::new_v4();
    let enabled = users.change_access(&stored, disabled(false), enabled_under).await.unwrap();
    assert_eq!(enabled, AccessChanged::Changed(users.get(&ada.username).await.unwrap().unwrap()));
    let stored = users.get(&ada.username).await.unwrap().unwrap();
    // Enabling again does not revive the sessions from before the disable.
    assert!(!stored.continues(ada.session_generation) && stored.continues(enabled_under));
    let nobody = user("nobody", "nobody@example.com");
    let refused = users.change_access(&nobody, disabled(true), uuid::Uuid::new_v4()).await.unwrap();
    assert_eq!(refused, AccessChanged::NoSuchUser);
    // A role change keeps the session generation: only the flag moves it.
    users.create(&admin("root")).await.unwrap();
    let generation = users.get(&ada.username).await.unwrap().unwrap().session_generation;
    assert!(changed(&change(users.as_ref(), &ada.username, role(Role::Admin)).await));
    assert!(changed(&change(users.as_ref(), &ada.username, role(Role::User)).await));
    assert_eq!(users.get(&ada.username).await.unwrap().unwrap().session_generation, generation);
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
    assert_eq!(users.delete(&ada).await.unwrap(), Deleted::Deleted);
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

/// The three newest reset codes live together and share their attempts; a new code re-arms
/// them, but not codes that ran out; the first one spent ends them all. A check counts an
/// attempt and spends nothing.
async fn a_few_reset_codes_live_at_once(backend: Backend) {
    let codes = wiring(backend).await.codes;
    let ada = user("ada", "ada@example.com");
    let purpose = CodePurpose::PasswordReset;
    let issued: Vec<(OneTimeCode, CodeRecord)> =
        (1..=4).map(|n| code(purpose, &ada, &format!("1000000{n}"))).collect();
    let hash = |n: usize| issued[n].0.hash(purpose, &ada, &ada.email);
    for (_, record) in &issued {
        codes.issue(record).await.unwrap();
    }
    let check = |n: usize| {
        let (codes, name, hash) = (codes.clone(), ada.username.clone(), hash(n));
        async move { codes.check(purpose, &name, &hash, now()).await }
    };
    assert_eq!(check(0).await.unwrap(), Checked::Wrong, "the oldest of four is dropped");
    assert_eq!(check(1).await.unwrap(), Checked::Right);
    assert_eq!(check(1).await.unwrap(), Checked::Right, "a check spends nothing");
    assert_eq!(check(3).await.unwrap(), Checked::Right);
    assert_eq!(check(2).await.unwrap(), Checked::Right);
    // Five attempts in all, right ones included.
    assert_eq!(check(2).await.unwrap(), Checked::NoCode);
    assert!(!codes.spend(purpose, &ada.username, &hash(0), now()).await.unwrap(), "dropped");

    // A new code re-arms the attempts, but the codes that ran out of them stay dead.
    let (fresh, record) = code(purpose, &ada, "20000000");
    codes.issue(&record).await.unwrap();
    let fresh = fresh.hash(purpose, &ada, &ada.email);
    assert_eq!(codes.redeem(purpose, &ada.username, &hash(3), now()).await.unwrap(), Redeemed::Wrong);
    assert_eq!(codes.check(purpose, &ada.username, &fresh, now()).await.unwrap(), Checked::Right);

    // Spending one ends them all.
    for n in [1, 2] {
        codes.issue(&issued[n].1).await.unwrap();
    }
    assert!(codes.spend(purpose, &ada.username, &hash(2), now()).await.unwrap());
    assert!(!codes.spend(purpose, &ada.username, &hash(2), now()).await.unwrap());
    assert_eq!(codes.redeem(purpose, &ada.username, &fresh, now()).await.unwrap(), Redeemed::NoCode);

    // A verification code replaces the last.
    let purpose = CodePurpose::EmailVerification;
    let (old, old_record) = code(purpose, &ada, "30000001");
    let (new, new_record) = code(purpose, &ada, "30000002");
    codes.issue(&old_record).await.unwrap();
    codes.issue(&new_record).await.unwrap();
    let old = old.hash(purpose, &ada, &ada.email);
    let new = new.hash(purpose, &ada, &ada.email);
    assert_eq!(codes.redeem(purpose, &ada.username, &old, now()).await.unwrap(), Redeemed::Wrong);
    assert_eq!(codes.redeem(purpose, &ada.username, &new, now()).await.unwrap(), Redeemed::Accepted);
}

/// Each guess is counted before it is compared, in one conditional write: of many wrong guesses
/// sent together, CODE_ATTEMPTS are judged and the rest refused unread, so a right code sent
/// after them is refused too, however they race.
async fn racing_guesses_are_judged_at_most_code_attempts_times(backend: Backend) {
    let codes = wiring(backend).await.codes;
    let ada = user("ada", "ada@example.com");
    let purpose = CodePurpose::PasswordReset;
    let (right, record) = code(purpose, &ada, "40000000");
    codes.issue(&record).await.unwrap();
    let guesses: Vec<[u8; 32]> = (1..=40)
        .map(|n| {
            OneTimeCode::parse(&format!("{:08}", 40_000_000 + n)).unwrap().hash(purpose, &ada, &ada.email)
        })
        .collect();
    let outcomes = futures::future::join_all(
        guesses.iter().map(|hash| codes.redeem(purpose, &ada.username, hash, now())),
    )
    .await;
    let outcomes: Vec<Redeemed> = outcomes.into_iter().map(Result::unwrap).collect();
    let judged = outcomes.iter().filter(|o| **o != Redeemed::NoCode).count();
    assert!(judged <= CODE_ATTEMPTS as usize, "{judged} judged: {outcomes:?}");
    // Once the race is over: racing it, the right code could reach the store before the
    // attempts were used up (concurrent requests arrive in any order) and be accepted.
    let late = codes.redeem(purpose, &ada.username, &right.hash(purpose, &ada, &ada.email), now()).await;
    assert_eq!(late.unwrap(), Redeemed::NoCode, "the right code came after the attempts");
}

// ---------------------------------------------------------------- TOTP

/// The user as stored now: what a function reads before it writes.
async fn read(users: &dyn UserStore, user: &User) -> User {
    users.get(&user.username).await.unwrap().expect("the user is stored")
}

fn hashes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:02}{}", "ab".repeat(31))).collect()
}

/// `user` stored with TOTP on: sealed secret `sealed`, confirmed at `step`, with `codes`.
async fn with_totp_on(users: &dyn UserStore, user: &User, sealed: &str, step: i64, codes: &[String]) -> User {
    assert!(users.begin_totp(user, sealed).await.unwrap());
    let pending = read(users, user).await;
    assert!(users.confirm_totp(&pending, step, codes, uuid::Uuid::new_v4()).await.unwrap());
    let on = read(users, user).await;
    assert!(on.mfa_enabled());
    on
}

async fn totp_begins_only_while_off_and_only_for_its_account(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();

    assert!(users.begin_totp(&ada, "v1.first").await.unwrap());
    let pending = read(users.as_ref(), &ada).await;
    assert_eq!(
        pending.totp,
        Some(TotpEnrollment {
            sealed_secret: "v1.first".into(),
            confirmed: false,
            last_step: 0,
            recovery_codes: Vec::new(),
        })
    );
    assert!(!pending.mfa_enabled(), "a pending set-up does not ask logins for a code");

    // Asking again before confirming replaces the pending secret.
    assert!(users.begin_totp(&ada, "v1.second").await.unwrap());
    assert_eq!(read(users.as_ref(), &ada).await.totp.unwrap().sealed_secret, "v1.second");

    // Another account under the name (as if re-registered meanwhile) is not this one, and no
    // account is made up for a name that has none.
    let impostor = User { id: uuid::Uuid::new_v4(), ..ada.clone() };
    assert!(!users.begin_totp(&impostor, "v1.impostor").await.unwrap());
    assert_eq!(read(users.as_ref(), &ada).await.totp.unwrap().sealed_secret, "v1.second");
    let nobody = user("nobody", "nobody@example.com");
    assert!(!users.begin_totp(&nobody, "v1.nobody").await.unwrap());
    assert_eq!(users.get(&nobody.username).await.unwrap(), None, "no account is made up");

    // Once on, nothing replaces the secret: TOTP must be turned off first.
    let pending = read(users.as_ref(), &ada).await;
    assert!(users.confirm_totp(&pending, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap());
    assert!(!users.begin_totp(&ada, "v1.third").await.unwrap());
    let on = read(users.as_ref(), &ada).await.totp.unwrap();
    assert_eq!((on.sealed_secret.as_str(), on.confirmed), ("v1.second", true));
}

async fn confirming_needs_the_pending_secret_and_a_later_step(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert!(
        !users.confirm_totp(&ada, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap(),
        "nothing is pending"
    );

    assert!(users.begin_totp(&ada, "v1.first").await.unwrap());
    let stale = read(users.as_ref(), &ada).await;
    assert!(users.begin_totp(&ada, "v1.second").await.unwrap());
    // A code checked against the secret that was replaced meanwhile confirms nothing.
    assert!(!users.confirm_totp(&stale, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap());
    let pending = read(users.as_ref(), &ada).await;
    assert!(
        !users.confirm_totp(&pending, 0, &hashes(10), uuid::Uuid::new_v4()).await.unwrap(),
        "a step must come after 0"
    );
    let impostor = User { id: uuid::Uuid::new_v4(), ..pending.clone() };
    assert!(!users.confirm_totp(&impostor, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap());
    assert!(!read(users.as_ref(), &ada).await.mfa_enabled());

    assert!(users.confirm_totp(&pending, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap());
    let on = read(users.as_ref(), &ada).await;
    assert!(on.mfa_enabled());
    assert_eq!(
        on.totp,
        Some(TotpEnrollment {
            sealed_secret: "v1.second".into(),
            confirmed: true,
            last_step: 100,
            recovery_codes: hashes(10),
        })
    );
    // Confirming twice (a second tab, a replay) changes nothing.
    assert!(!users.confirm_totp(&pending, 101, &hashes(3), uuid::Uuid::new_v4()).await.unwrap());
    assert_eq!(read(users.as_ref(), &ada).await, on);
}

async fn concurrent_confirmations_turn_totp_on_once(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert!(users.begin_totp(&ada, "v1.secret").await.unwrap());
    let pending = read(users.as_ref(), &ada).await;
    let sets: Vec<Vec<String>> = (0..6).map(|i| vec![format!("set{i}")]).collect();
    let results = futures::future::join_all(
        sets.iter().map(|set| users.confirm_totp(&pending, 100, set, uuid::Uuid::new_v4())),
    )
    .await;
    let won: Vec<usize> = (0..6).filter(|i| *results[*i].as_ref().unwrap()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    // The recovery codes are the winner's: the ones answered to its request.
    assert_eq!(read(users.as_ref(), &ada).await.totp.unwrap().recovery_codes, sets[won[0]]);
}

async fn a_totp_step_is_used_once_and_never_before_the_last(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let pending_only = {
        assert!(users.begin_totp(&ada, "v1.secret").await.unwrap());
        read(users.as_ref(), &ada).await
    };
    assert!(!users.use_totp_step(&pending_only, 5).await.unwrap(), "TOTP is not on yet");
    assert!(!users.use_totp_step(&ada, 5).await.unwrap(), "a read without TOTP");

    let on = {
        assert!(users.confirm_totp(&pending_only, 100, &hashes(10), uuid::Uuid::new_v4()).await.unwrap());
        read(users.as_ref(), &ada).await
    };
    // `on` stays the read every use is made with: a store checks what is stored, not the read.
    assert!(!users.use_totp_step(&on, 100).await.unwrap(), "the confirming code's step is spent");
    assert!(!users.use_totp_step(&on, 99).await.unwrap());
    assert!(users.use_totp_step(&on, 101).await.unwrap());
    assert!(!users.use_totp_step(&on, 101).await.unwrap(), "replayed");
    assert!(users.use_totp_step(&on, 103).await.unwrap());
    assert!(!users.use_totp_step(&on, 102).await.unwrap(), "older than the last accepted");
    assert_eq!(read(users.as_ref(), &ada).await.totp.unwrap().last_step, 103);

    let impostor = User { id: uuid::Uuid::new_v4(), ..on.clone() };
    assert!(!users.use_totp_step(&impostor, 200).await.unwrap());

    // Eight requests with one code at once: one login.
    let results = futures::future::join_all((0..8).map(|_| users.use_totp_step(&on, 200))).await;
    let accepted = results.iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(accepted, 1, "{results:?}");
    // Codes of two steps at once: the later one is never refused for the earlier.
    let (earlier, later) =
        futures::future::join(users.use_totp_step(&on, 300), users.use_totp_step(&on, 301)).await;
    assert!(later.unwrap(), "earlier: {earlier:?}");
    assert_eq!(read(users.as_ref(), &ada).await.totp.unwrap().last_step, 301);
}

async fn recovery_codes_are_spent_once(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let codes = hashes(10);
    assert!(users.begin_totp(&ada, "v1.secret").await.unwrap());
    let pending = read(users.as_ref(), &ada).await;
    assert!(!users.spend_recovery_code(&pending, "none yet").await.unwrap(), "TOTP is not on");
    assert!(!users.spend_recovery_code(&pending, &codes[0]).await.unwrap());
    assert!(users.confirm_totp(&pending, 100, &codes, uuid::Uuid::new_v4()).await.unwrap());

    // Every spend below is made with the read taken before any: a store must not trust it.
    let on = read(users.as_ref(), &ada).await;
    assert!(users.spend_recovery_code(&on, &codes[3]).await.unwrap());
    assert!(!users.spend_recovery_code(&on, &codes[3]).await.unwrap(), "spent");
    assert!(!users.spend_recovery_code(&read(users.as_ref(), &ada).await, &codes[3]).await.unwrap());
    assert!(!users.spend_recovery_code(&on, "not a code of ada's").await.unwrap());
    let impostor = User { id: uuid::Uuid::new_v4(), ..on.clone() };
    assert!(!users.spend_recovery_code(&impostor, &codes[4]).await.unwrap());

    // Two different codes at once (say, two devices): both are good.
    let (first, last) = futures::future::join(
        users.spend_recovery_code(&on, &codes[0]),
        users.spend_recovery_code(&on, &codes[9]),
    )
    .await;
    assert_eq!((first.unwrap(), last.unwrap()), (true, true));
    // One code sent six times at once: it works once.
    let results = futures::future::join_all((0..6).map(|_| users.spend_recovery_code(&on, &codes[5]))).await;
    let spent = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let refused = results.iter().filter(|r| matches!(r, Ok(false))).count();
    assert_eq!((spent, refused), (1, 5), "{results:?}");

    let left = read(users.as_ref(), &ada).await.totp.unwrap().recovery_codes;
    let expected: Vec<String> = [1, 2, 4, 6, 7, 8].iter().map(|i| codes[*i].clone()).collect();
    assert_eq!(left, expected);
    for code in &expected {
        assert!(users.spend_recovery_code(&on, code).await.unwrap());
    }
    assert!(read(users.as_ref(), &ada).await.totp.unwrap().recovery_codes.is_empty());
    assert!(read(users.as_ref(), &ada).await.mfa_enabled(), "TOTP stays on without recovery codes");
}

async fn removing_totp_turns_it_off_for_this_account_only(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert!(!users.remove_totp(&ada, uuid::Uuid::new_v4()).await.unwrap(), "not on");

    let on = with_totp_on(users.as_ref(), &ada, "v1.first", 100, &hashes(10)).await;
    let impostor = User { id: uuid::Uuid::new_v4(), ..on.clone() };
    assert!(!users.remove_totp(&impostor, uuid::Uuid::new_v4()).await.unwrap());
    assert!(read(users.as_ref(), &ada).await.mfa_enabled());

    assert!(users.remove_totp(&on, uuid::Uuid::new_v4()).await.unwrap());
    let off = read(users.as_ref(), &ada).await;
    assert_eq!((off.totp.as_ref(), off.mfa_enabled()), (None, false));
    assert!(!users.remove_totp(&on, uuid::Uuid::new_v4()).await.unwrap(), "removing twice finds nothing");
    // What was read while it was on is spent with it: no step, no recovery code.
    assert!(!users.use_totp_step(&on, 500).await.unwrap());
    assert!(!users.spend_recovery_code(&on, &hashes(10)[0]).await.unwrap());

    // Set up anew, with another secret: the old read is not the new enrolment.
    let again = with_totp_on(users.as_ref(), &ada, "v1.second", 50, &hashes(2)).await;
    assert!(!users.use_totp_step(&on, 600).await.unwrap(), "a read of the old secret");
    assert!(!users.spend_recovery_code(&on, &hashes(2)[0]).await.unwrap(), "a read of the old secret");
    assert!(users.use_totp_step(&again, 51).await.unwrap(), "the new one starts from its own step");
}

/// A pending set-up is not TOTP being on: removing it answers false and leaves it be, as the
/// store's doc says ("false when it was not on"). update-user relies on it: an admin's removal
/// that lost a race against the user's own turning off must not take their new set-up away.
async fn removing_totp_leaves_a_pending_set_up_alone(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    assert!(users.begin_totp(&ada, "v1.pending").await.unwrap());
    let pending = read(users.as_ref(), &ada).await;
    assert!(!users.remove_totp(&pending, uuid::Uuid::new_v4()).await.unwrap());
    let after = read(users.as_ref(), &ada).await;
    assert_eq!(after.totp, pending.totp, "a refused removal changed the pending set-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_removing_totp_leaves_a_pending_set_up_alone() {
    removing_totp_leaves_a_pending_set_up_alone(Backend::DynamoDb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_removing_totp_leaves_a_pending_set_up_alone() {
    removing_totp_leaves_a_pending_set_up_alone(Backend::Memory).await
}

/// A removal decided on a read of one enrolment (an admin's PATCH, a DELETE whose code was
/// checked against that secret) does not remove the enrolment that replaced it meanwhile, as
/// every other TOTP write checks the sealed secret it read. update-user's comment counts on it
/// ("False only if the user turned it off (or re-enrolled) meanwhile").
async fn removing_totp_on_a_stale_read_leaves_a_new_enrolment(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let old = with_totp_on(users.as_ref(), &ada, "v1.old", 100, &hashes(10)).await;
    assert!(users.remove_totp(&old, uuid::Uuid::new_v4()).await.unwrap());
    let new = with_totp_on(users.as_ref(), &ada, "v1.new", 200, &hashes(3)).await;
    assert!(
        !users.remove_totp(&old, uuid::Uuid::new_v4()).await.unwrap(),
        "a read of the old enrolment removed the new one"
    );
    assert_eq!(read(users.as_ref(), &ada).await.totp, new.totp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_removing_totp_on_a_stale_read_leaves_a_new_enrolment() {
    removing_totp_on_a_stale_read_leaves_a_new_enrolment(Backend::DynamoDb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_removing_totp_on_a_stale_read_leaves_a_new_enrolment() {
    removing_totp_on_a_stale_read_leaves_a_new_enrolment(Backend::Memory).await
}

/// The other writes of a user keep its authenticator: a login, a new password, a role, a
/// verified address or a disabled flag must not switch TOTP off or bring a spent code back.
async fn other_writes_keep_the_authenticator(backend: Backend) {
    let users = wiring(backend).await.users;
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let on = with_totp_on(users.as_ref(), &ada, "v1.secret", 100, &hashes(10)).await;
    assert!(users.use_totp_step(&on, 101).await.unwrap());
    assert!(users.spend_recovery_code(&on, &hashes(10)[0]).await.unwrap());
    let expected = read(users.as_ref(), &ada).await.totp;

    users.record_login(&ada.username, now(), None).await.unwrap();
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA".into());
    let as_now = read(users.as_ref(), &ada).await;
    assert!(users.set_password(&as_now, &hash, uuid::Uuid::new_v4()).await.unwrap());
    assert!(changed(&change(users.as_ref(), &ada.username, role(Role::Admin)).await));
    assert!(users.mark_email_verified(&on).await.unwrap());
    // Ada is the only admin: the store refuses to disable her, and keeps her authenticator.
    assert_eq!(change(users.as_ref(), &ada.username, disabled(true)).await, AccessChanged::LastActiveAdmin);
    users.create(&admin("root")).await.unwrap();
    assert!(changed(&change(users.as_ref(), &ada.username, role(Role::User)).await));
    assert!(changed(&change(users.as_ref(), &ada.username, disabled(true)).await));
    assert!(changed(&change(users.as_ref(), &ada.username, disabled(false)).await));
    let stored = read(users.as_ref(), &ada).await;
    assert_eq!(stored.totp, expected);
    assert!(stored.mfa_enabled());
    // Listing and finding by email read it as it is, too.
    let listed = users.list(10, None).await.unwrap().items;
    let listed: Vec<_> = listed.iter().filter(|u| u.username == ada.username).map(|u| &u.totp).collect();
    assert_eq!(listed, [&expected]);
    assert_eq!(users.find_by_email(&ada.email).await.unwrap().unwrap().totp, expected);
}

/// The active admins counted the slow way: every account, page by page.
async fn recount(users: &dyn UserStore) -> u64 {
    let (mut active, mut after) = (0, None);
    loop {
        let page = users.list(100, after.as_ref()).await.unwrap();
        active += page.items.iter().filter(|u| u.is_active_admin()).count() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => return active,
        }
    }
}

async fn assert_active_admins(users: &dyn UserStore, expected: u64) {
    assert_eq!(recount(users).await, expected, "the accounts");
    assert_eq!(users.active_admins().await.unwrap(), expected, "the count");
}

/// Every way in and out of "active admin" moves the count by exactly one, and none leaves zero:
/// creation, promotion and demotion, disabling and enabling, deletion; a change decided on a
/// stale read is decided again on the account as it is.
async fn the_count_of_active_admins_is_exact(backend: Backend) {
    let users = wiring(backend).await.users;
    let users = users.as_ref();
    let name = |n: &str| Username::parse(n).unwrap();
    assert_active_admins(users, 0).await;
    users.create(&user("ada", "ada@example.com")).await.unwrap();
    users.create(&admin("root")).await.unwrap();
    users.create(&User { disabled: true, ..admin("dormant") }).await.unwrap();
    assert_active_admins(users, 1).await;
    // A refused creation counts nothing.
    assert!(matches!(users.create(&admin("root")).await, Err(CreateUserError::UsernameTaken)));
    let same_email = User { email: Email::parse("root@example.com").unwrap(), ..admin("root2") };
    assert!(matches!(users.create(&same_email).await, Err(CreateUserError::EmailTaken)));
    assert_active_admins(users, 1).await;

    // The only active admin can be neither demoted, disabled nor deleted.
    assert_eq!(change(users, &name("root"), role(Role::User)).await, AccessChanged::LastActiveAdmin);
    assert_eq!(change(users, &name("root"), disabled(true)).await, AccessChanged::LastActiveAdmin);
    let both = AccessChange { role: Some(Role::User), disabled: Some(true) };
    assert_eq!(change(users, &name("root"), both).await, AccessChanged::LastActiveAdmin);
    let root = users.get(&name("root")).await.unwrap().unwrap();
    assert_eq!(users.delete(&root).await.unwrap(), Deleted::LastActiveAdmin);
    assert_eq!(users.get(&name("root")).await.unwrap(), Some(root.clone()), "a refusal wrote nothing");
    assert_active_admins(users, 1).await;

    // Nothing to change changes nothing; promoting a disabled account makes no active admin.
    assert!(changed(&change(users, &name("root"), role(Role::Admin)).await));
    assert!(changed(&change(users, &name("dormant"), role(Role::Admin)).await));
    assert_active_admins(users, 1).await;
    assert!(changed(&change(users, &name("dormant"), disabled(false)).await));
    assert_active_admins(users, 2).await;
    assert!(changed(&change(users, &name("ada"), role(Role::Admin)).await));
    assert_active_admins(users, 3).await;
    assert!(changed(&change(users, &name("dormant"), both).await));
    assert_active_admins(users, 2).await;

    // A change decided on a stale read: ada was read as a user, and is an admin now.
    let stale = User { role: Role::User, ..users.get(&name("ada")).await.unwrap().unwrap() };
    let disabled_ada = users.change_access(&stale, disabled(true), uuid::Uuid::new_v4()).await.unwrap();
    let AccessChanged::Changed(after) = disabled_ada else { panic!("{disabled_ada:?}") };
    assert_eq!((after.role, after.disabled), (Role::Admin, true));
    assert_active_admins(users, 1).await;
    // Ada, a disabled admin, goes without touching the count; root still cannot.
    let ada = users.get(&name("ada")).await.unwrap().unwrap();
    assert_eq!(users.delete(&root).await.unwrap(), Deleted::LastActiveAdmin);
    assert_eq!(users.delete(&ada).await.unwrap(), Deleted::Deleted);
    assert_active_admins(users, 1).await;
    // A deletion decided on a stale read: dormant was read disabled and is active now.
    let dormant = users.get(&name("dormant")).await.unwrap().unwrap();
    assert!(changed(
        &change(users, &name("dormant"), AccessChange { role: Some(Role::Admin), disabled: Some(false) })
            .await
    ));
    assert_active_admins(users, 2).await;
    assert_eq!(users.delete(&dormant).await.unwrap(), Deleted::Deleted);
    assert_active_admins(users, 1).await;
    assert_eq!(users.delete(&root).await.unwrap(), Deleted::LastActiveAdmin);
}

/// The race the count closes: the only two admins demote (or disable, or delete) each other at
/// the same moment. Exactly one change goes through, whichever; one active admin is left.
async fn two_admins_removing_each_other_at_once_leave_one(backend: Backend) {
    let users = wiring(backend).await.users;
    let users = users.as_ref();
    users.create(&admin("first")).await.unwrap();
    users.create(&admin("second")).await.unwrap();
    let names = [Username::parse("first").unwrap(), Username::parse("second").unwrap()];
    let demote = role(Role::User);
    let disable = disabled(true);
    for round in 0..12 {
        let a = users.get(&names[0]).await.unwrap().unwrap();
        let b = users.get(&names[1]).await.unwrap().unwrap();
        let (x, y) = match round % 3 {
            0 => (demote, demote),
            1 => (disable, demote),
            _ => (disable, disable),
        };
        let (one, other) = futures::future::join(
            users.change_access(&a, x, uuid::Uuid::new_v4()),
            users.change_access(&b, y, uuid::Uuid::new_v4()),
        )
        .await;
        let outcomes = [one.unwrap(), other.unwrap()];
        let done = outcomes.iter().filter(|o| changed(o)).count();
        let refused = outcomes.iter().filter(|o| **o == AccessChanged::LastActiveAdmin).count();
        assert_eq!((done, refused), (1, 1), "round {round}: {outcomes:?}");
        assert_active_admins(users, 1).await;
        // Back to two admins for the next round.
        let restore = AccessChange { role: Some(Role::Admin), disabled: Some(false) };
        for name in &names {
            assert!(changed(&change(users, name, restore).await));
        }
        assert_active_admins(users, 2).await;
    }
    // Deleting themselves at once: one account goes.
    let a = users.get(&names[0]).await.unwrap().unwrap();
    let b = users.get(&names[1]).await.unwrap().unwrap();
    let (one, other) = futures::future::join(users.delete(&a), users.delete(&b)).await;
    let mut outcomes = [one.unwrap(), other.unwrap()];
    outcomes.sort_by_key(|o| *o == Deleted::LastActiveAdmin);
    assert_eq!(outcomes, [Deleted::Deleted, Deleted::LastActiveAdmin]);
    assert_active_admins(users, 1).await;
}

/// A stack deployed before the count has admins and no count (DynamoDB only): the count is
/// made from the `role` index's admin entries, each read again, whichever call needs it first,
/// and accounts stored before the disabled flag count as enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_stack_without_the_count_counts_its_admins_from_the_index() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use stratus_aws::dynamodb::{DynamoUserStore, tables};

    stratus_tests::require_local_engines();
    let sdk = stratus_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("{}users", stratus_tests::unique_prefix());
    tables::ensure_table(&dynamodb, &table, &tables::USERS).await.unwrap();
    let users = DynamoUserStore::new(dynamodb.clone(), table.clone());
    for i in 0..30 {
        users.create(&user(&format!("member{i:02}"), &format!("m{i}@example.com"))).await.unwrap();
    }
    users.create(&admin("root")).await.unwrap();
    users.create(&admin("oldtimer")).await.unwrap();
    users.create(&User { disabled: true, ..admin("dormant") }).await.unwrap();
    assert_active_admins(&users, 2).await;
    let forget_the_count = || async {
        dynamodb
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("COUNT#active-admins".into()))
            .send()
            .await
            .unwrap();
    };
    // Stored before accounts had a disabled flag.
    dynamodb
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("USER#oldtimer".into()))
        .update_expression("REMOVE disabled")
        .send()
        .await
        .unwrap();

    forget_the_count().await;
    assert_active_admins(&users, 2).await;
    // A demotion is the first to need it.
    forget_the_count().await;
    let name = |n: &str| Username::parse(n).unwrap();
    assert!(changed(&change(&users, &name("oldtimer"), role(Role::User)).await));
    assert_active_admins(&users, 1).await;
    forget_the_count().await;
    assert_eq!(change(&users, &name("root"), disabled(true)).await, AccessChanged::LastActiveAdmin);
    // A creation, a promotion and a deletion, each the first after the count was lost.
    forget_the_count().await;
    users.create(&admin("newcomer")).await.unwrap();
    assert_active_admins(&users, 2).await;
    forget_the_count().await;
    assert!(changed(&change(&users, &name("member00"), role(Role::Admin)).await));
    assert_active_admins(&users, 3).await;
    forget_the_count().await;
    let newcomer = users.get(&name("newcomer")).await.unwrap().unwrap();
    assert_eq!(users.delete(&newcomer).await.unwrap(), Deleted::Deleted);
    assert_active_admins(&users, 2).await;
    // Two sandboxes counting at once agree, and one count is kept.
    forget_the_count().await;
    let other = DynamoUserStore::new(dynamodb.clone(), table.clone());
    let (a, b) = futures::future::join(users.active_admins(), other.active_admins()).await;
    assert_eq!((a.unwrap(), b.unwrap()), (2, 2));
    // The count is no user.
    assert_eq!(users.list(100, None).await.unwrap().items.len(), 33);
}

/// The KMS envelope (DynamoDB only): two sandboxes, each with its own `KmsDataKey`, against one
/// users table and one KMS key on the local engines. The first to seal makes the data key; the
/// other unwraps the same one; a sealed value opens only for its owner; the table keeps the key
/// wrapped only, and the item that holds it is not listed as a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_data_key_is_made_once_and_shared_by_every_sandbox() {
    use std::sync::Arc;

    use stratus_auth::sealing::SecretBox;
    use stratus_aws::dynamodb::{DynamoUserStore, tables};
    use stratus_aws::kms::{KmsDataKey, TOTP_KEY_CONTEXT};
    use stratus_core::ports::DataKeySource;

    stratus_tests::require_local_engines();
    let sdk = stratus_aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let table = format!("{}users", stratus_tests::unique_prefix());
    tables::ensure_table(&dynamodb, &table, &tables::USERS).await.unwrap();
    let key_arn = kms
        .create_key()
        .description("stratus test: TOTP data key wrapper")
        .send()
        .await
        .expect("a symmetric key on the local KMS")
        .key_metadata
        .and_then(|m| m.arn)
        .expect("a key ARN");
    let sandbox = || KmsDataKey::new(kms.clone(), dynamodb.clone(), table.clone(), key_arn.clone());

    // Nothing sealed yet: opening needs a key that does not exist, and none is made for it.
    let probe = sandbox();
    assert!(probe.data_key(false).await.is_err(), "no key yet");
    let raw = |dynamodb: aws_sdk_dynamodb::Client, table: String| async move {
        dynamodb.scan().table_name(table).send().await.unwrap().items.unwrap_or_default()
    };
    assert!(raw(dynamodb.clone(), table.clone()).await.is_empty(), "opening made nothing");

    // Two cold sandboxes seal at once: both end up with the one key the table keeps.
    let (first, second) = (sandbox(), sandbox());
    let (a, b) = futures::future::join(first.data_key(true), second.data_key(true)).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len(), 32);
    assert_eq!(a, b, "two sandboxes made two data keys");
    assert_eq!(sandbox().data_key(false).await.unwrap(), a);

    let items = raw(dynamodb.clone(), table.clone()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    let wrapped = item["wrapped"].as_b().expect("the key is kept as a blob").as_ref().to_vec();
    assert_ne!(wrapped, a);
    assert!(!wrapped.windows(a.len()).any(|w| w == a.as_slice()), "the table holds the key in the clear");
    assert_eq!(item["key_arn"].as_s().unwrap(), &key_arn);
    // Wrapped under the purpose's encryption context: KMS refuses to unwrap it without.
    let without_context = kms
        .decrypt()
        .key_id(&key_arn)
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped.clone()))
        .send()
        .await;
    assert!(without_context.is_err(), "the data key unwraps without {TOTP_KEY_CONTEXT:?}");

    // One sandbox seals, another opens; only for the owner it was sealed for.
    let sealer = SecretBox::new(Arc::new(sandbox()));
    let opener = SecretBox::new(Arc::new(sandbox()));
    let alice = uuid::Uuid::new_v4();
    let sealed = sealer.seal(b"twenty bytes secret!", alice.as_bytes()).await.unwrap();
    assert!(sealed.starts_with("v1."), "{sealed}");
    assert_eq!(opener.open(&sealed, alice.as_bytes()).await.unwrap(), b"twenty bytes secret!");
    assert!(opener.open(&sealed, uuid::Uuid::new_v4().as_bytes()).await.is_err(), "opened for another");
    let again = sealer.seal(b"twenty bytes secret!", alice.as_bytes()).await.unwrap();
    assert_ne!(again, sealed, "a fresh nonce each time");

    // Another stack (another table) has another key, or none: its sandboxes open nothing here.
    let other_table = format!("{}users", stratus_tests::unique_prefix());
    tables::ensure_table(&dynamodb, &other_table, &tables::USERS).await.unwrap();
    let stranger = SecretBox::new(Arc::new(KmsDataKey::new(
        kms.clone(),
        dynamodb.clone(),
        other_table,
        key_arn.clone(),
    )));
    assert!(stranger.open(&sealed, alice.as_bytes()).await.is_err());

    // The key's item shares the users table and is no user.
    let users = DynamoUserStore::new(dynamodb.clone(), table.clone());
    let ada = user("ada", "ada@example.com");
    users.create(&ada).await.unwrap();
    let listed = users.list(10, None).await.unwrap();
    assert_eq!(listed.items, vec![ada]);
    assert_eq!(listed.next, None);
}

on_both_backends!(
    the_count_of_active_admins_is_exact,
    two_admins_removing_each_other_at_once_leave_one,
    totp_begins_only_while_off_and_only_for_its_account,
    confirming_needs_the_pending_secret_and_a_later_step,
    concurrent_confirmations_turn_totp_on_once,
    a_totp_step_is_used_once_and_never_before_the_last,
    recovery_codes_are_spent_once,
    removing_totp_turns_it_off_for_this_account_only,
    other_writes_keep_the_authenticator,
    users_are_found_by_email_and_verified_once_proven,
    codes_are_spent_once,
    wrong_guesses_spend_a_code_and_expiry_ends_it,
    racing_guesses_are_judged_at_most_code_attempts_times,
    a_few_reset_codes_live_at_once,
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
