//! `stratus-admin rotate-origin-secret --secret-id ARN --distribution-id ID [--wait SECONDS]`
//!
//! Rotates the secret CloudFront proves itself to the functions with, without refusing a single
//! request: the functions accept the secret's current and previous values and read them again
//! every few minutes (`ORIGIN_VERIFY_REFRESH_SECONDS`, 300 by default).
//!
//! 1. A new value becomes current in Secrets Manager; the old one becomes previous.
//! 2. Wait until every function has read the pair (the refresh interval and a margin).
//! 3. CloudFront's origin header changes to the new value. While the change propagates, some
//!    edges send the old value and some the new: both are accepted.

use std::time::Duration;

use aws_sdk_cloudfront::types::OriginCustomHeader;
use stratus_http::origin::ORIGIN_VERIFY_HEADER;

pub struct Rotation {
    pub secret_id: String,
    pub distribution_id: String,
    pub wait: Duration,
}

/// 48 letters and digits, as the template's `GenerateSecretString` makes them.
fn new_value() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut value = String::with_capacity(48);
    while value.len() < 48 {
        let mut bytes = [0u8; 64];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        // 248 = 4 × 62: dropping larger bytes keeps every character equally likely.
        value.extend(bytes.iter().filter(|b| **b < 248).map(|b| ALPHABET[usize::from(*b) % 62] as char));
    }
    value.truncate(48);
    value
}

pub async fn rotate(rotation: Rotation) -> Result<(), String> {
    let sdk = stratus_aws::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);

    // Before anything changes: the distribution must be one that sends the header.
    let config =
        cloudfront.get_distribution_config().id(&rotation.distribution_id).send().await.map_err(|e| {
            format!("distribution {}: {}", rotation.distribution_id, stratus_aws::error_text(&e))
        })?;
    let etag = config.e_tag.clone().ok_or("CloudFront returned no ETag")?;
    let mut distribution = config.distribution_config.ok_or("CloudFront returned no configuration")?;
    let sends_header = distribution.origins.as_ref().is_some_and(|origins| {
        origins.items.iter().any(|origin| {
            origin
                .custom_headers
                .as_ref()
                .is_some_and(|h| h.items().iter().any(|h| h.header_name == ORIGIN_VERIFY_HEADER))
        })
    });
    if !sends_header {
        return Err(format!(
            "distribution {} sends no {ORIGIN_VERIFY_HEADER} header",
            rotation.distribution_id
        ));
    }

    let value = new_value();
    let version = secrets
        .put_secret_value()
        .secret_id(&rotation.secret_id)
        .secret_string(&value)
        .send()
        .await
        .map_err(|e| format!("secret {}: {}", rotation.secret_id, stratus_aws::error_text(&e)))?
        .version_id
        .unwrap_or_default();
    println!("rotate-origin-secret: new secret version {version} is current; the old one is previous");

    if !rotation.wait.is_zero() {
        println!(
            "rotate-origin-secret: waiting {} s for every function to read both values",
            rotation.wait.as_secs()
        );
        tokio::time::sleep(rotation.wait).await;
    }

    for origin in distribution.origins.iter_mut().flat_map(|origins| origins.items.iter_mut()) {
        for header in origin.custom_headers.iter_mut().flat_map(|headers| headers.items.iter_mut().flatten())
        {
            if header.header_name == ORIGIN_VERIFY_HEADER {
                *header = OriginCustomHeader::builder()
                    .header_name(ORIGIN_VERIFY_HEADER)
                    .header_value(&value)
                    .build()
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    cloudfront
        .update_distribution()
        .id(&rotation.distribution_id)
        .if_match(etag)
        .distribution_config(distribution)
        .send()
        .await
        .map_err(|e| {
            format!(
                "the secret is rotated but CloudFront still sends the previous value ({}); \
                 rerun to finish: {}",
                rotation.distribution_id,
                stratus_aws::error_text(&e)
            )
        })?;
    println!(
        "rotate-origin-secret: distribution {} now sends the new value (edges follow within minutes; \
         both values are accepted meanwhile)",
        rotation.distribution_id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_values_are_48_letters_and_digits_and_differ() {
        let a = super::new_value();
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, super::new_value());
    }
}
