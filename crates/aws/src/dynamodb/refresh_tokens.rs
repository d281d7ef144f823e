use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{corrupt, put_if, store_error};
use stratus_core::domain::{ClientId, Scopes, Username};
use stratus_core::ports::{ClientGrant, RefreshRecord, RefreshTokenStore, Spend, StoreError};

pub struct DynamoRefreshTokenStore {
    client: Client,
    table: String,
}

impl DynamoRefreshTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(pk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(pk))])
    }

    async fn read_token(&self, pk: &str) -> Result<Option<TokenItem>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))).transpose()
    }
}

#[derive(Serialize, Deserialize)]
struct TokenItem {
    pk: String,
    username: Username,
    family: Uuid,
    /// Epoch seconds of the login the family comes from.
    family_started_at: i64,
    /// Tokens stored before generations existed have the nil one, as their users do.
    #[serde(default)]
    generation: Uuid,
    /// Epoch seconds: DynamoDB's TTL attribute.
    expires_at: i64,
    spent: bool,
    /// The attempt that spent it (a random id per `spend`): the SDK sends an attempt again when
    /// its answer was lost, and the condition that then fails must not read as a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spent_by: Option<String>,
    /// Only on the tokens of an OAuth client's grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<ClientItem>,
}

/// An OAuth grant's client, scope and `auth_time` (epoch seconds).
#[derive(Serialize, Deserialize)]
struct ClientItem {
    client_id: ClientId,
    scope: Scopes,
    auth_time: i64,
}

impl TokenItem {
    fn record(&self, token_hash: [u8; 32]) -> Result<RefreshRecord, String> {
        let time = |seconds| OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| e.to_string());
        Ok(RefreshRecord {
            token_hash,
            username: self.username.clone(),
            family: self.family,
            family_started_at: time(self.family_started_at)?,
            generation: self.generation,
            expires_at: time(self.expires_at)?,
            client: match &self.client {
                Some(client) => Some(ClientGrant {
                    client_id: client.client_id.clone(),
                    scope: client.scope.clone(),
                    auth_time: time(client.auth_time)?,
                }),
                None => None,
            },
        })
    }
}

#[derive(Serialize)]
struct FamilyItem {
    pk: String,
    expires_at: i64,
}

fn token_pk(hash: &[u8; 32]) -> String {
    format!("TOKEN#{}", hex::encode(hash))
}

fn family_pk(family: Uuid) -> String {
    format!("FAMILY#{family}")
}

#[async_trait]
impl RefreshTokenStore for DynamoRefreshTokenStore {
    async fn insert(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        let item = TokenItem {
            pk: token_pk(&record.token_hash),
            username: record.username.clone(),
            family: record.family,
            family_started_at: record.family_started_at.unix_timestamp(),
            generation: record.generation,
            expires_at: record.expires_at.unix_timestamp(),
            spent: false,
            spent_by: None,
            client: record.client.as_ref().map(|client| ClientItem {
                client_id: client.client_id.clone(),
                scope: client.scope.clone(),
                auth_time: client.auth_time.unix_timestamp(),
            }),
        };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        // The token is 256 random bits: an item already under its hash is this very write,
        // applied before its answer was lost and sent again by the SDK's retry.
        put_if(put).await?;
        Ok(())
    }

    async fn spend(
        &self,
        token_hash: &[u8; 32],
        owner: Option<&Username>,
        now: OffsetDateTime,
    ) -> Result<Spend, StoreError> {
        let pk = token_pk(token_hash);
        let attempt = Uuid::new_v4().to_string();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.clone())))
            .update_expression("SET spent = :yes, spent_by = :attempt")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":attempt", AttributeValue::S(attempt.clone()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
            .return_values(ReturnValue::AllNew);
        // TTL deletes lazily: an expired item may still be there and must count as absent.
        let live = "attribute_exists(pk) AND spent = :no AND expires_at > :now";
        update = match owner {
            // Ownership is part of the write: another user's token is never spent, so it can
            // never be made to look replayed.
            Some(owner) => update
                .condition_expression(format!("{live} AND username = :owner"))
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_string())),
            None => update.condition_expression(live),
        };
        let result = update.send().await;
        match result {
            Ok(output) => {
                let item: TokenItem = serde_dynamo::from_item(output.attributes.unwrap_or_default())
                    .map_err(|e| corrupt(&self.table, e))?;
                Ok(Spend::Spent(item.record(*token_hash).map_err(|e| corrupt(&self.table, e))?))
            }
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(match self.read_token(&pk).await? {
                    // This very spend, applied before its answer was lost and sent again by
                    // the SDK: spent by us, not replayed.
                    Some(item) if item.spent_by.as_deref() == Some(attempt.as_str()) => {
                        Spend::Spent(item.record(*token_hash).map_err(|e| corrupt(&self.table, e))?)
                    }
                    Some(item) if owner.is_some_and(|owner| *owner != item.username) => Spend::Unknown,
                    Some(item) if item.spent && item.expires_at > now.unix_timestamp() => {
                        Spend::Replayed(item.record(*token_hash).map_err(|e| corrupt(&self.table, e))?)
                    }
                    _ => Spend::Unknown,
                })
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn peek(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<(RefreshRecord, bool)>, StoreError> {
        match self.read_token(&token_pk(token_hash)).await? {
            Some(item) if item.expires_at > now.unix_timestamp() => {
                let record = item.record(*token_hash).map_err(|e| corrupt(&self.table, e))?;
                Ok(Some((record, item.spent)))
            }
            _ => Ok(None),
        }
    }

    async fn revoke_family(&self, family: Uuid, until: OffsetDateTime) -> Result<(), StoreError> {
        let item = FamilyItem { pk: family_pk(family), expires_at: until.unix_timestamp() };
        let item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn is_family_revoked(&self, family: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(family_pk(family))))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output
            .item
            .and_then(|item| match item.get("expires_at") {
                Some(AttributeValue::N(until)) => until.parse::<i64>().ok(),
                _ => None,
            })
            .is_some_and(|until| until > now.unix_timestamp()))
    }
}
