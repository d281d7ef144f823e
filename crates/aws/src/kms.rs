//! The KMS adapters: the token signer whose private key never leaves KMS, the signer whose key
//! is kept sealed under a KMS key and unsealed once per sandbox, the sealer that makes such a
//! key at deploy time, the public half of a signing key, and the data key that seals TOTP
//! secrets, wrapped by KMS and kept in the users table.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use stratus_auth::keys::{
    KeySealer, LocalSigner, PublicKey, PublicKeySource, RsaPublicKey, SealedKey, der_signature_to_fixed,
    sealed_key_context,
};
use stratus_core::ports::{DataKeySource, SignError, StoreError, TokenSigner};

use crate::dynamodb::store_error;

/// Signs with a KMS key of spec ECC_NIST_P256; the private key never leaves KMS.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_arn: String,
    key_id: String,
    /// ES256 (an ECC_NIST_P256 key) or RS256 (an RSA_2048 key, for ID tokens).
    rsa: bool,
}

/// The `kid` for a KMS key: its id, the last part of its ARN.
pub fn kms_key_id(key_arn: &str) -> String {
    key_arn.rsplit('/').next().unwrap_or(key_arn).to_owned()
}

impl KmsSigner {
    pub fn new(client: aws_sdk_kms::Client, key_arn: impl Into<String>) -> Self {
        let key_arn = key_arn.into();
        Self { client, key_id: kms_key_id(&key_arn), key_arn, rsa: false }
    }

    /// An RS256 signer on an RSA_2048 key: RSASSA-PKCS1-v1_5 with SHA-256, whose signature
    /// KMS answers in the very form JWS wants.
    pub fn rsa(client: aws_sdk_kms::Client, key_arn: impl Into<String>) -> Self {
        Self { rsa: true, ..Self::new(client, key_arn) }
    }
}

#[async_trait]
impl TokenSigner for KmsSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        use aws_sdk_kms::primitives::Blob;
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        let output = self
            .client
            .sign()
            .key_id(&self.key_arn)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(if self.rsa {
                SigningAlgorithmSpec::RsassaPkcs1V15Sha256
            } else {
                SigningAlgorithmSpec::EcdsaSha256
            })
            .send()
            .await
            .map_err(kms_sign_error)?;
        let signature =
            output.signature.ok_or_else(|| SignError::Failed("KMS returned no signature".into()))?;
        if self.rsa {
            return Ok(signature.into_inner());
        }
        der_signature_to_fixed(signature.as_ref()).map_err(SignError::Failed)
    }
}

/// KMS's answers that a retry may well turn around; any other failure (a missing grant, a
/// disabled or deleted key, a ciphertext under another encryption context) is a fault to fix,
/// not to retry.
fn kms_sign_error<E>(
    error: aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> SignError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_kms::error::SdkError;
    const RETRYABLE: &[&str] = &["ThrottlingException", "KMSInternalException", "DependencyTimeoutException"];
    // Any 5xx is KMS's side, whatever its code or body (`crate::is_transient`).
    let retryable = crate::is_transient(&error)
        || matches!(&error, SdkError::ServiceError(service)
            if service.err().code().is_some_and(|code| RETRYABLE.contains(&code)));
    let text = crate::error_text(&error);
    if retryable { SignError::Unavailable(text) } else { SignError::Failed(text) }
}

/// Signs with a P-256 key the stack made and keeps sealed under a KMS key (`TokenSealingKey`):
/// one `kms:Decrypt` per sandbox unseals it, under the encryption context that binds its
/// purpose and its `kid`, and every signature after that is local (aws-lc), with no KMS call.
/// The plaintext KMS answers is zeroed once the key is loaded; aws-lc clears the key itself
/// when the signer is dropped.
pub struct SealedSigner {
    kms: aws_sdk_kms::Client,
    sealing_key_arn: String,
    sealed: SealedKey,
    key: tokio::sync::OnceCell<LocalSigner>,
}

impl SealedSigner {
    pub fn new(kms: aws_sdk_kms::Client, sealing_key_arn: impl Into<String>, sealed: SealedKey) -> Self {
        Self { kms, sealing_key_arn: sealing_key_arn.into(), sealed, key: tokio::sync::OnceCell::new() }
    }

    /// Starts unsealing now, in the background, so that the `Decrypt` overlaps whatever the
    /// sandbox does next (the rest of init, the first request's reads and password hash); the
    /// first signature waits for it only if it has not ended. A failure is logged and left to
    /// the first signature, which tries again. Outside a Tokio runtime it does nothing: the first
    /// signature unseals.
    pub fn prefetch(self: &std::sync::Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let signer = self.clone();
        runtime.spawn(async move {
            if let Err(error) = signer.unseal().await {
                tracing::warn!(%error, "could not unseal the signing key ahead of the first signature");
            }
        });
    }

    /// The key, unsealed on the first call (concurrent callers wait for that one `Decrypt`).
    pub async fn unseal(&self) -> Result<&LocalSigner, SignError> {
        self.key
            .get_or_try_init(|| async {
                use zeroize::Zeroize;
                let started = std::time::Instant::now();
                let mut request = self
                    .kms
                    .decrypt()
                    .key_id(&self.sealing_key_arn)
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(self.sealed.ciphertext.clone()));
                for (name, value) in sealed_key_context(&self.sealed.key_id) {
                    request = request.encryption_context(name, value);
                }
                let output = request.send().await.map_err(kms_sign_error)?;
                let mut plaintext = output
                    .plaintext
                    .map(aws_sdk_kms::primitives::Blob::into_inner)
                    .ok_or_else(|| SignError::Failed("KMS returned no plaintext".into()))?;
                let opened = self.sealed.open(&plaintext).map_err(SignError::Failed);
                plaintext.zeroize();
                let key = opened?;
                tracing::info!(
                    kid = %self.sealed.key_id,
                    unseal_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "unsealed the signing key"
                );
                Ok(key)
            })
            .await
    }
}

#[async_trait]
impl TokenSigner for SealedSigner {
    fn key_id(&self) -> &str {
        &self.sealed.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.unseal().await?.sign(message).await
    }
}

/// Seals a key under a KMS symmetric key with `kms:Encrypt`: the deploy-time custom resource,
/// which makes each sealed signing key (docs/signing.md says why not
/// `GenerateDataKeyPairWithoutPlaintext`).
pub struct KmsSealer(pub aws_sdk_kms::Client);

#[async_trait]
impl KeySealer for KmsSealer {
    async fn seal(
        &self,
        sealing_key: &str,
        plaintext: &[u8],
        context: &[(&str, String)],
    ) -> Result<Vec<u8>, String> {
        let mut request =
            self.0.encrypt().key_id(sealing_key).plaintext(aws_sdk_kms::primitives::Blob::new(plaintext));
        for (name, value) in context {
            request = request.encryption_context(*name, value);
        }
        let output = request.send().await.map_err(|e| crate::error_text(&e))?;
        output.ciphertext_blob.map(|b| b.into_inner()).ok_or_else(|| "KMS returned no ciphertext".into())
    }
}

/// Fetches the verification key of a KMS signing key: once per cold start.
pub async fn kms_public_key(client: &aws_sdk_kms::Client, key_arn: &str) -> Result<PublicKey, String> {
    let output = client
        .get_public_key()
        .key_id(key_arn)
        .send()
        .await
        .map_err(|e| aws_sdk_kms::error::DisplayErrorContext(&e).to_string())?;
    let der = output.public_key.ok_or("KMS returned no public key")?;
    PublicKey::from_spki_der(der.as_ref(), kms_key_id(key_arn))
}

/// The public half of a KMS RSA_2048 key: what verifies RS256 ID tokens.
pub async fn kms_rsa_public_key(client: &aws_sdk_kms::Client, key_arn: &str) -> Result<RsaPublicKey, String> {
    let output = client
        .get_public_key()
        .key_id(key_arn)
        .send()
        .await
        .map_err(|e| aws_sdk_kms::error::DisplayErrorContext(&e).to_string())?;
    let der = output.public_key.ok_or("KMS returned no public key")?;
    RsaPublicKey::from_spki_der(der.as_ref(), kms_key_id(key_arn))
}

/// The public half of KMS signing keys, by key ARN: what the deploy-time custom resource
/// publishes.
pub struct KmsPublicKeys(pub aws_sdk_kms::Client);

#[async_trait]
impl PublicKeySource for KmsPublicKeys {
    async fn public_key(&self, key_arn: &str) -> Result<PublicKey, String> {
        kms_public_key(&self.0, key_arn).await
    }

    async fn rsa_public_key(&self, key_arn: &str) -> Result<RsaPublicKey, String> {
        kms_rsa_public_key(&self.0, key_arn).await
    }
}

/// The item that holds the stack's TOTP data key, wrapped by KMS. Not a user: `list` skips it.
const TOTP_DATA_KEY: &str = "KEY#totp-data-key";

/// The stack's data key for sealing TOTP secrets: made by `kms:GenerateDataKey` the first time
/// anything is sealed, kept wrapped in the users table (first writer wins), unwrapped by
/// `kms:Decrypt` once per sandbox.
pub struct KmsDataKey {
    kms: aws_sdk_kms::Client,
    dynamodb: Client,
    table: String,
    key_arn: String,
}

/// Bound into every wrap and unwrap, and what the roles' grants are conditioned on.
pub const TOTP_KEY_CONTEXT: (&str, &str) = ("stratus-purpose", "totp-secrets");

impl KmsDataKey {
    pub fn new(
        kms: aws_sdk_kms::Client,
        dynamodb: Client,
        table: impl Into<String>,
        key_arn: impl Into<String>,
    ) -> Self {
        Self { kms, dynamodb, table: table.into(), key_arn: key_arn.into() }
    }

    async fn wrapped(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(TOTP_DATA_KEY.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        match output.item.as_ref().and_then(|item| item.get("wrapped")) {
            None => Ok(None),
            Some(AttributeValue::B(blob)) => Ok(Some(blob.clone().into_inner())),
            Some(_) => Err(StoreError::Internal(format!("{}: the data key item is malformed", self.table))),
        }
    }

    async fn unwrap(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let output = self
            .kms
            .decrypt()
            .key_id(&self.key_arn)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
            .encryption_context(TOTP_KEY_CONTEXT.0, TOTP_KEY_CONTEXT.1)
            .send()
            .await
            .map_err(|e| kms_error(&e))?;
        output
            .plaintext
            .map(|p| p.into_inner())
            .ok_or_else(|| StoreError::Internal("KMS returned no plaintext".into()))
    }
}

fn kms_error<E>(
    error: &aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> StoreError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_kms::error::SdkError;
    let text = crate::error_text(error);
    match error {
        // Any 5xx, whatever its code or body, is KMS's side.
        _ if crate::is_transient(error) => StoreError::Unavailable(text),
        SdkError::ServiceError(service)
            if matches!(
                service.err().code(),
                Some("ThrottlingException" | "KMSInternalException" | "DependencyTimeoutException")
            ) =>
        {
            StoreError::Unavailable(text)
        }
        _ => StoreError::Internal(text),
    }
}

#[async_trait]
impl DataKeySource for KmsDataKey {
    async fn data_key(&self, create: bool) -> Result<Vec<u8>, StoreError> {
        if let Some(wrapped) = self.wrapped().await? {
            return self.unwrap(wrapped).await;
        }
        if !create {
            return Err(StoreError::Internal(
                "no TOTP data key exists, so nothing can have been sealed".into(),
            ));
        }
        let generated = self
            .kms
            .generate_data_key()
            .key_id(&self.key_arn)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(TOTP_KEY_CONTEXT.0, TOTP_KEY_CONTEXT.1)
            .send()
            .await
            .map_err(|e| kms_error(&e))?;
        let (Some(wrapped), Some(plain)) = (generated.ciphertext_blob, generated.plaintext) else {
            return Err(StoreError::Internal("KMS returned no data key".into()));
        };
        let stored = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(TOTP_DATA_KEY.to_owned()))
            .item("wrapped", AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(wrapped.into_inner())))
            .item("key_arn", AttributeValue::S(self.key_arn.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match stored {
            Ok(_) => Ok(plain.into_inner()),
            // Another sandbox made one first: everyone must use that one.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                            _
                        )
                    )
                ) =>
            {
                let wrapped = self
                    .wrapped()
                    .await?
                    .ok_or_else(|| StoreError::Internal("the data key vanished".into()))?;
                self.unwrap(wrapped).await
            }
            Err(error) => Err(store_error(error)),
        }
    }
}
