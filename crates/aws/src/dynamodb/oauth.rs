//! The OAuth provider's stores: registered clients in one table, and in another the
//! authorization server's state about users (codes, browser sessions, consents).
//!
//! Codes and sessions keep their times to the second, as the tokens that carry them do.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{corrupt, put_if, store_error};
use stratus_core::domain::{
    ClientAuthMethod, ClientId, GrantType, IdTokenAlg, OAuthClient, RedirectUri, Scopes, Username,
};
use stratus_core::ports::{
    AuthorizationStore, BrowserSession, ClientStore, ClientWriteError, CodeGrant, CodeRedemption, StoreError,
};

/// How long a code's item outlives the code: a replay within this time is still told from a
/// code never issued, so the first redemption's tokens can be revoked.
const CODE_REPLAY_MEMORY: Duration = Duration::hours(1);

/// How long a consent is kept after it was last given. The consent of an account or a client
/// that is gone then goes too; a user who still uses the client is asked again after this long.
const CONSENT_LIFETIME: Duration = Duration::days(400);

type Item = HashMap<String, AttributeValue>;

fn key(pk: String) -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(pk))])
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn time(seconds: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| e.to_string())
}

fn hash(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|e| e.to_string())?;
    bytes.try_into().map_err(|_| format!("{text:?} is not a SHA-256"))
}

pub struct DynamoClientStore {
    client: Client,
    table: String,
}

impl DynamoClientStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn item(&self, client: &OAuthClient) -> Result<Item, StoreError> {
        let item = ClientItem {
            pk: client.id.clone(),
            secret_hash: client.secret_hash.map(hex::encode),
            registration_token_hash: hex::encode(client.registration_token_hash),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            grant_types: client.grant_types.clone(),
            auth_method: client.auth_method,
            scope: client.scope.clone(),
            first_party: client.first_party,
            id_token_alg: client.id_token_alg,
            created_at: client.created_at,
        };
        serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))
    }

    /// Puts the client's item on `condition`: `Ok(false)` when the condition failed.
    async fn put(&self, client: &OAuthClient, condition: &str) -> Result<bool, StoreError> {
        let item = self.item(client)?;
        put_if(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition),
        )
        .await
    }
}

/// A client's metadata, its secret and registration access token as hex SHA-256.
#[derive(Serialize, Deserialize)]
struct ClientItem {
    pk: ClientId,
    /// Absent for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_hash: Option<String>,
    registration_token_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    redirect_uris: Vec<RedirectUri>,
    post_logout_redirect_uris: Vec<RedirectUri>,
    grant_types: BTreeSet<GrantType>,
    auth_method: ClientAuthMethod,
    scope: Scopes,
    first_party: bool,
    id_token_alg: IdTokenAlg,
    /// RFC 3339, as the users table keeps its times: nothing compares it in a condition.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl ClientItem {
    fn client(self) -> Result<OAuthClient, String> {
        Ok(OAuthClient {
            id: self.pk,
            secret_hash: self.secret_hash.as_deref().map(hash).transpose()?,
            registration_token_hash: hash(&self.registration_token_hash)?,
            name: self.name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            auth_method: self.auth_method,
            scope: self.scope,
            first_party: self.first_party,
            id_token_alg: self.id_token_alg,
            created_at: self.created_at,
        })
    }
}

fn client_key(id: &ClientId) -> Item {
    key(id.as_str().to_owned())
}

#[async_trait]
impl ClientStore for DynamoClientStore {
    async fn create(&self, client: &OAuthClient) -> Result<(), StoreError> {
        if self.put(client, "attribute_not_exists(pk)").await? {
            return Ok(());
        }
        // The SDK sends a put again when the answer to the first was lost after it was applied:
        // the item there is then this one, known by its registration token's hash (256 random
        // bits, made for this registration alone).
        match self.get(&client.id).await? {
            Some(stored) if stored.registration_token_hash == client.registration_token_hash => Ok(()),
            _ => Err(StoreError::Internal(format!("client id {} is taken", client.id))),
        }
    }

    async fn get(&self, id: &ClientId) -> Result<Option<OAuthClient>, StoreError> {
        // Consistent: a client just registered or updated is used at once by its developer.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(client_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let item: ClientItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        item.client().map(Some).map_err(|e| corrupt(&self.table, e))
    }

    async fn replace(&self, client: &OAuthClient) -> Result<(), ClientWriteError> {
        // Without the condition, an update racing a delete would bring the client back.
        if self.put(client, "attribute_exists(pk)").await? { Ok(()) } else { Err(ClientWriteError::NotFound) }
    }

    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(client_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }
}

pub struct DynamoAuthorizationStore {
    client: Client,
    table: String,
}

impl DynamoAuthorizationStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn read(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// Puts the item, on `condition` if any: `Ok(false)` when the condition failed.
    async fn put(&self, item: Item, condition: Option<&str>) -> Result<bool, StoreError> {
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        put_if(put.set_condition_expression(condition.map(str::to_owned))).await
    }
}

fn code_pk(hash: &[u8; 32]) -> String {
    format!("CODE#{}", hex::encode(hash))
}

fn session_pk(hash: &[u8; 32]) -> String {
    format!("SESSION#{}", hex::encode(hash))
}

fn consent_pk(user_id: Uuid, client_id: &ClientId) -> String {
    format!("CONSENT#{user_id}#{client_id}")
}

#[derive(Serialize, Deserialize)]
struct CodeItem {
    pk: String,
    client_id: ClientId,
    redirect_uri: RedirectUri,
    code_challenge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    user_id: Uuid,
    username: Username,
    generation: Uuid,
    scope: Scopes,
    /// Epoch seconds.
    auth_time: i64,
    amr: Vec<String>,
    family: Uuid,
    /// Epoch seconds until which the code may be redeemed.
    expires_at_logical: i64,
    /// Epoch seconds: DynamoDB's TTL attribute, `CODE_REPLAY_MEMORY` after the code's expiry.
    expires_at: i64,
    used: bool,
}

impl CodeItem {
    fn grant(&self, code_hash: [u8; 32]) -> Result<CodeGrant, String> {
        Ok(CodeGrant {
            code_hash,
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            code_challenge: self.code_challenge.clone(),
            nonce: self.nonce.clone(),
            user_id: self.user_id,
            username: self.username.clone(),
            generation: self.generation,
            scope: self.scope.clone(),
            auth_time: time(self.auth_time)?,
            amr: self.amr.clone(),
            family: self.family,
            expires_at: time(self.expires_at_logical)?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct SessionItem {
    pk: String,
    user_id: Uuid,
    username: Username,
    generation: Uuid,
    /// Epoch seconds.
    auth_time: i64,
    amr: Vec<String>,
    awaiting_second_factor: bool,
    /// Epoch seconds: the session's end, and DynamoDB's TTL attribute.
    expires_at: i64,
}

impl SessionItem {
    fn session(&self, id_hash: [u8; 32]) -> Result<BrowserSession, String> {
        Ok(BrowserSession {
            id_hash,
            user_id: self.user_id,
            username: self.username.clone(),
            generation: self.generation,
            auth_time: time(self.auth_time)?,
            amr: self.amr.clone(),
            awaiting_second_factor: self.awaiting_second_factor,
            expires_at: time(self.expires_at)?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct ConsentItem {
    pk: String,
    scope: Scopes,
    /// Epoch seconds: DynamoDB's TTL attribute, `CONSENT_LIFETIME` after the consent was given.
    expires_at: i64,
}

#[async_trait]
impl AuthorizationStore for DynamoAuthorizationStore {
    async fn issue_code(&self, grant: &CodeGrant) -> Result<(), StoreError> {
        let expires_at = grant.expires_at.unix_timestamp();
        let item = CodeItem {
            pk: code_pk(&grant.code_hash),
            client_id: grant.client_id.clone(),
            redirect_uri: grant.redirect_uri.clone(),
            code_challenge: grant.code_challenge.clone(),
            nonce: grant.nonce.clone(),
            user_id: grant.user_id,
            username: grant.username.clone(),
            generation: grant.generation,
            scope: grant.scope.clone(),
            auth_time: grant.auth_time.unix_timestamp(),
            amr: grant.amr.clone(),
            family: grant.family,
            expires_at_logical: expires_at,
            expires_at: (grant.expires_at + CODE_REPLAY_MEMORY).unix_timestamp(),
            used: false,
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        // Codes are random: a hash already there is a bug, and overwriting it would make a
        // used code redeemable again.
        if self.put(item, Some("attribute_not_exists(pk)")).await? {
            Ok(())
        } else {
            Err(StoreError::Internal("an authorization code with this hash was issued before".into()))
        }
    }

    async fn peek_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(CodeGrant, bool)>, StoreError> {
        let Some(item) = self.read(code_pk(code_hash)).await? else { return Ok(None) };
        let item: CodeItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        let now = now.unix_timestamp();
        // A used code is remembered past its expiry (TTL deletes lazily: past that it is gone).
        let live = if item.used { item.expires_at > now } else { item.expires_at_logical > now };
        if !live {
            return Ok(None);
        }
        Ok(Some((item.grant(*code_hash).map_err(|e| corrupt(&self.table, e))?, item.used)))
    }

    /// One conditional update marks the code used, so of concurrent redemptions one wins; a
    /// loser reads the item to tell a replay from a code that never was or has expired, and
    /// from this very redemption, applied before its answer was lost and sent again by the SDK.
    async fn redeem_code(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption, StoreError> {
        let pk = code_pk(code_hash);
        let attempt = Uuid::new_v4().to_string();
        let redeemed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone())))
            .update_expression("SET used = :true, used_by = :attempt")
            .condition_expression("attribute_exists(pk) AND used = :false AND expires_at_logical > :now")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":attempt", AttributeValue::S(attempt.clone()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", number(now.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match redeemed {
            Ok(output) => {
                let item: CodeItem = serde_dynamo::from_item(output.attributes.unwrap_or_default())
                    .map_err(|e| corrupt(&self.table, e))?;
                Ok(CodeRedemption::Redeemed(item.grant(*code_hash).map_err(|e| corrupt(&self.table, e))?))
            }
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                let Some(item) = self.read(pk).await? else { return Ok(CodeRedemption::Unknown) };
                let ours = item.get("used_by").and_then(|v| v.as_s().ok()) == Some(&attempt);
                let item: CodeItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
                if ours {
                    return Ok(CodeRedemption::Redeemed(
                        item.grant(*code_hash).map_err(|e| corrupt(&self.table, e))?,
                    ));
                }
                // TTL deletes lazily: an item past it counts as gone.
                Ok(if item.used && item.expires_at > now.unix_timestamp() {
                    CodeRedemption::Reused(item.grant(*code_hash).map_err(|e| corrupt(&self.table, e))?)
                } else {
                    CodeRedemption::Unknown
                })
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn put_session(&self, session: &BrowserSession) -> Result<(), StoreError> {
        let item = SessionItem {
            pk: session_pk(&session.id_hash),
            user_id: session.user_id,
            username: session.username.clone(),
            generation: session.generation,
            auth_time: session.auth_time.unix_timestamp(),
            amr: session.amr.clone(),
            awaiting_second_factor: session.awaiting_second_factor,
            expires_at: session.expires_at.unix_timestamp(),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        self.put(item, None).await.map(|_| ())
    }

    async fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let Some(item) = self.read(session_pk(id_hash)).await? else { return Ok(None) };
        let item: SessionItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        if item.expires_at <= now.unix_timestamp() {
            return Ok(None);
        }
        item.session(*id_hash).map(Some).map_err(|e| corrupt(&self.table, e))
    }

    async fn end_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(id_hash))))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn consent(&self, user_id: Uuid, client_id: &ClientId) -> Result<Option<Scopes>, StoreError> {
        let Some(item) = self.read(consent_pk(user_id, client_id)).await? else { return Ok(None) };
        let item: ConsentItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        // The port passes no time here: the lifetime is measured as the TTL is, by the wall clock.
        Ok((item.expires_at > OffsetDateTime::now_utc().unix_timestamp()).then_some(item.scope))
    }

    async fn record_consent(
        &self,
        user_id: Uuid,
        client_id: &ClientId,
        scope: &Scopes,
    ) -> Result<(), StoreError> {
        let item = ConsentItem {
            pk: consent_pk(user_id, client_id),
            scope: scope.clone(),
            expires_at: (OffsetDateTime::now_utc() + CONSENT_LIFETIME).unix_timestamp(),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        self.put(item, None).await.map(|_| ())
    }
}
