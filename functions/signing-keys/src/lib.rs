//! A CloudFormation custom resource (`Custom::SigningKeys`) run at deploy time: it reads the
//! public half of every signing key the stack holds from KMS once and answers them as a JWK Set
//! (attribute `Jwks`), the signing key first. The template puts that set in every verifier's
//! `SIGNING_JWKS`, so no function calls KMS at cold start, and the verifiers' roles need no KMS
//! right at all.
//!
//! During a rotation the stack holds two keys (`OtherSigningKey` is `next` or `previous`): the
//! one that signs and the other, published too, either before it starts signing (so that every
//! cached JWK Set lists it first) or after it stopped (so that the tokens it signed still verify
//! until they expire). `stratus-admin rotate-signing-key` walks those steps.
//!
//! The same function makes the stack's sealed signing keys (`Custom::SealedSigningKey`, one per
//! slot whose `…SigningKeyType` is `sealed`, docs/signing.md): a fresh P-256 key made here, sealed
//! at once under `TokenSealingKey` with `kms:Encrypt` (encryption context: the purpose and the
//! key's `kid`, its RFC 7638 thumbprint), and answered as attributes: `Sealed` (what the signers
//! get in `SIGNING_KEY_SEALED`), `Jwk` (its public half, which `SigningKeys` publishes) and
//! `Kid`. The plaintext never leaves this invocation. A `Create` makes a key; an `Update` (only
//! a change of the sealing key sends one) makes another under a new physical id, so
//! CloudFormation deletes the old one; a `Delete` has nothing to delete: the key lives only in
//! the stack's attributes.
//!
//! Whatever happens, CloudFormation gets an answer: a custom resource that never answers holds
//! the stack until its `ServiceTimeout`. If the answer cannot be delivered the invocation fails,
//! so that Lambda's own retries of CloudFormation's asynchronous call deliver it.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use stratus_auth::keys::{Jwk, JwkSet, KeySealer, PublicKey, PublicKeySource, make_sealed_key};
use stratus_wiring::InitError;
use stratus_wiring::aws::AwsWiring;
use stratus_wiring::lambda_init::{EventFailed, EventHandler};

/// The attribute the template reads: `!GetAtt SigningKeys.Jwks`.
pub const JWKS_ATTRIBUTE: &str = "Jwks";

/// The resource types this function answers for.
pub const SIGNING_KEYS_TYPE: &str = "Custom::SigningKeys";
pub const SEALED_KEY_TYPE: &str = "Custom::SealedSigningKey";

/// A sealed key's attributes: the sealed form, its public JWK, its `kid`.
pub const SEALED_ATTRIBUTE: &str = "Sealed";
pub const JWK_ATTRIBUTE: &str = "Jwk";
pub const KID_ATTRIBUTE: &str = "Kid";

/// How long a key may stay unreadable before the deploy is told it failed. A new key, or a role
/// or key policy changed in the same deploy, can take a while to be visible everywhere in KMS
/// and IAM (eventual consistency: `NotFoundException`, `AccessDeniedException`); a key that is
/// still unreadable after this is a real fault. Within the function's timeout (function.toml).
pub const READ_PATIENCE: Patience =
    Patience { first_pause: Duration::from_millis(500), give_up_after: Duration::from_secs(45) };

/// How long, and how often, an unreadable key is read again (the pause doubles, up to 8 s).
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub first_pause: Duration,
    pub give_up_after: Duration,
}

/// What the template gives the `SigningKeys` resource. Each of the two keys is a KMS key (its
/// ARN) or a sealed key (its public JWK, the `Jwk` attribute of its `Custom::SealedSigningKey`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The KMS key that signs now; empty when a sealed key signs.
    #[serde(default)]
    pub key_arn: String,
    /// The sealed key that signs now (its public JWK); empty when a KMS key signs.
    #[serde(default)]
    pub key_jwk: String,
    /// The stack's other signing key during a rotation (the next signer, or the previous one),
    /// when it is a KMS key; empty when there is none.
    #[serde(default)]
    pub other_key_arn: String,
    /// The same, when the other key is a sealed key.
    #[serde(default)]
    pub other_key_jwk: String,
    /// The RSA key that signs RS256 ID tokens; published after the ES256 keys. Empty on a stack
    /// that predates it.
    #[serde(default)]
    pub id_token_key_arn: String,
}

/// What the template gives a `Custom::SealedSigningKey`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SealedProperties {
    /// The KMS symmetric key the new key is sealed under (`TokenSealingKey`).
    pub sealing_key_arn: String,
}

/// Either resource's request; its properties are read by its `ResourceType`.
pub type Request = CloudFormationCustomResourceRequest<serde_json::Value, serde_json::Value>;

pub struct SigningKeys {
    /// KMS on AWS.
    keys: Arc<dyn PublicKeySource>,
    /// KMS `Encrypt` on AWS.
    sealer: Arc<dyn KeySealer>,
    http: reqwest::Client,
    patience: Patience,
}

pub async fn build(wiring: &AwsWiring) -> Result<SigningKeys, InitError> {
    Ok(SigningKeys::new(wiring.public_key_source(), wiring.key_sealer(), READ_PATIENCE)?)
}

impl SigningKeys {
    pub fn new(
        keys: Arc<dyn PublicKeySource>,
        sealer: Arc<dyn KeySealer>,
        patience: Patience,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            keys,
            sealer,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            patience,
        })
    }
}

impl EventHandler for SigningKeys {
    type Event = Request;
    /// What CloudFormation was told (it reads the PUT, not this; the invocation log shows it).
    type Output = CloudFormationCustomResourceResponse;

    async fn handle(&self, request: Request) -> Result<CloudFormationCustomResourceResponse, EventFailed> {
        let (response_url, response) = self.answer(request).await;
        let delivered = self
            .http
            .put(&response_url)
            .body(serde_json::to_vec(&response).expect("serializes"))
            .send()
            .await;
        match delivered {
            Ok(reply) if reply.status().is_success() => {
                tracing::info!(status = ?response.status, "answered CloudFormation");
                Ok(response)
            }
            // An undelivered answer leaves the stack waiting: fail the invocation so that Lambda
            // retries it (twice, for CloudFormation's asynchronous call).
            Ok(reply) => Err(EventFailed(format!("CloudFormation refused the answer: {}", reply.status()))),
            Err(error) => Err(EventFailed(format!("cannot reach CloudFormation's response URL: {error}"))),
        }
    }
}

impl SigningKeys {
    /// Where to send the answer, and the answer.
    pub async fn answer(&self, request: Request) -> (String, CloudFormationCustomResourceResponse) {
        let mut response = CloudFormationCustomResourceResponse::default();
        let (url, resource_type, properties) = match request {
            CloudFormationCustomResourceRequest::Create(create) => {
                response.stack_id = create.stack_id;
                response.request_id = create.request_id;
                response.logical_resource_id = create.logical_resource_id;
                (create.response_url, create.resource_type, Some(create.resource_properties))
            }
            CloudFormationCustomResourceRequest::Update(update) => {
                response.stack_id = update.stack_id;
                response.request_id = update.request_id;
                response.logical_resource_id = update.logical_resource_id;
                (update.response_url, update.resource_type, Some(update.resource_properties))
            }
            // Nothing was created: the keys belong to KMS (or, sealed, to the stack's own
            // attributes) and the set lives in the stack.
            CloudFormationCustomResourceRequest::Delete(delete) => {
                response.stack_id = delete.stack_id;
                response.request_id = delete.request_id;
                response.logical_resource_id = delete.logical_resource_id;
                response.physical_resource_id = delete.physical_resource_id;
                (delete.response_url, delete.resource_type, None)
            }
            _ => {
                response.status = CloudFormationCustomResourceResponseStatus::Failed;
                response.reason = Some("unknown request type".into());
                return (String::new(), response);
            }
        };
        let Some(properties) = properties else { return (url, response) };
        let answered = match resource_type.as_str() {
            SIGNING_KEYS_TYPE => self.publish(properties).await,
            SEALED_KEY_TYPE => self.make_sealed(properties).await,
            other => Err(format!("unknown resource type {other:?}")),
        };
        match answered {
            Ok((physical_id, data)) => {
                response.physical_resource_id = physical_id;
                response.data.extend(data);
            }
            Err(reason) => {
                tracing::error!(%reason, resource_type, "cannot answer for the resource");
                response.status = CloudFormationCustomResourceResponseStatus::Failed;
                response.reason = Some(reason);
                response.physical_resource_id = match resource_type.as_str() {
                    SEALED_KEY_TYPE => "sealed-signing-key-failed".into(),
                    _ => "signing-keys-failed".into(),
                };
            }
        }
        (url, response)
    }

    async fn publish(
        &self,
        properties: serde_json::Value,
    ) -> Result<(String, Vec<(String, String)>), String> {
        let properties: Properties =
            serde_json::from_value(properties).map_err(|e| format!("SigningKeys properties: {e}"))?;
        let (current, jwks) = self.jwks(&properties).await?;
        Ok((format!("signing-keys-{current}"), vec![(JWKS_ATTRIBUTE.into(), jwks)]))
    }

    /// A fresh key, sealed. A sealing key (or its policy) made in the same deploy may not be
    /// usable everywhere yet: the seal is tried again as a key read is (`READ_PATIENCE`).
    async fn make_sealed(
        &self,
        properties: serde_json::Value,
    ) -> Result<(String, Vec<(String, String)>), String> {
        let properties: SealedProperties =
            serde_json::from_value(properties).map_err(|e| format!("SealedSigningKey properties: {e}"))?;
        let arn = properties.sealing_key_arn.trim();
        let (sealed, public) = self.patiently(arn, || make_sealed_key(self.sealer.as_ref(), arn)).await?;
        tracing::info!(kid = %public.key_id, "made a sealed signing key");
        let jwk = serde_json::to_string(&public.to_jwk()).expect("a JWK serializes");
        Ok((
            format!("sealed-signing-key-{}", public.key_id),
            vec![
                (SEALED_ATTRIBUTE.into(), sealed.to_string()),
                (JWK_ATTRIBUTE.into(), jwk),
                (KID_ATTRIBUTE.into(), public.key_id),
            ],
        ))
    }

    /// The signing key's id and the set: the signing key, then the other one if there is one.
    async fn jwks(&self, properties: &Properties) -> Result<(String, String), String> {
        let current = self.key(&properties.key_arn, &properties.key_jwk).await?;
        let mut keys = vec![current.clone()];
        let other = (properties.other_key_arn.trim(), properties.other_key_jwk.trim());
        if other != ("", "") {
            let other = self.key(other.0, other.1).await?;
            if other != current {
                keys.push(other);
            }
        }
        let mut rsa = Vec::new();
        if !properties.id_token_key_arn.trim().is_empty() {
            let arn = properties.id_token_key_arn.trim();
            rsa.push(self.patiently(arn, || self.keys.rsa_public_key(arn)).await?);
        }
        let set = serde_json::to_string(&JwkSet::with_rsa(&keys, &rsa)).expect("a JWK Set serializes");
        Ok((current.key_id, set))
    }

    /// A KMS key's public half (read from KMS), or a sealed key's (its JWK, as the template
    /// hands it over).
    async fn key(&self, key_arn: &str, jwk: &str) -> Result<PublicKey, String> {
        match (key_arn.trim(), jwk.trim()) {
            ("", "") => Err("a signing key is named by neither a KMS key ARN nor a sealed key's JWK".into()),
            ("", jwk) => serde_json::from_str::<Jwk>(jwk)
                .map_err(|e| format!("a sealed key's JWK: {e}"))
                .and_then(|jwk| PublicKey::from_jwk(&jwk)),
            (arn, "") => self.patiently(arn, || self.keys.public_key(arn)).await,
            _ => Err("a signing key is named by both a KMS key ARN and a sealed key's JWK".into()),
        }
    }

    /// One key, read again with backoff while it is not readable yet (see `READ_PATIENCE`).
    async fn patiently<T, F, Fut>(&self, key_arn: &str, read: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let started = tokio::time::Instant::now();
        let mut pause = self.patience.first_pause;
        loop {
            match read().await {
                Ok(key) => return Ok(key),
                Err(error) if started.elapsed() + pause > self.patience.give_up_after => {
                    return Err(format!(
                        "{key_arn}: {error} (still failing after {} s)",
                        started.elapsed().as_secs()
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, key_arn, retry_in_ms = pause.as_millis() as u64, "key not readable yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use stratus_auth::keys::LocalSigner;

    use super::*;

    /// KMS as a deploy meets it: a key that is not readable for the first `failures` reads.
    struct Eventually {
        keys: Vec<(String, PublicKey)>,
        failures: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl PublicKeySource for Eventually {
        async fn public_key(&self, key_id: &str) -> Result<PublicKey, String> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err("AccessDeniedException: not authorized to perform kms:GetPublicKey".into());
            }
            self.keys
                .iter()
                .find(|(arn, _)| arn == key_id)
                .map(|(_, key)| key.clone())
                .ok_or("NotFoundException".into())
        }
    }

    /// KMS `Encrypt` as the tests need it: a reversible stand-in that records the context.
    struct Xor(Mutex<Vec<Vec<(String, String)>>>);

    #[async_trait::async_trait]
    impl KeySealer for Xor {
        async fn seal(
            &self,
            key: &str,
            plaintext: &[u8],
            context: &[(&str, String)],
        ) -> Result<Vec<u8>, String> {
            assert_eq!(key, "sealing-key");
            self.0.lock().unwrap().push(context.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
            Ok(plaintext.iter().map(|b| b ^ 0x5a).collect())
        }
    }

    fn request(key_arn: &str, other: &str) -> Request {
        serde_json::from_value(serde_json::json!({
            "RequestType": "Update",
            "ResponseURL": "http://127.0.0.1:9/",
            "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/s/1",
            "RequestId": "r",
            "ResourceType": "Custom::SigningKeys",
            "LogicalResourceId": "SigningKeys",
            "PhysicalResourceId": "signing-keys-x",
            "ResourceProperties": {"ServiceToken": "arn", "KeyArn": key_arn, "OtherKeyArn": other},
            "OldResourceProperties": {"ServiceToken": "arn", "KeyArn": key_arn},
        }))
        .unwrap()
    }

    fn patience(give_up_after_ms: u64) -> Patience {
        Patience {
            first_pause: Duration::from_millis(1),
            give_up_after: Duration::from_millis(give_up_after_ms),
        }
    }

    fn signing_keys(failures: usize, patience: Patience) -> (SigningKeys, PublicKey, PublicKey) {
        let (blue, green) = (LocalSigner::generate().public_key(), LocalSigner::generate().public_key());
        let keys = vec![("blue".to_owned(), blue.clone()), ("green".to_owned(), green.clone())];
        let source = Arc::new(Eventually { keys, failures: Mutex::new(failures) });
        (SigningKeys::new(source, Arc::new(Xor(Mutex::new(Vec::new()))), patience).unwrap(), blue, green)
    }

    #[tokio::test]
    async fn a_sealed_key_is_made_sealed_under_its_kid_and_published_beside_a_kms_key() {
        use stratus_auth::keys::{SEALED_KEY_PURPOSE, SealedKey};
        let (resource, blue, _) = signing_keys(0, patience(50));
        let sealer = Arc::new(Xor(Mutex::new(Vec::new())));
        let resource = SigningKeys { sealer: sealer.clone(), ..resource };
        let mut create = serde_json::to_value(request("", "")).unwrap();
        create["RequestType"] = "Create".into();
        create["ResourceType"] = SEALED_KEY_TYPE.into();
        create["ResourceProperties"] =
            serde_json::json!({"ServiceToken": "arn", "SealingKeyArn": "sealing-key"});
        let (_, made) = resource.answer(serde_json::from_value(create).unwrap()).await;
        assert_eq!(made.status, CloudFormationCustomResourceResponseStatus::Success, "{:?}", made.reason);
        let sealed = SealedKey::parse(&made.data[SEALED_ATTRIBUTE]).unwrap();
        let kid = made.data[KID_ATTRIBUTE].clone();
        assert_eq!(sealed.key_id, kid);
        assert_eq!(made.physical_resource_id, format!("sealed-signing-key-{kid}"));
        let contexts = sealer.0.lock().unwrap().clone();
        assert_eq!(
            contexts,
            [vec![
                (SEALED_KEY_PURPOSE.0.to_owned(), SEALED_KEY_PURPOSE.1.to_owned()),
                ("stratus-kid".to_owned(), kid.clone())
            ]]
        );
        // What a signer unseals opens as the key the JWK publishes.
        let plaintext: Vec<u8> = sealed.ciphertext.iter().map(|b| b ^ 0x5a).collect();
        let signer = sealed.open(&plaintext).unwrap();
        let jwk: Jwk = serde_json::from_str(&made.data[JWK_ATTRIBUTE]).unwrap();
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), signer.public_key());

        // The sealed key signs, the KMS key (blue) is still published after it.
        let mut publish = serde_json::to_value(request("", "blue")).unwrap();
        publish["ResourceProperties"]["KeyJwk"] = made.data[JWK_ATTRIBUTE].clone().into();
        let (_, answer) = resource.answer(serde_json::from_value(publish).unwrap()).await;
        assert_eq!(answer.status, CloudFormationCustomResourceResponseStatus::Success, "{:?}", answer.reason);
        let set: JwkSet = serde_json::from_str(answer.data[JWKS_ATTRIBUTE].as_str()).unwrap();
        assert_eq!(set.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>(), [kid, blue.key_id]);
    }

    #[tokio::test]
    async fn publishes_the_signing_key_first_then_the_other_after_waiting_out_propagation() {
        let (resource, blue, green) = signing_keys(3, patience(5_000));
        let (_, answer) = resource.answer(request("green", "blue")).await;
        assert_eq!(answer.status, CloudFormationCustomResourceResponseStatus::Success, "{:?}", answer.reason);
        let set: JwkSet = serde_json::from_str(answer.data[JWKS_ATTRIBUTE].as_str()).unwrap();
        assert_eq!(
            set.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>(),
            [green.key_id.clone(), blue.key_id]
        );
        assert_eq!(answer.physical_resource_id, format!("signing-keys-{}", green.key_id));
    }

    #[tokio::test]
    async fn a_key_that_stays_unreadable_fails_the_deploy_with_the_reason() {
        let (resource, _, _) = signing_keys(usize::MAX, patience(50));
        let (_, answer) = resource.answer(request("blue", "")).await;
        assert_eq!(answer.status, CloudFormationCustomResourceResponseStatus::Failed);
        assert!(answer.reason.as_deref().unwrap_or_default().contains("AccessDenied"), "{:?}", answer.reason);
    }

    #[tokio::test]
    async fn an_answer_cloudformation_never_got_fails_the_invocation_so_lambda_retries_it() {
        let (resource, _, _) = signing_keys(0, patience(50));
        let failed = resource.handle(request("blue", "")).await.unwrap_err();
        assert!(failed.0.contains("response URL"), "{failed}");
    }
}
