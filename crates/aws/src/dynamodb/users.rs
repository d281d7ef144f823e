use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{corrupt, store_error, transact};
use stratus_core::domain::{Email, PasswordHash, Role, TotpEnrollment, User, Username};
use stratus_core::ports::{
    AccessChange, AccessChanged, CreateUserError, Deleted, Page, StoreError, UserStore,
};

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

/// The count of active admins (role admin, not disabled): one item, changed in the same
/// transaction as every account that becomes or stops being one, on condition that it exists
/// and, going down, that it stays above zero.
const ADMIN_COUNT_KEY: &str = "COUNT#active-admins";
const ADMIN_COUNT: &str = "active_admins";
/// Every account's key by its role (keys only; no other item has a `role`). Read only for
/// `role = admin`, once, to count the admins of a stack that has no count yet (one deployed
/// before the count): those accounts already carry their role, so nothing is scanned or
/// rewritten.
const ROLE_INDEX: &str = "role";
/// Writes decided on a read that turned out stale are decided again on a fresh one, this often.
const ATTEMPTS: usize = 8;
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

fn count_key() -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(ADMIN_COUNT_KEY.to_owned()))])
}

/// +1 when `after` is an active admin and `before` was not, -1 the other way round, else 0.
fn admin_delta(before: Option<&User>, after: Option<&User>) -> i64 {
    let active = |user: Option<&User>| i64::from(user.is_some_and(User::is_active_admin));
    active(after) - active(before)
}

/// The count's part of a transaction: up by one only once the count exists (a stack without
/// it counts its admins first), down by one only while another active admin remains.
fn count_change(table: &str, delta: i64) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(count_key()))
        .update_expression("SET #count = #count + :delta")
        .expression_attribute_names("#count", ADMIN_COUNT)
        .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
    let update = if delta < 0 {
        update
            .condition_expression("#count > :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
    } else {
        update.condition_expression("attribute_exists(#count)")
    };
    TransactWriteItem::builder().update(update.build().expect("table, key and expression are set")).build()
}

/// The condition that the account is still the one `read` (by id), with the role and the
/// disabled flag it was read with (accounts stored before the flag have none: not disabled).
/// Uses `:id`, `:read_role`, `:read_disabled` and `#role`.
fn as_read_condition(read: &User) -> &'static str {
    if read.disabled {
        "id = :id AND #role = :read_role AND disabled = :read_disabled"
    } else {
        "id = :id AND #role = :read_role AND (attribute_not_exists(disabled) OR disabled = :read_disabled)"
    }
}

fn as_read_values(read: &User) -> [(&'static str, AttributeValue); 3] {
    [
        (":id", AttributeValue::S(read.id.to_string())),
        (":read_role", AttributeValue::S(read.role.as_str().to_owned())),
        (":read_disabled", AttributeValue::Bool(read.disabled)),
    ]
}

impl DynamoUserStore {
    /// The count, if this stack has one yet.
    async fn admin_count(&self) -> Result<Option<u64>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(count_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let count = item.get(ADMIN_COUNT).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok());
        count.map(Some).ok_or_else(|| corrupt(&self.table, "the count of active admins is not a count"))
    }

    /// Counts the active admins of a stack that has no count yet, and stores the count unless
    /// another sandbox stored one first (then that one stands). Reads the `role` index's admin
    /// entries only, each account again with a consistent read (the index lags its table). No
    /// write that changes who is an active admin succeeds while the count is missing, so none
    /// can slip between the reads and the write.
    async fn initialise_admin_count(&self) -> Result<u64, StoreError> {
        let mut active = 0u64;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ROLE_INDEX)
                .key_condition_expression("#role = :admin")
                .expression_attribute_names("#role", "role")
                .expression_attribute_values(":admin", AttributeValue::S(Role::Admin.as_str().to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for entry in output.items.unwrap_or_default() {
                let pk = entry.get("pk").and_then(|v| v.as_s().ok());
                let Some(name) = pk.and_then(|pk| pk.strip_prefix(USER_PREFIX)) else { continue };
                let username = Username::parse(name).map_err(|e| corrupt(&self.table, e))?;
                if self.get(&username).await?.is_some_and(|user| user.is_active_admin()) {
                    active += 1;
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(count_key()))
            .condition_expression("attribute_not_exists(pk)")
            .update_expression("SET #count = :count")
            .expression_attribute_names("#count", ADMIN_COUNT)
            .expression_attribute_values(":count", AttributeValue::N(active.to_string()))
            .send()
            .await;
        if updated(result)? {
            tracing::info!(active_admins = active, "counted the active admins");
            return Ok(active);
        }
        self.admin_count().await?.ok_or_else(|| corrupt(&self.table, "the count of active admins vanished"))
    }

    /// After the count's condition failed: true when going down by `delta` would leave no active
    /// admin; false when the write may be tried again (the count was missing and is there now,
    /// or it moved meanwhile).
    async fn count_refused(&self, delta: i64) -> Result<bool, StoreError> {
        match self.admin_count().await? {
            None => {
                self.initialise_admin_count().await?;
                Ok(false)
            }
            Some(count) => Ok(delta < 0 && count <= 1),
        }
    }

    /// The account under the name now, if it is still the one `read` (by id).
    async fn reread(&self, read: &User) -> Result<Option<User>, StoreError> {
        Ok(self.get(&read.username).await?.filter(|fresh| fresh.id == read.id))
    }
}

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
        let mut items = vec![put(&self.table, item), put(&self.table, guard)];
        // An admin created active (bootstrap, or an admin's registration) counts at once.
        if user.is_active_admin() {
            items.push(count_change(&self.table, 1));
        }
        for _ in 0..ATTEMPTS {
            match transact(&self.client, items.clone()).await? {
                Ok(()) => return Ok(()),
                Err(codes) if codes[0] == CONDITION_FAILED => return Err(CreateUserError::UsernameTaken),
                Err(codes) if codes[1] == CONDITION_FAILED => return Err(CreateUserError::EmailTaken),
                // The count's condition: this stack has no count yet.
                Err(_) => {
                    self.count_refused(1).await?;
                }
            }
        }
        Err(StoreError::Unavailable("the count of active admins could not be set up".into()).into())
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
        user: &User,
        hash: &PasswordHash,
        generation: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&user.username)))
            // The generation as read, or this call's own when the SDK sends it again after its
            // answer was lost.
            .condition_expression(
                "id = :id AND (session_generation = :read OR session_generation = :generation)",
            )
            .update_expression("SET password_hash = :hash, session_generation = :generation")
            .expression_attribute_values(":id", AttributeValue::S(user.id.to_string()))
            .expression_attribute_values(":read", AttributeValue::S(user.session_generation.to_string()))
            .expression_attribute_values(":hash", AttributeValue::S(hash.as_phc().to_owned()))
            .expression_attribute_values(":generation", AttributeValue::S(generation.to_string()))
            .send()
            .await;
        updated(result)
    }

    /// One transaction: the user (if it is still this account, as read), its email's guard and,
    /// for an active admin, the count.
    async fn delete(&self, user: &User) -> Result<Deleted, StoreError> {
        let mut current = user.clone();
        for _ in 0..ATTEMPTS {
            let account = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(user_key(&current.username)))
                .condition_expression(as_read_condition(&current))
                .expression_attribute_names("#role", "role")
                .set_expression_attribute_values(Some(
                    as_read_values(&current).map(|(k, v)| (k.to_owned(), v)).into(),
                ))
                .build()
                .expect("table and key are set");
            let guard = Delete::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("{EMAIL_PREFIX}{}", current.email.key())))
                .condition_expression("username = :username")
                .expression_attribute_values(":username", AttributeValue::S(current.username.to_string()))
                .build()
                .expect("table and key are set");
            let delta = admin_delta(Some(&current), None);
            let mut items = vec![
                TransactWriteItem::builder().delete(account).build(),
                TransactWriteItem::builder().delete(guard).build(),
            ];
            if delta != 0 {
                items.push(count_change(&self.table, delta));
            }
            match transact(&self.client, items).await? {
                Ok(()) => return Ok(Deleted::Deleted),
                // Changed since the read (or gone): decide again on what it is now.
                Err(codes) if codes[0] == CONDITION_FAILED => match self.reread(user).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(Deleted::Gone),
                },
                Err(codes) if codes[1] == CONDITION_FAILED => return Ok(Deleted::Gone),
                Err(_) => {
                    if self.count_refused(delta).await? {
                        return Ok(Deleted::LastActiveAdmin);
                    }
                }
            }
        }
        Err(StoreError::Unavailable("the account kept changing under its deletion".into()))
    }

    /// One conditional write of the account as read, in one transaction with the count when
    /// the account becomes or stops being an active admin.
    async fn change_access(
        &self,
        read: &User,
        change: AccessChange,
        generation: uuid::Uuid,
    ) -> Result<AccessChanged, StoreError> {
        let mut current = read.clone();
        for _ in 0..ATTEMPTS {
            let mut after = change.applied_to(&current);
            if after.role == current.role && after.disabled == current.disabled {
                return Ok(AccessChanged::Changed(current));
            }
            // Only a change of the flag moves the generation: a role change must not bring back
            // a generation a password change moved on from since the read.
            let mut expression = "SET #role = :role, disabled = :disabled".to_owned();
            let mut values: HashMap<String, AttributeValue> =
                as_read_values(&current).map(|(k, v)| (k.to_owned(), v)).into();
            values.insert(":role".into(), AttributeValue::S(after.role.as_str().to_owned()));
            values.insert(":disabled".into(), AttributeValue::Bool(after.disabled));
            if after.disabled != current.disabled {
                after.session_generation = generation;
                expression.push_str(", session_generation = :generation");
                values.insert(":generation".into(), AttributeValue::S(generation.to_string()));
            }
            let delta = admin_delta(Some(&current), Some(&after));
            let written = if delta == 0 {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(user_key(&current.username)))
                    .condition_expression(as_read_condition(&current))
                    .update_expression(&expression)
                    .expression_attribute_names("#role", "role")
                    .set_expression_attribute_values(Some(values))
                    .send()
                    .await;
                updated(result)?
            } else {
                let account = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(user_key(&current.username)))
                    .condition_expression(as_read_condition(&current))
                    .update_expression(&expression)
                    .expression_attribute_names("#role", "role")
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .expect("table, key and expression are set");
                let items = vec![
                    TransactWriteItem::builder().update(account).build(),
                    count_change(&self.table, delta),
                ];
                match transact(&self.client, items).await? {
                    Ok(()) => true,
                    Err(codes) if codes[0] == CONDITION_FAILED => false,
                    Err(_) => {
                        if self.count_refused(delta).await? {
                            return Ok(AccessChanged::LastActiveAdmin);
                        }
                        continue;
                    }
                }
            };
            if written {
                return Ok(AccessChanged::Changed(after));
            }
            match self.reread(read).await? {
                Some(fresh) => current = fresh,
                None => return Ok(AccessChanged::NoSuchUser),
            }
        }
        Err(StoreError::Unavailable("the account kept changing under a change of its role".into()))
    }

    async fn active_admins(&self) -> Result<u64, StoreError> {
        match self.admin_count().await? {
            Some(count) => Ok(count),
            None => self.initialise_admin_count().await,
        }
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
