//! `stratus-admin rotate-origin-secret`: the secret CloudFront proves itself to the functions
//! with changes, and no request CloudFront forwards is refused on the way.
//!
//! The functions accept the secret's current and previous values (Secrets Manager's AWSCURRENT
//! and AWSPREVIOUS) and read them again every few minutes (`ORIGIN_VERIFY_REFRESH_SECONDS`,
//! 300 by default). So:
//!
//! 1. A new value becomes current; the one CloudFront sends becomes previous.
//! 2. Wait until every function has read the pair: the refresh interval and a margin, counted
//!    from the moment the new version was made (Secrets Manager records it). A sandbox that
//!    starts meanwhile reads the current value at init and the previous one on the first
//!    request that presents it.
//! 3. CloudFront sends the new value. While the change spreads, some edges send the old value
//!    and some the new: both are accepted.
//!
//! The state is read first, every time: CloudFront sending the previous value means step 3 is
//! still to do, and a rerun does only that (it never makes yet another value, which would push
//! the one CloudFront sends out of the accepted pair). CloudFront's ETag is read just before its
//! update, and read again if someone changed the distribution meanwhile.

use std::time::Duration;

use aws_sdk_cloudfront::types::{DistributionConfig, OriginCustomHeader};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use stratus_http::origin::ORIGIN_VERIFY_HEADER;
use time::OffsetDateTime;

use crate::target::wait_until;

pub struct Rotation {
    pub secret_id: String,
    pub distribution_id: String,
    pub wait: Duration,
    /// CloudFront sends a value the functions do not accept: send the current one.
    pub repair: bool,
    pub dry_run: bool,
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

struct Secret {
    current: String,
    /// When the current version was made.
    current_since: Option<OffsetDateTime>,
    previous: Option<String>,
}

struct Clients {
    secrets: aws_sdk_secretsmanager::Client,
    cloudfront: aws_sdk_cloudfront::Client,
}

impl Clients {
    async fn secret(&self, id: &str) -> Result<Secret, String> {
        let current = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| format!("secret {id}: {}", stratus_aws::error_text(&e)))?;
        let previous =
            match self.secrets.get_secret_value().secret_id(id).version_stage("AWSPREVIOUS").send().await {
                Ok(previous) => previous.secret_string,
                Err(error)
                    if matches!(
                        error.as_service_error(),
                        Some(GetSecretValueError::ResourceNotFoundException(_))
                    ) =>
                {
                    None
                }
                Err(error) => {
                    return Err(format!("secret {id} (previous): {}", stratus_aws::error_text(&error)));
                }
            };
        Ok(Secret {
            current: current.secret_string.ok_or_else(|| format!("secret {id} has no string value"))?,
            current_since: current
                .created_date
                .and_then(|at| OffsetDateTime::from_unix_timestamp(at.secs()).ok()),
            previous,
        })
    }

    /// The distribution's configuration, its ETag, and the value it sends.
    async fn distribution(&self, id: &str) -> Result<(DistributionConfig, String, String), String> {
        let got = self
            .cloudfront
            .get_distribution_config()
            .id(id)
            .send()
            .await
            .map_err(|e| format!("distribution {id}: {}", stratus_aws::error_text(&e)))?;
        let etag = got.e_tag.ok_or("CloudFront returned no ETag")?;
        let config = got.distribution_config.ok_or("CloudFront returned no configuration")?;
        let sent = config
            .origins
            .iter()
            .flat_map(|origins| origins.items.iter())
            .flat_map(|origin| origin.custom_headers.iter().flat_map(|h| h.items().iter()))
            .find(|header| header.header_name == ORIGIN_VERIFY_HEADER)
            .map(|header| header.header_value.clone())
            .ok_or_else(|| format!("distribution {id} sends no {ORIGIN_VERIFY_HEADER} header"))?;
        Ok((config, etag, sent))
    }

    /// CloudFront sends `value`. A distribution changed by someone else between our read and
    /// our write (a stale ETag) is read again, once.
    async fn send(&self, id: &str, value: &str) -> Result<(), String> {
        for attempt in 0..2 {
            let (mut config, etag, _) = self.distribution(id).await?;
            for origin in config.origins.iter_mut().flat_map(|origins| origins.items.iter_mut()) {
                for header in origin.custom_headers.iter_mut().flat_map(|h| h.items.iter_mut().flatten()) {
                    if header.header_name == ORIGIN_VERIFY_HEADER {
                        *header = OriginCustomHeader::builder()
                            .header_name(ORIGIN_VERIFY_HEADER)
                            .header_value(value)
                            .build()
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            match self
                .cloudfront
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(config)
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(error)
                    if attempt == 0
                        && error.as_service_error().is_some_and(|e| e.is_precondition_failed()) =>
                {
                    println!("  the distribution changed meanwhile (stale ETag): reading it again");
                }
                Err(error) => {
                    return Err(format!(
                        "CloudFront still sends the previous value, which the functions accept: run this \
                         again to finish ({id}: {})",
                        stratus_aws::error_text(&error)
                    ));
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

pub async fn rotate(sdk: &aws_config::SdkConfig, rotation: Rotation) -> Result<(), String> {
    let clients = Clients {
        secrets: aws_sdk_secretsmanager::Client::new(sdk),
        cloudfront: aws_sdk_cloudfront::Client::new(sdk),
    };
    let (id, distribution) = (&rotation.secret_id, &rotation.distribution_id);
    let mut secret = clients.secret(id).await?;
    let (_, _, sent) = clients.distribution(distribution).await?;

    if sent != secret.current && secret.previous.as_deref() != Some(sent.as_str()) {
        if !rotation.repair {
            return Err(format!(
                "CloudFront ({distribution}) sends a value that is neither the secret's current nor its \
                 previous one, so the functions refuse every request it forwards. Nothing was changed. \
                 `--repair` makes CloudFront send the current value."
            ));
        }
        println!("repair: CloudFront sends a value the functions refuse; sending the current one");
        if !rotation.dry_run {
            clients.send(distribution, &secret.current).await?;
        }
        return Ok(());
    }

    if sent == secret.current {
        println!("step 1 of 2: a new value becomes current; the one CloudFront sends becomes previous");
        if rotation.dry_run {
            println!("  would put a new version of {id}");
            wait_until(
                OffsetDateTime::now_utc() + rotation.wait,
                "for every function to read both values",
                true,
            )
            .await;
            println!("step 2 of 2: CloudFront sends the new value\ndry run: nothing was changed");
            return Ok(());
        }
        let version = clients
            .secrets
            .put_secret_value()
            .secret_id(id)
            .secret_string(new_value())
            .send()
            .await
            .map_err(|e| {
                format!("secret {id}: {} (nothing changed: run this again)", stratus_aws::error_text(&e))
            })?
            .version_id
            .unwrap_or_default();
        println!("  version {version} is current");
        secret = clients.secret(id).await?;
        if secret.previous.as_deref() != Some(sent.as_str()) {
            return Err(format!(
                "secret {id}: after the change its previous value is not the one CloudFront sends; stopping"
            ));
        }
    } else {
        println!(
            "a rotation is under way: the new value is current, CloudFront still sends the previous one"
        );
    }

    let since = secret.current_since.unwrap_or_else(OffsetDateTime::now_utc);
    wait_until(since + rotation.wait, "for every function to read both values", rotation.dry_run).await;
    println!("step 2 of 2: CloudFront sends the new value");
    if rotation.dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    clients.send(distribution, &secret.current).await?;
    println!(
        "  distribution {distribution} now sends the new value (edges follow within minutes; both values are accepted meanwhile)"
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
