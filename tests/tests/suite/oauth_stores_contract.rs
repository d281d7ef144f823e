//! One contract for the OAuth provider's client and authorization stores, run against the
//! in-memory adapters and against DynamoDB Local.
//!
//! The stores are made here rather than taken from `wiring(backend)`: no function uses them
//! yet, so the local wiring does not carry them.

use std::collections::BTreeSet;

use stratus_aws::dynamodb::tables::{self, TableSpec};
use stratus_aws::dynamodb::{DynamoAuthorizationStore, DynamoClientStore};
use stratus_core::domain::{
    ClientAuthMethod, ClientId, GrantType, IdTokenAlg, OAuthClient, RedirectUri, Scopes, Username,
};
use stratus_core::ports::{
    AuthorizationStore, BrowserSession, ClientStore, ClientWriteError, CodeGrant, CodeRedemption,
};
use stratus_memory::oauth::{MemoryAuthorizationStore, MemoryClientStore};
use stratus_tests::{Backend, on_both_backends};
use time::{Duration, OffsetDateTime};

/// A fresh table of `spec` on DynamoDB Local, for one test.
async fn table(spec: &TableSpec) -> (aws_sdk_dynamodb::Client, String) {
    stratus_tests::require_local_engines();
    let client = aws_sdk_dynamodb::Client::new(&stratus_aws::sdk_config().await);
    let name = format!("{}{}", stratus_tests::unique_prefix(), spec.local_name);
    tables::ensure_table(&client, &name, spec).await.expect("a table on DynamoDB Local");
    (client, name)
}

async fn clients(backend: Backend) -> Box<dyn ClientStore> {
    match backend {
        Backend::Memory => Box::new(MemoryClientStore::default()),
        Backend::DynamoDb => {
            let (client, name) = table(&tables::OAUTH_CLIENTS).await;
            Box::new(DynamoClientStore::new(client, name))
        }
    }
}

async fn authorizations(backend: Backend) -> Box<dyn AuthorizationStore> {
    match backend {
        Backend::Memory => Box::new(MemoryAuthorizationStore::default()),
        Backend::DynamoDb => {
            let (client, name) = table(&tables::AUTHORIZATIONS).await;
            Box::new(DynamoAuthorizationStore::new(client, name))
        }
    }
}

/// Whole seconds: codes and sessions keep their times to the second.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn rand_hash() -> [u8; 32] {
    *uuid::Uuid::new_v4().as_bytes().repeat(2).first_chunk::<32>().unwrap()
}

fn client_id() -> ClientId {
    ClientId::parse(&uuid::Uuid::new_v4().simple().to_string()).unwrap()
}

fn uri(text: &str) -> RedirectUri {
    RedirectUri::parse(text).unwrap()
}

fn scopes(text: &str) -> Scopes {
    Scopes::parse(text).unwrap()
}

fn confidential_client() -> OAuthClient {
    OAuthClient {
        id: client_id(),
        secret_hash: Some(rand_hash()),
        registration_token_hash: rand_hash(),
        name: Some("Ada's app".into()),
        redirect_uris: vec![uri("https://app.example.com/cb"), uri("http://127.0.0.1:8080/cb?x=1")],
        post_logout_redirect_uris: vec![uri("https://app.example.com/bye")],
        grant_types: BTreeSet::from([GrantType::AuthorizationCode, GrantType::RefreshToken]),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        scope: scopes("openid profile email offline_access api"),
        first_party: false,
        id_token_alg: IdTokenAlg::ES256,
        // Not whole seconds: a client's registration time is kept as given.
        created_at: now() + Duration::nanoseconds(123_456_789),
    }
}

/// What a store must keep as well: no secret, no name, empty lists and an empty scope.
fn bare_public_client() -> OAuthClient {
    OAuthClient {
        id: client_id(),
        secret_hash: None,
        registration_token_hash: rand_hash(),
        name: None,
        redirect_uris: vec![uri("com.example.app:/oauth")],
        post_logout_redirect_uris: vec![],
        grant_types: BTreeSet::from([GrantType::AuthorizationCode]),
        auth_method: ClientAuthMethod::None,
        scope: Scopes::default(),
        first_party: true,
        id_token_alg: IdTokenAlg::RS256,
        created_at: now(),
    }
}

async fn clients_are_created_read_replaced_and_deleted(backend: Backend) {
    let clients = clients(backend).await;
    let ada = confidential_client();
    let public = bare_public_client();
    clients.create(&ada).await.unwrap();
    clients.create(&public).await.unwrap();
    assert_eq!(clients.get(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(clients.get(&public.id).await.unwrap(), Some(public.clone()));
    assert_eq!(clients.get(&client_id()).await.unwrap(), None);

    // An id taken is refused, and the client that has it is left as it was.
    let impostor = OAuthClient { name: Some("impostor".into()), ..confidential_client() };
    assert!(clients.create(&OAuthClient { id: ada.id.clone(), ..impostor }).await.is_err());
    assert_eq!(clients.get(&ada.id).await.unwrap(), Some(ada.clone()));

    let updated = OAuthClient {
        name: None,
        redirect_uris: vec![uri("https://app.example.com/callback")],
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        auth_method: ClientAuthMethod::ClientSecretPost,
        scope: scopes("api"),
        secret_hash: Some(rand_hash()),
        ..ada.clone()
    };
    clients.replace(&updated).await.unwrap();
    assert_eq!(clients.get(&ada.id).await.unwrap(), Some(updated.clone()));
    assert_eq!(clients.get(&public.id).await.unwrap(), Some(public.clone()), "the other is untouched");

    assert!(clients.delete(&ada.id).await.unwrap());
    assert!(!clients.delete(&ada.id).await.unwrap());
    assert_eq!(clients.get(&ada.id).await.unwrap(), None);
    assert_eq!(clients.get(&public.id).await.unwrap(), Some(public));
}

/// An update racing a delete must not bring the client back.
async fn replacing_a_missing_client_is_not_found(backend: Backend) {
    let clients = clients(backend).await;
    let never = confidential_client();
    assert!(matches!(clients.replace(&never).await, Err(ClientWriteError::NotFound)));
    assert_eq!(clients.get(&never.id).await.unwrap(), None);

    let gone = confidential_client();
    clients.create(&gone).await.unwrap();
    assert!(clients.delete(&gone.id).await.unwrap());
    assert!(matches!(clients.replace(&gone).await, Err(ClientWriteError::NotFound)));
    assert_eq!(clients.get(&gone.id).await.unwrap(), None);
}

fn grant(expires_at: OffsetDateTime) -> CodeGrant {
    CodeGrant {
        code_hash: rand_hash(),
        client_id: client_id(),
        redirect_uri: uri("https://app.example.com/cb"),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        user_id: uuid::Uuid::new_v4(),
        username: Username::parse("ada").unwrap(),
        generation: uuid::Uuid::new_v4(),
        scope: scopes("openid profile offline_access"),
        auth_time: now() - Duration::minutes(5),
        amr: vec!["pwd".into(), "otp".into()],
        family: uuid::Uuid::new_v4(),
        expires_at,
    }
}

async fn codes_are_redeemed_once(backend: Backend) {
    let store = authorizations(backend).await;
    let code = grant(now() + Duration::seconds(60));
    store.issue_code(&code).await.unwrap();
    assert_eq!(
        store.redeem_code(&code.code_hash, now()).await.unwrap(),
        CodeRedemption::Redeemed(code.clone())
    );
    assert_eq!(
        store.redeem_code(&code.code_hash, now()).await.unwrap(),
        CodeRedemption::Reused(code.clone())
    );
    assert_eq!(
        store.redeem_code(&code.code_hash, now()).await.unwrap(),
        CodeRedemption::Reused(code.clone())
    );
    assert_eq!(store.redeem_code(&rand_hash(), now()).await.unwrap(), CodeRedemption::Unknown);

    // No nonce, one method: a grant keeps what it has, and no more.
    let bare = CodeGrant { nonce: None, amr: vec!["pwd".into()], ..grant(now() + Duration::seconds(60)) };
    store.issue_code(&bare).await.unwrap();
    assert_eq!(store.redeem_code(&bare.code_hash, now()).await.unwrap(), CodeRedemption::Redeemed(bare));
}

/// An expired code was never redeemed: it is unknown. One redeemed in time and replayed after
/// it expired is still a replay, so the first redemption's tokens can be revoked.
async fn expired_codes_are_unknown_but_late_replays_are_recognised(backend: Backend) {
    let store = authorizations(backend).await;
    let expires_at = now() + Duration::seconds(60);
    let late = grant(expires_at);
    store.issue_code(&late).await.unwrap();
    assert_eq!(store.redeem_code(&late.code_hash, expires_at).await.unwrap(), CodeRedemption::Unknown);
    let later = expires_at + Duration::seconds(1);
    assert_eq!(store.redeem_code(&late.code_hash, later).await.unwrap(), CodeRedemption::Unknown);

    let used = grant(expires_at);
    store.issue_code(&used).await.unwrap();
    let last_moment = expires_at - Duration::seconds(1);
    assert_eq!(
        store.redeem_code(&used.code_hash, last_moment).await.unwrap(),
        CodeRedemption::Redeemed(used.clone())
    );
    let replayed = expires_at + Duration::minutes(10);
    assert_eq!(store.redeem_code(&used.code_hash, replayed).await.unwrap(), CodeRedemption::Reused(used));
}

/// A code can be read without being used, so that a token request does everything that can
/// fail before it spends the code; an expired code reads as absent, a used one as used.
async fn a_peeked_code_is_left_as_it_was(backend: Backend) {
    let store = authorizations(backend).await;
    let expires_at = now() + Duration::seconds(60);
    let code = grant(expires_at);
    store.issue_code(&code).await.unwrap();
    assert_eq!(store.peek_code(&code.code_hash, now()).await.unwrap(), Some((code.clone(), false)));
    assert_eq!(store.peek_code(&code.code_hash, now()).await.unwrap(), Some((code.clone(), false)));
    assert_eq!(
        store.redeem_code(&code.code_hash, now()).await.unwrap(),
        CodeRedemption::Redeemed(code.clone())
    );
    let replayed = expires_at + Duration::minutes(10);
    assert_eq!(store.peek_code(&code.code_hash, replayed).await.unwrap(), Some((code, true)));
    assert_eq!(store.peek_code(&rand_hash(), now()).await.unwrap(), None);
    let late = grant(expires_at);
    store.issue_code(&late).await.unwrap();
    assert_eq!(store.peek_code(&late.code_hash, expires_at).await.unwrap(), None);
}

/// Codes are random, so a hash issued twice is a bug; reissuing must not make a used code live.
async fn a_code_is_issued_once(backend: Backend) {
    let store = authorizations(backend).await;
    let code = grant(now() + Duration::seconds(60));
    store.issue_code(&code).await.unwrap();
    assert!(matches!(store.redeem_code(&code.code_hash, now()).await.unwrap(), CodeRedemption::Redeemed(_)));
    assert!(store.issue_code(&code).await.is_err());
    assert_eq!(store.redeem_code(&code.code_hash, now()).await.unwrap(), CodeRedemption::Reused(code));
}

async fn concurrent_redemptions_have_one_winner(backend: Backend) {
    let store = authorizations(backend).await;
    let code = grant(now() + Duration::seconds(60));
    store.issue_code(&code).await.unwrap();
    let results = futures::future::join_all((0..8).map(|_| store.redeem_code(&code.code_hash, now()))).await;
    let redeemed =
        results.iter().filter(|r| matches!(r, Ok(CodeRedemption::Redeemed(g)) if *g == code)).count();
    let reused = results.iter().filter(|r| matches!(r, Ok(CodeRedemption::Reused(g)) if *g == code)).count();
    assert_eq!((redeemed, reused), (1, 7), "{results:?}");
}

fn session(expires_at: OffsetDateTime) -> BrowserSession {
    BrowserSession {
        id_hash: rand_hash(),
        user_id: uuid::Uuid::new_v4(),
        username: Username::parse("ada").unwrap(),
        generation: uuid::Uuid::new_v4(),
        auth_time: now(),
        amr: vec!["pwd".into()],
        awaiting_second_factor: true,
        expires_at,
    }
}

async fn sessions_are_put_replaced_read_and_ended(backend: Backend) {
    let store = authorizations(backend).await;
    let expires_at = now() + Duration::hours(8);
    let half = session(expires_at);
    store.put_session(&half).await.unwrap();
    assert_eq!(store.session(&half.id_hash, now()).await.unwrap(), Some(half.clone()));

    // The second factor done: the same session, replaced whole.
    let full = BrowserSession {
        awaiting_second_factor: false,
        amr: vec!["pwd".into(), "otp".into()],
        ..half.clone()
    };
    store.put_session(&full).await.unwrap();
    assert_eq!(store.session(&full.id_hash, now()).await.unwrap(), Some(full.clone()));

    let other = session(expires_at);
    store.put_session(&other).await.unwrap();
    store.end_session(&full.id_hash).await.unwrap();
    assert_eq!(store.session(&full.id_hash, now()).await.unwrap(), None);
    store.end_session(&full.id_hash).await.unwrap();
    assert_eq!(store.session(&other.id_hash, now()).await.unwrap(), Some(other), "only the one ended");
    assert_eq!(store.session(&rand_hash(), now()).await.unwrap(), None);
}

async fn expired_sessions_are_absent(backend: Backend) {
    let store = authorizations(backend).await;
    let expires_at = now() + Duration::hours(8);
    let ada = session(expires_at);
    store.put_session(&ada).await.unwrap();
    let last_moment = expires_at - Duration::seconds(1);
    assert_eq!(store.session(&ada.id_hash, last_moment).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.session(&ada.id_hash, expires_at).await.unwrap(), None);
    assert_eq!(store.session(&ada.id_hash, expires_at + Duration::days(1)).await.unwrap(), None);
}

async fn consents_are_per_user_and_client_and_replaced(backend: Backend) {
    let store = authorizations(backend).await;
    let (ada, grace) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let (app, other_app) = (client_id(), client_id());
    assert_eq!(store.consent(ada, &app).await.unwrap(), None);

    store.record_consent(ada, &app, &scopes("openid profile email")).await.unwrap();
    assert_eq!(store.consent(ada, &app).await.unwrap(), Some(scopes("openid profile email")));
    assert_eq!(store.consent(ada, &other_app).await.unwrap(), None);
    assert_eq!(store.consent(grace, &app).await.unwrap(), None);

    store.record_consent(ada, &app, &scopes("openid")).await.unwrap();
    assert_eq!(store.consent(ada, &app).await.unwrap(), Some(scopes("openid")));
}

on_both_backends!(
    a_peeked_code_is_left_as_it_was,
    clients_are_created_read_replaced_and_deleted,
    replacing_a_missing_client_is_not_found,
    codes_are_redeemed_once,
    expired_codes_are_unknown_but_late_replays_are_recognised,
    a_code_is_issued_once,
    concurrent_redemptions_have_one_winner,
    sessions_are_put_replaced_read_and_ended,
    expired_sessions_are_absent,
    consents_are_per_user_and_client_and_replaced,
);
