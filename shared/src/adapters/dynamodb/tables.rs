//! The key schema of every table, in one place. Local runs and tests create tables from it;
//! a test checks that template.yaml declares the same keys.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::store_error;
use crate::ports::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The environment variable that carries the table's name to the functions.
    pub env_var: &'static str,
    /// The table's name in local runs.
    pub local_name: &'static str,
    pub partition_key: &'static str,
    pub ttl_attribute: Option<&'static str>,
}

/// One item per digest; `expires_at` only while messages are given a lifetime.
pub const MESSAGES: TableSpec = TableSpec {
    env_var: "MESSAGES_TABLE",
    local_name: "messages",
    partition_key: "digest",
    ttl_attribute: Some("expires_at"),
};

/// Users under `USER#<username>`, and one `EMAIL#<lower-case email>` guard item per user that
/// makes email uniqueness a condition DynamoDB enforces.
pub const USERS: TableSpec =
    TableSpec { env_var: "USERS_TABLE", local_name: "users", partition_key: "pk", ttl_attribute: None };

/// `TOKEN#<sha256>` per refresh token and `FAMILY#<id>` per revoked family; both expire by TTL.
pub const REFRESH_TOKENS: TableSpec = TableSpec {
    env_var: "REFRESH_TOKENS_TABLE",
    local_name: "refresh-tokens",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
};

/// One counter per key and fixed window, expiring by TTL.
pub const RATE_LIMITS: TableSpec = TableSpec {
    env_var: "RATE_LIMITS_TABLE",
    local_name: "rate-limits",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
};

/// `TASK#<id>` per task and `IDEM#<owner>#<key>` per Idempotency-Key; both expire by TTL.
pub const TASKS: TableSpec = TableSpec {
    env_var: "TASKS_TABLE",
    local_name: "tasks",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
};

pub const ALL: &[TableSpec] = &[MESSAGES, USERS, REFRESH_TOKENS, RATE_LIMITS, TASKS];

/// Creates the table if it does not exist. For local engines and tests only: on AWS the
/// template owns every table.
pub async fn ensure_table(client: &Client, name: &str, spec: &TableSpec) -> Result<(), StoreError> {
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(spec.partition_key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(spec.partition_key)
                .key_type(KeyType::Hash)
                .build()
                .expect("name and type are set"),
        )
        .send()
        .await;
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
