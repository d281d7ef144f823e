//! The key schema of every table, in one place. Local runs and tests create tables from it;
//! a test checks that template.yaml declares the same keys.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::store_error;
use stratus_core::ports::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The table's logical id in template.yaml.
    pub resource: &'static str,
    /// The environment variable that carries the table's name to the functions.
    pub env_var: &'static str,
    /// The table's name in local runs.
    pub local_name: &'static str,
    pub partition_key: &'static str,
    pub ttl_attribute: Option<&'static str>,
    pub index: Option<IndexSpec>,
}

/// A global secondary index projecting keys only: a string partition key and, if any, a number
/// sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
}

/// One item per digest; `expires_at` only while messages are given a lifetime.
pub const MESSAGES: TableSpec = TableSpec {
    resource: "MessagesTable",
    env_var: "MESSAGES_TABLE",
    local_name: "messages",
    partition_key: "digest",
    ttl_attribute: Some("expires_at"),
    index: None,
};

/// Users under `USER#<username>`, one `EMAIL#<lower-case email>` guard item per user that
/// makes email uniqueness a condition DynamoDB enforces, and `COUNT#active-admins`, the count of
/// active admins. The `role` index holds every account's key by its role; only its admins are
/// ever read, to count them once on a stack that has no count yet.
pub const USERS: TableSpec = TableSpec {
    resource: "UsersTable",
    env_var: "USERS_TABLE",
    local_name: "users",
    partition_key: "pk",
    ttl_attribute: None,
    index: Some(IndexSpec { name: "role", partition_key: "role", sort_key: None }),
};

/// `TOKEN#<sha256>` per refresh token and `FAMILY#<id>` per revoked family; both expire by TTL.
pub const REFRESH_TOKENS: TableSpec = TableSpec {
    resource: "RefreshTokensTable",
    env_var: "REFRESH_TOKENS_TABLE",
    local_name: "refresh-tokens",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    index: None,
};

/// One counter per key and fixed window, expiring by TTL.
pub const RATE_LIMITS: TableSpec = TableSpec {
    resource: "RateLimitsTable",
    env_var: "RATE_LIMITS_TABLE",
    local_name: "rate-limits",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    index: None,
};

/// `TASK#<id>` per task and `IDEM#<owner>#<key>` per Idempotency-Key; both expire by TTL.
/// Pending tasks also carry the keys of the sparse `pending` index the sweeper reads.
pub const TASKS: TableSpec = TableSpec {
    resource: "TasksTable",
    env_var: "TASKS_TABLE",
    local_name: "tasks",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    index: Some(IndexSpec {
        name: "pending",
        partition_key: "pending_shard",
        sort_key: Some("pending_since"),
    }),
};

/// `CODE#<purpose>#<username>` per mailed one-time code (only its hash), expiring by TTL.
pub const ONE_TIME_CODES: TableSpec = TableSpec {
    resource: "OneTimeCodesTable",
    env_var: "ONE_TIME_CODES_TABLE",
    local_name: "one-time-codes",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    index: None,
};

/// The registered OAuth clients, by client id (`pk`). They last until deleted: no TTL.
pub const OAUTH_CLIENTS: TableSpec = TableSpec {
    resource: "OAuthClientsTable",
    env_var: "OAUTH_CLIENTS_TABLE",
    local_name: "oauth-clients",
    partition_key: "pk",
    ttl_attribute: None,
    index: None,
};

/// The authorization server's state about users: `CODE#<sha256>` per authorization code,
/// `SESSION#<sha256>` per browser session at the hosted login page and
/// `CONSENT#<user id>#<client id>` per consent. All expire by TTL: a code an hour after it
/// stops being redeemable (a late replay is still recognised), a session when it ends, a
/// consent 400 days after it was last given.
pub const AUTHORIZATIONS: TableSpec = TableSpec {
    resource: "AuthorizationsTable",
    env_var: "AUTHORIZATIONS_TABLE",
    local_name: "authorizations",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    index: None,
};

pub const ALL: &[TableSpec] =
    &[MESSAGES, USERS, REFRESH_TOKENS, RATE_LIMITS, TASKS, ONE_TIME_CODES, OAUTH_CLIENTS, AUTHORIZATIONS];

/// Creates the table if it does not exist. For local engines and tests only: on AWS the
/// template owns every table.
pub async fn ensure_table(client: &Client, name: &str, spec: &TableSpec) -> Result<(), StoreError> {
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("name and type are set")
    };
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(spec.partition_key, ScalarAttributeType::S))
        .key_schema(key(spec.partition_key, KeyType::Hash));
    if let Some(index) = spec.index {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key(index.partition_key, KeyType::Hash))
            .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build());
        create = create.attribute_definitions(attribute(index.partition_key, ScalarAttributeType::S));
        if let Some(sort_key) = index.sort_key {
            create = create.attribute_definitions(attribute(sort_key, ScalarAttributeType::N));
            gsi = gsi.key_schema(key(sort_key, KeyType::Range));
        }
        create = create.global_secondary_indexes(gsi.build().expect("name and keys are set"));
    }
    let created = create.send().await;
    match created {
        Ok(_) => {}
        Err(error) if error.code() == Some("ResourceInUseException") => return Ok(()),
        Err(error) => return Err(store_error(error)),
    }
    if let Some(attribute) = spec.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .expect("name and flag are set"),
            )
            .send()
            .await
            .map_err(store_error)?;
    }
    Ok(())
}
