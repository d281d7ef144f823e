//! Creates what `env.json` names on the local engines, so `sam local start-api` finds its
//! tables, queue and signing key. Refuses to run unless every endpoint is on this machine: on
//! AWS, the stack owns these resources.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use stratus_aws::dynamodb::tables;

const ENDPOINTS: [&str; 4] =
    ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SESV2"];

pub async fn provision_local(env_file: &Path) -> Result<(), String> {
    let values = read_parameters(env_file)?;
    for name in ENDPOINTS {
        let endpoint = std::env::var(name).map_err(|_| format!("{name} must point at a local engine"))?;
        if !stratus_core::config::is_loopback_url(&endpoint) {
            return Err(format!("{name}={endpoint} is not on this machine; refusing to provision it"));
        }
    }
    let value = |name: &str| values.get(name).ok_or(format!("{} sets no {name}", env_file.display()));
    let sdk = stratus_aws::sdk_config().await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    for spec in tables::ALL {
        // env.json names every table a function declares (infra/sam/check_env_json.py) and no
        // other: one it does not name has no function under sam local to use it yet.
        let Some(table) = values.get(spec.env_var) else { continue };
        tables::ensure_table(&dynamodb, table, spec).await.map_err(|e| format!("table {table}: {e}"))?;
        println!("table  {table}");
    }

    let queue_url = value(stratus_wiring::aws::TASKS_QUEUE_URL)?;
    let queue = queue_url
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .ok_or("TASKS_QUEUE_URL has no queue name")?;
    let visibility = std::time::Duration::from_secs(60);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    stratus_aws::sqs::create_queues(&sqs, queue, visibility)
        .await
        .map_err(|e| format!("queue {queue}: {e}"))?;
    println!("queue  {queue} (+ {queue}-dlq)");

    let alias = value(stratus_wiring::aws::SIGNING_KEY_ARN)?;
    if !alias.starts_with("alias/") {
        return Err(format!("SIGNING_KEY_ARN should be an alias locally (alias/...), not {alias}"));
    }
    let kms = aws_sdk_kms::Client::new(&sdk);
    let signing = (KeySpec::EccNistP256, KeyUsageType::SignVerify, "Stratus local signing key (sam local)");
    ensure_key(&kms, alias, signing).await?;
    println!("key    {alias} (ECC_NIST_P256, SIGN_VERIFY)");

    // The key that wraps the TOTP data key: symmetric, as the template's.
    if let Some(alias) = values.get(stratus_wiring::aws::ID_TOKEN_KEY_ARN).filter(|v| !v.is_empty()) {
        if !alias.starts_with("alias/") {
            return Err(format!("ID_TOKEN_KEY_ARN should be an alias locally (alias/...), not {alias}"));
        }
        let id_tokens =
            (KeySpec::Rsa2048, KeyUsageType::SignVerify, "Stratus local ID-token key (sam local)");
        ensure_key(&kms, alias, id_tokens).await?;
        println!("key    {alias} (RSA_2048, SIGN_VERIFY)");
    }
    if let Some(alias) = values.get(stratus_wiring::aws::TOTP_KEY_ARN).filter(|v| !v.is_empty()) {
        if !alias.starts_with("alias/") {
            return Err(format!("TOTP_KEY_ARN should be an alias locally (alias/...), not {alias}"));
        }
        let wrapping =
            (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt, "Stratus local TOTP key (sam local)");
        ensure_key(&kms, alias, wrapping).await?;
        println!("key    {alias} (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)");
    }

    // The sender identity, verified at once (moto), so the functions' mails are accepted.
    if let Some(identity) = values.get(stratus_wiring::aws::MAIL_SENDER_IDENTITY).filter(|v| !v.is_empty()) {
        let ses = aws_sdk_sesv2::Client::new(&sdk);
        match ses.create_email_identity().email_identity(identity).send().await {
            Ok(_) => {}
            Err(error) if error.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => {}
            Err(error) => {
                return Err(format!("mail identity {identity}: {}", stratus_aws::error_text(&error)));
            }
        }
        println!("mail   {identity} (SES identity)");
    }
    Ok(())
}

fn read_parameters(env_file: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(env_file).map_err(|e| format!("{}: {e}", env_file.display()))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", env_file.display()))?;
    let parameters = document["Parameters"].as_object().ok_or("env.json has no Parameters object")?;
    Ok(parameters.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
}

/// An existing alias means an earlier run made the key: keep it, so tokens stay valid and sealed
/// secrets open.
async fn ensure_key(
    kms: &aws_sdk_kms::Client,
    alias: &str,
    (spec, usage, description): (KeySpec, KeyUsageType, &str),
) -> Result<(), String> {
    if kms.describe_key().key_id(alias).send().await.is_ok() {
        return Ok(());
    }
    let key = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .description(description)
        .send()
        .await
        .map_err(|e| format!("create key: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
    let key_id = key.key_metadata.map(|m| m.key_id).ok_or("KMS returned no key id")?;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
        .map_err(|e| format!("create alias {alias}: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
    Ok(())
}
