//! Secrets at rest (TOTP secrets): AES-256-GCM under one data key per stack, each sealed secret
//! bound to its owner's id, so a sealed value copied onto another account does not open.
//!
//! The data key is an envelope: on AWS, KMS keeps the key that wraps it, the table keeps it
//! wrapped, and a sandbox unwraps it (one `kms:Decrypt`) the first time it seals or opens
//! anything. No KMS call per login, none at cold start.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::OnceCell;

use stratus_core::ports::{DataKeySource, StoreError};

/// The format tag of a sealed value, so another scheme can follow without a migration.
const VERSION: &str = "v1";

pub struct SecretBox {
    source: Arc<dyn DataKeySource>,
    key: OnceCell<LessSafeKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Key(#[from] StoreError),
    /// The value is not one this key sealed for this owner: corrupt, or tampered with.
    #[error("a sealed secret does not open: {0}")]
    Corrupt(&'static str),
}

impl SecretBox {
    pub fn new(source: Arc<dyn DataKeySource>) -> Self {
        Self { source, key: OnceCell::new() }
    }

    async fn key(&self, create: bool) -> Result<&LessSafeKey, SealError> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let bytes = self.source.data_key(create).await?;
                let key = UnboundKey::new(&AES_256_GCM, &bytes)
                    .map_err(|_| StoreError::Internal("the data key is not an AES-256 key".into()))?;
                Ok::<_, StoreError>(LessSafeKey::new(key))
            })
            .await?;
        Ok(key)
    }

    /// `secret` sealed for `owner`: `v1.` and base64 of a random nonce and the ciphertext.
    pub async fn seal(&self, secret: &[u8], owner: &[u8]) -> Result<String, SealError> {
        let key = self.key(true).await?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random source works");
        let mut sealed = secret.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(owner), &mut sealed)
            .map_err(|_| SealError::Corrupt("sealing failed"))?;
        let mut blob = nonce.to_vec();
        blob.append(&mut sealed);
        Ok(format!("{VERSION}.{}", STANDARD_NO_PAD.encode(blob)))
    }

    /// The secret `seal` sealed for `owner`.
    pub async fn open(&self, sealed: &str, owner: &[u8]) -> Result<Vec<u8>, SealError> {
        let blob = sealed
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| STANDARD_NO_PAD.decode(rest).ok())
            .filter(|blob| blob.len() > NONCE_LEN)
            .ok_or(SealError::Corrupt("not a v1 sealed value"))?;
        let key = self.key(false).await?;
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt("bad nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(owner), &mut buffer)
            .map_err(|_| SealError::Corrupt("wrong key, owner or tampered value"))?;
        Ok(plain.to_vec())
    }
}

/// A data key held in process: local runs, where there is no KMS.
pub struct LocalDataKey([u8; 32]);

impl LocalDataKey {
    /// A fresh key: secrets sealed with it live as long as the process (and its memory store).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system random source works");
        Self(key)
    }

    /// 64 hex digits, e.g. from `STRATUS_TOTP_KEY`, for secrets that outlive a restart.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim()).map_err(|e| e.to_string())?;
        Ok(Self(bytes.try_into().map_err(|_| "must be 64 hex digits (32 bytes)".to_owned())?))
    }
}

#[async_trait::async_trait]
impl DataKeySource for LocalDataKey {
    async fn data_key(&self, _create: bool) -> Result<Vec<u8>, StoreError> {
        Ok(self.0.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_only_for_its_owner_and_only_untampered() {
        let secrets = SecretBox::new(Arc::new(LocalDataKey::generate()));
        let sealed = secrets.seal(b"twenty bytes secret!", b"alice").await.unwrap();
        assert_eq!(secrets.open(&sealed, b"alice").await.unwrap(), b"twenty bytes secret!");
        assert!(secrets.open(&sealed, b"mallory").await.is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(secrets.open(std::str::from_utf8(&tampered).unwrap(), b"alice").await.is_err());
        let other = SecretBox::new(Arc::new(LocalDataKey::generate()));
        assert!(other.open(&sealed, b"alice").await.is_err());
    }
}
