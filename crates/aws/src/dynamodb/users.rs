use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{corrupt, store_error, transact};
use stratus_core::domain::{Email, PasswordHash, Role, TotpEnrollment, User, Username};
use stratus_core::ports::{CreateUserError, Page, StoreError, UserStore};

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

type Item = HashMap<String, AttributeValue>;

const USER_PREFIX: &str = "USER#";
const EMAIL_PREFIX: &str = "EMAIL#";
const SCAN_PAGE: i32 = 100;

fn user_key(username: &Username) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), AttributeValue::S(format!("{USER_PREFIX}{username}")))])
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    pk: String,
    #[serde(flatten)]
    user: User,
}

#[derive(Serialize)]
struct EmailGuardItem<'a> {
    pk: String,
    username: &'a Username,
}

#[derive(Deserialize)]
struct EmailGuard {
    username: Username,
}

fn put(table: &str, item: HashMap<String, AttributeValue>) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("table and item are set");
    TransactWriteItem::builder().put(put).build()
}

/// An update of an existing user (`attribute_exists(pk)`): false when there was none.
fn updated<T>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<UpdateItemError, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(store_error(error)),
    }
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let item = UserItem { pk: format!("{USER_PREFIX}{}", user.username), user: user.clone() };
        let item: Item = serde_dynamo::to_item(item).map_err(|e| corrupt(&self.table, e))?;
        let guard =
            EmailGuardItem { pk: format!("{EMAIL_PREFIX}{}", user.email.key()), username: &user.username };
        let guard: Item = serde_dynamo::to_item(guard).map_err(|e| corrupt(&self.table, e))?;
        let items = vec![put(&self.table, item), put(&self.table, guard)];
        match transact(&self.client, items).await? {
            Ok(()) => Ok(()),
            Err(codes) if codes[0] == "ConditionalCheckFailed" => Err(CreateUserError::UsernameTaken),
            Err(_) => Err(CreateUserError::EmailTaken),
        }
    }

    async fn get(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(username)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let item: UserItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        Ok(Some(item.user))
    }

    /// The email's guard names the account: two consistent reads.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{EMAIL_PREFIX}{}", email.key())))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let guard: EmailGuard = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
        // A guard whose account was re-registered under another address points nowhere now.
        Ok(self.get(&guard.username).await?.filter(|user| user.email.key() == email.key()))
    }

    async fn mark_email_verified(&self, user: &User) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression("id = :id AND email = :email")
            .update_expression("SET email_verified = :verified")
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":email", AttributeValue::S(user.email.to_string()))
            .expression_attribute_values(":verified", AttributeValue::Bool(true))
            .send()
            .await;
        updated(result)
    }

    async fn record_login(
        &self,
        username: &Username,
        at: OffsetDateTime,
        rehashed: Option<&PasswordHash>,
    ) -> Result<(), StoreError> {
        let at =
            at.format(&time::format_description::well_known::Rfc3339).map_err(|e| corrupt(&self.table, e))?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(username)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", AttributeValue::S(at));
        update = match rehashed {
            Some(hash) => update
                .update_expression("SET last_login = :at, password_hash = :hash")
                .expression_attribute_values(":hash", AttributeValue::S(hash.as_phc().to_owned())),
            None => update.update_expression("SET last_login = :at"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Deleted between the password check and now: nothing left to stamp.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn set_password(
        &self,
        username: &Username,
        hash: &PasswordHash,
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(username)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET password_hash = :hash, session_generation = :generation")
            .expression_attribute_values(":hash", AttributeValue::S(hash.as_phc().to_owned()))
            .expression_attribute_values(":generation", AttributeValue::S(generation.to_string()))
            .send()
            .await;
        updated(result)
    }

    /// One transaction: the user (if it is still this account) and its email's guard.
    async fn delete(&self, user: &User) -> Result<bool, StoreError> {
        let account = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression("id = :id")
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .build()
            .expect("table and key are set");
        let guard = Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("{EMAIL_PREFIX}{}", user.email.key())))
            .condition_expression("username = :username")
            .expression_attribute_values(":username", AttributeValue::S(user.username.to_string()))
            .build()
            .expect("table and key are set");
        let items = vec![
            TransactWriteItem::builder().delete(account).build(),
            TransactWriteItem::builder().delete(guard).build(),
        ];
        Ok(transact(&self.client, items).await?.is_ok())
    }

    async fn set_disabled(
        &self,
        username: &Username,
        disabled: bool,
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(username)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET disabled = :disabled, session_generation = :generation")
            .expression_attribute_values(":disabled", AttributeValue::Bool(disabled))
            .expression_attribute_values(":generation", AttributeValue::S(generation.to_string()))
            .send()
            .await;
        updated(result)
    }

    async fn set_role(&self, username: &Username, role: Role) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(username)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET #role = :role")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":role", AttributeValue::S(role.as_str().to_owned()))
            .send()
            .await;
        updated(result)
    }

    /// A filtered scan: users in the table's own order, resumable after any user's key.
    async fn list(&self, limit: usize, after: Option<&Username>) -> Result<Page<User>, StoreError> {
        let mut items = Vec::new();
        let mut start = after.map(user_key);
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :user)")
                .expression_attribute_values(":user", AttributeValue::S(USER_PREFIX.to_owned()))
                .set_exclusive_start_key(start.take())
                .limit(SCAN_PAGE)
                .send()
                .await
                .map_err(store_error)?;
            let mut page = output.items.unwrap_or_default().into_iter();
            for item in page.by_ref() {
                let item: UserItem = serde_dynamo::from_item(item).map_err(|e| corrupt(&self.table, e))?;
                items.push(item.user);
                if items.len() == limit {
                    break;
                }
            }
            let more_in_table = page.len() > 0 || output.last_evaluated_key.is_some();
            if items.len() == limit {
                let next = if more_in_table { items.last().map(|u| u.username.clone()) } else { None };
                return Ok(Page { items, next });
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(Page { items, next: None }),
            }
        }
    }

    async fn begin_totp(&self, user: &User, sealed_secret: &str) -> Result<bool, StoreError> {
        let pending = TotpEnrollment {
            sealed_secret: sealed_secret.to_owned(),
            confirmed: false,
            last_step: 0,
            recovery_codes: Vec::new(),
        };
        let pending = serde_dynamo::to_attribute_value(pending).map_err(|e| corrupt(&self.table, e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression("id = :id AND (attribute_not_exists(totp) OR totp.confirmed = :false)")
            .update_expression("SET totp = :pending")
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":pending", pending)
            .send()
            .await;
        updated(result)
    }

    async fn confirm_totp(
        &self,
        user: &User,
        step: i64,
        recovery_hashes: &[String],
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let Some(read) = &user.totp else { return Ok(false) };
        let codes = recovery_hashes.iter().map(|hash| AttributeValue::S(hash.clone())).collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression(
                "id = :id AND totp.sealed_secret = :sealed AND totp.confirmed = :false AND totp.last_step < :step",
            )
            .update_expression(
                "SET totp.confirmed = :true, totp.last_step = :step, totp.recovery_codes = :codes, \
                 session_generation = :generation",
            )
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":sealed", AttributeValue::S(read.sealed_secret.clone()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":step", AttributeValue::N(step.to_string()))
            .expression_attribute_values(":codes", AttributeValue::L(codes))
            .expression_attribute_values(":generation", AttributeValue::S(generation.to_string()))
            .send()
            .await;
        updated(result)
    }

    async fn use_totp_step(&self, user: &User, step: i64) -> Result<bool, StoreError> {
        let Some(read) = &user.totp else { return Ok(false) };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression(
                "id = :id AND totp.sealed_secret = :sealed AND totp.confirmed = :true AND totp.last_step < :step",
            )
            .update_expression("SET totp.last_step = :step")
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":sealed", AttributeValue::S(read.sealed_secret.clone()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":step", AttributeValue::N(step.to_string()))
            .send()
            .await;
        updated(result)
    }

    /// Removes the list element by index, on condition it is still this hash. Another code spent
    /// meanwhile shifts the list: read again and retry, a few times at most.
    async fn spend_recovery_code(&self, user: &User, hash: &str) -> Result<bool, StoreError> {
        let mut current = user.clone();
        for _ in 0..4 {
            let Some(totp) = current.totp.as_ref().filter(|t| t.confirmed) else { return Ok(false) };
            let Some(index) = totp.recovery_codes.iter().position(|stored| stored == hash) else {
                return Ok(false);
            };
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(user_key(&user.username)))
                .condition_expression(format!(
                    "id = :id AND totp.sealed_secret = :sealed AND totp.confirmed = :true AND totp.recovery_codes[{index}] = :hash"
                ))
                .update_expression(format!("REMOVE totp.recovery_codes[{index}]"))
                .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
                .expression_attribute_values(":sealed", AttributeValue::S(totp.sealed_secret.clone()))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":hash", AttributeValue::S(hash.to_owned()))
                .send()
                .await;
            if updated(result)? {
                return Ok(true);
            }
            match self.get(&user.username).await? {
                Some(fresh)
                    if fresh.id == user.id
                        && fresh.totp.as_ref().map(|t| &t.sealed_secret) == Some(&totp.sealed_secret) =>
                {
                    current = fresh;
                }
                _ => return Ok(false),
            }
        }
        Err(StoreError::Unavailable("recovery codes kept changing under a spend".into()))
    }

    async fn remove_totp(&self, user: &User, generation: uuid::Uuid) -> Result<bool, StoreError> {
        let Some(read) = &user.totp else { return Ok(false) };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            .condition_expression("id = :id AND totp.sealed_secret = :sealed AND totp.confirmed = :true")
            .update_expression("REMOVE totp SET session_generation = :generation")
            .expression_attribute_values(":generation", AttributeValue::S(generation.to_string()))
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":sealed", AttributeValue::S(read.sealed_secret.clone()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        updated(result)
    }
}
