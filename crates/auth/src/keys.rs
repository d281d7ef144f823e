//! ES256 signing keys. On AWS the private key lives in KMS and only the functions that sign may
//! use it (`kms` keys), or it is made inside the stack and kept only sealed under a KMS key that
//! only those functions may decrypt with (`sealed` keys, docs/signing.md); locally an in-process
//! P-256 key stands in. Verifiers need only the public keys, which they get as a JWK Set: on AWS
//! a deploy-time custom resource (`functions/signing-keys`) reads them once and the template
//! hands the set to every verifier in `SIGNING_JWKS`, so no function calls KMS at cold start to
//! verify a token.

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use sha2::{Digest as _, Sha256};

use stratus_core::ports::{SignError, TokenSigner};

/// The uncompressed P-256 point (0x04 ‖ x ‖ y) that verifiers check signatures against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub point: Vec<u8>,
    pub key_id: String,
}

/// DER prefix of a SubjectPublicKeyInfo for an uncompressed P-256 key (id-ecPublicKey,
/// prime256v1), which is what KMS GetPublicKey returns for ECC_NIST_P256.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// One public key as RFC 7517/7518 spell it: a P-256 key for ES256, or an RSA key for RS256
/// (ID tokens only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `EC` or `RSA`.
    pub kty: String,
    /// `P-256` (EC keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The x coordinate, base64url without padding (EC keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The y coordinate, base64url without padding (EC keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The modulus, base64url without padding (RSA keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The public exponent, base64url without padding (RSA keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// The `kid` header of the tokens this key signed.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// A JWK Set: the keys a token may be signed with, the current one first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Where the verifiers find the public keys on AWS: a JWK Set in JSON.
pub const SIGNING_JWKS: &str = "SIGNING_JWKS";

impl JwkSet {
    pub fn new(keys: &[PublicKey]) -> Self {
        Self { keys: keys.iter().map(PublicKey::to_jwk).collect() }
    }

    /// The ES256 keys, then the RS256 keys ID tokens may be signed with.
    pub fn with_rsa(keys: &[PublicKey], rsa: &[RsaPublicKey]) -> Self {
        let mut set = Self::new(keys);
        set.keys.extend(rsa.iter().map(RsaPublicKey::to_jwk));
        set
    }

    /// Reads a set's ES256 keys: a set with no key, or with one that is neither a P-256 nor an
    /// RSA signing key, is refused whole. RSA keys sign ID tokens only, which Stratus itself
    /// never verifies: they are skipped.
    pub fn parse_keys(json: &str) -> Result<Vec<PublicKey>, String> {
        Ok(Self::parse_all(json)?.0)
    }

    /// Every key of a set: the ES256 ones and the RS256 ones.
    pub fn parse_all(json: &str) -> Result<(Vec<PublicKey>, Vec<RsaPublicKey>), String> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| format!("not a JWK Set: {e}"))?;
        if set.keys.is_empty() {
            return Err("the JWK Set has no key".into());
        }
        let mut ec = Vec::new();
        let mut rsa = Vec::new();
        for jwk in &set.keys {
            match jwk.kty.as_str() {
                "RSA" => rsa.push(RsaPublicKey::from_jwk(jwk)?),
                _ => ec.push(PublicKey::from_jwk(jwk)?),
            }
        }
        if ec.is_empty() {
            return Err("the JWK Set has no ES256 key".into());
        }
        Ok((ec, rsa))
    }
}

impl PublicKey {
    pub fn to_jwk(&self) -> Jwk {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64(&self.point[1..33])),
            y: Some(b64(&self.point[33..65])),
            n: None,
            e: None,
            kid: self.key_id.clone(),
            alg: "ES256".into(),
            use_: "sig".into(),
        }
    }

    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if (jwk.kty.as_str(), jwk.crv.as_deref(), jwk.alg.as_str(), jwk.use_.as_str())
            != ("EC", Some("P-256"), "ES256", "sig")
        {
            return Err(format!("key {:?} is not an ES256 P-256 signing key", jwk.kid));
        }
        let coordinate = |text: &Option<String>| {
            text.as_deref()
                .and_then(|text| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok())
                .filter(|bytes| bytes.len() == 32)
                .ok_or_else(|| format!("key {:?} has a malformed coordinate", jwk.kid))
        };
        if jwk.kid.is_empty() {
            return Err("a key has no kid".into());
        }
        let point = [&[0x04][..], &coordinate(&jwk.x)?, &coordinate(&jwk.y)?].concat();
        let key = Self { point, key_id: jwk.kid.clone() };
        key.check_on_curve()?;
        Ok(key)
    }

    /// The RFC 7638 JWK thumbprint: SHA-256 over the key's required members (`crv`, `kty`, `x`,
    /// `y`, in that order, no whitespace), base64url. A sealed key's `kid`: it names the key by
    /// what it is, so nobody chooses it and two keys cannot share it.
    pub fn thumbprint(&self) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let members = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(&self.point[1..33]),
            b64(&self.point[33..65])
        );
        b64(&Sha256::digest(members.as_bytes()))
    }

    /// A point not on the curve would only fail later, at every verification: refuse it now.
    fn check_on_curve(&self) -> Result<(), String> {
        aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            &self.point,
        )
        .map(|_| ())
        .map_err(|_| format!("key {:?} is not a point on P-256", self.key_id))
    }

    pub fn from_spki_der(der: &[u8], key_id: impl Into<String>) -> Result<Self, String> {
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => {
                Ok(Self { point: point.to_vec(), key_id: key_id.into() })
            }
            _ => Err("the public key is not an uncompressed P-256 SubjectPublicKeyInfo".into()),
        }
    }
}

/// A P-256 key held in process memory, for local runs and tests.
pub struct LocalSigner {
    pair: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl LocalSigner {
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system random source works");
        Self::from_pkcs8_der(pkcs8.as_ref()).expect("a freshly generated key loads")
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| format!("not a PKCS#8 P-256 private key: {e}"))?;
        let fingerprint = hex::encode(Sha256::digest(pair.public_key().as_ref()));
        Ok(Self { key_id: format!("local-{}", &fingerprint[..16]), pair, rng: SystemRandom::new() })
    }

    /// Reads a PKCS#8 key from a PEM (`-----BEGIN PRIVATE KEY-----`) or DER file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let der = match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN PRIVATE KEY-----") => {
                let body: String = text.lines().filter(|line| !line.starts_with("-----")).collect();
                base64::engine::general_purpose::STANDARD.decode(body.trim()).map_err(|e| e.to_string())?
            }
            _ => bytes,
        };
        Self::from_pkcs8_der(&der)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey { point: self.pair.public_key().as_ref().to_vec(), key_id: self.key_id.clone() }
    }

    /// The same key, known by its RFC 7638 thumbprint: how a sealed key is named.
    pub fn with_thumbprint_key_id(mut self) -> Self {
        self.key_id = self.public_key().thumbprint();
        self
    }
}

#[async_trait]
impl TokenSigner for LocalSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = self.pair.sign(&self.rng, message).map_err(|e| SignError::Failed(e.to_string()))?;
        Ok(signature.as_ref().to_vec())
    }
}

/// An RSA public key: what verifies the RS256 ID tokens OpenID Connect asks every provider to
/// be able to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// Big-endian, without leading zeros.
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    pub key_id: String,
}

impl RsaPublicKey {
    pub fn to_jwk(&self) -> Jwk {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Jwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some(b64(&self.modulus)),
            e: Some(b64(&self.exponent)),
            kid: self.key_id.clone(),
            alg: "RS256".into(),
            use_: "sig".into(),
        }
    }

    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if (jwk.kty.as_str(), jwk.alg.as_str(), jwk.use_.as_str()) != ("RSA", "RS256", "sig") {
            return Err(format!("key {:?} is not an RS256 signing key", jwk.kid));
        }
        let decode = |text: &Option<String>| {
            text.as_deref()
                .and_then(|text| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok())
                .filter(|bytes| !bytes.is_empty())
                .ok_or_else(|| format!("key {:?} has a malformed n or e", jwk.kid))
        };
        let key = Self { modulus: decode(&jwk.n)?, exponent: decode(&jwk.e)?, key_id: jwk.kid.clone() };
        // 2048 bits at least (RFC 7518 §3.3).
        if key.modulus.len() < 256 || jwk.kid.is_empty() {
            return Err(format!("key {:?} is shorter than 2048 bits or has no kid", jwk.kid));
        }
        Ok(key)
    }
}

impl RsaPublicKey {
    /// From the DER SubjectPublicKeyInfo KMS GetPublicKey answers for an RSA key:
    /// `SEQUENCE { AlgorithmIdentifier, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } }`.
    /// aws-lc-rs parses such a key but does not hand its numbers back, and the JWK needs them.
    pub fn from_spki_der(der: &[u8], key_id: impl Into<String>) -> Result<Self, String> {
        const RSA_ENCRYPTION: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let malformed = || "the public key is not an RSA SubjectPublicKeyInfo".to_owned();
        let (spki, rest) = der_element(der, 0x30).ok_or_else(malformed)?;
        let (algorithm, spki) = der_element(spki, 0x30).ok_or_else(malformed)?;
        let (bits, _) = der_element(spki, 0x03).ok_or_else(malformed)?;
        if !rest.is_empty() || !algorithm.starts_with(RSA_ENCRYPTION) {
            return Err(malformed());
        }
        let (key, _) =
            bits.strip_prefix(&[0]).and_then(|bits| der_element(bits, 0x30)).ok_or_else(malformed)?;
        let (n, key) = der_element(key, 0x02).ok_or_else(malformed)?;
        let (e, _) = der_element(key, 0x02).ok_or_else(malformed)?;
        let unsigned = |int: &[u8]| int.iter().position(|&b| b != 0).map(|start| int[start..].to_vec());
        let key = Self {
            modulus: unsigned(n).ok_or_else(malformed)?,
            exponent: unsigned(e).ok_or_else(malformed)?,
            key_id: key_id.into(),
        };
        if key.modulus.len() < 256 {
            return Err("the RSA key is shorter than 2048 bits".into());
        }
        Ok(key)
    }
}

/// One DER element of `tag` at the start of `input`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (length, input) = match first {
        short @ 0..=0x7f => (usize::from(short), input),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let (bytes, input) = (input.get(..count)?, input.get(count..)?);
            (bytes.iter().fold(0usize, |length, &b| (length << 8) | usize::from(b)), input)
        }
        _ => return None,
    };
    Some((input.get(..length)?, input.get(length..)?))
}

/// An RSA-2048 key held in process memory, for local runs and tests: RS256 ID tokens.
pub struct LocalRsaSigner {
    pair: aws_lc_rs::signature::RsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl LocalRsaSigner {
    pub fn generate() -> Self {
        let pair = aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("the system random source works");
        let fingerprint = hex::encode(Sha256::digest(pair.public_key().as_ref()));
        Self { key_id: format!("local-rsa-{}", &fingerprint[..16]), pair, rng: SystemRandom::new() }
    }

    pub fn public_key(&self) -> RsaPublicKey {
        let components: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = self.pair.public_key().into();
        RsaPublicKey { modulus: components.n, exponent: components.e, key_id: self.key_id.clone() }
    }
}

#[async_trait]
impl TokenSigner for LocalRsaSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|e| SignError::Failed(e.to_string()))?;
        Ok(signature)
    }
}

/// The encryption context every sealed signing key is sealed and unsealed under: its purpose
/// (which the sealing key's policy requires) and its `kid` (so a blob cannot pass for another
/// key's).
pub const SEALED_KEY_PURPOSE: (&str, &str) = ("stratus-purpose", "token-signing");
pub const SEALED_KEY_ID_CONTEXT: &str = "stratus-kid";

/// The encryption context of the sealed key `kid`, as KMS takes it.
pub fn sealed_key_context(kid: &str) -> [(&'static str, String); 2] {
    [(SEALED_KEY_PURPOSE.0, SEALED_KEY_PURPOSE.1.to_owned()), (SEALED_KEY_ID_CONTEXT, kid.to_owned())]
}

/// A signing key as the stack holds it in `sealed` mode: its `kid` and its PKCS#8 private key
/// encrypted by KMS under the sealing key, bound to [`sealed_key_context`]. Written
/// `sealed1.<kid>.<ciphertext, base64url>`: the signers' `SIGNING_KEY_SEALED`. A ciphertext is
/// not a private key: only a role the sealing key's policy lets decrypt, under that context,
/// gets the key out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

const SEALED_PREFIX: &str = "sealed1.";

impl SealedKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        let malformed = || "not a sealed signing key (sealed1.<kid>.<ciphertext>)".to_owned();
        let rest = text.trim().strip_prefix(SEALED_PREFIX).ok_or_else(malformed)?;
        let (key_id, ciphertext) = rest.split_once('.').ok_or_else(malformed)?;
        let ciphertext =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(ciphertext).map_err(|_| malformed())?;
        if key_id.is_empty() || ciphertext.is_empty() {
            return Err(malformed());
        }
        Ok(Self { key_id: key_id.to_owned(), ciphertext })
    }

    /// Opens the plaintext KMS answered for this key: a P-256 PKCS#8 key whose thumbprint is the
    /// `kid` it was sealed as, or an error (a blob sealed for another key, or not a key at all).
    pub fn open(&self, pkcs8: &[u8]) -> Result<LocalSigner, String> {
        let signer = LocalSigner::from_pkcs8_der(pkcs8)?.with_thumbprint_key_id();
        if signer.key_id != self.key_id {
            return Err(format!("the sealed key {:?} holds another key ({:?})", self.key_id, signer.key_id));
        }
        Ok(signer)
    }
}

impl std::fmt::Display for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ciphertext = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.ciphertext);
        write!(f, "{SEALED_PREFIX}{}.{ciphertext}", self.key_id)
    }
}

/// Seals a private key under a KMS key: what makes a sealed signing key at deploy time
/// (`stratus_aws::kms::KmsSealer`; the signing-keys custom resource).
#[async_trait]
pub trait KeySealer: Send + Sync {
    /// `plaintext` encrypted under `sealing_key` with `context` as its encryption context.
    async fn seal(
        &self,
        sealing_key: &str,
        plaintext: &[u8],
        context: &[(&str, String)],
    ) -> Result<Vec<u8>, String>;
}

/// A fresh P-256 key, sealed: the sealed form the signers get, and the public half the JWK Set
/// publishes. The plaintext exists only inside this call, in aws-lc's PKCS#8 document, which
/// zeroes itself when dropped.
pub async fn make_sealed_key(
    sealer: &dyn KeySealer,
    sealing_key: &str,
) -> Result<(SealedKey, PublicKey), String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| format!("cannot make a P-256 key: {e}"))?;
    let public = LocalSigner::from_pkcs8_der(pkcs8.as_ref())?.with_thumbprint_key_id().public_key();
    let ciphertext = sealer.seal(sealing_key, pkcs8.as_ref(), &sealed_key_context(&public.key_id)).await?;
    drop(pkcs8);
    Ok((SealedKey { key_id: public.key_id.clone(), ciphertext }, public))
}

/// Where a signing key's public half is read from by its id: KMS on AWS
/// (`stratus_aws::kms::KmsPublicKeys`), at deploy time.
#[async_trait]
pub trait PublicKeySource: Send + Sync {
    async fn public_key(&self, key_id: &str) -> Result<PublicKey, String>;

    /// The public half of an RSA signing key (ID tokens). A source of ES256 keys only has none.
    async fn rsa_public_key(&self, key_id: &str) -> Result<RsaPublicKey, String> {
        Err(format!("{key_id}: this source holds ES256 keys only"))
    }
}

/// KMS answers an ECDSA signature as DER `SEQUENCE { INTEGER r, INTEGER s }`; JWS ES256 wants
/// `r ‖ s`, each left-padded to 32 bytes.
pub fn der_signature_to_fixed(der: &[u8]) -> Result<Vec<u8>, String> {
    fn integer(input: &[u8]) -> Result<(&[u8], &[u8]), String> {
        match input {
            [0x02, len, rest @ ..] if usize::from(*len) <= rest.len() => {
                let (value, rest) = rest.split_at(usize::from(*len));
                let value = match value {
                    [0x00, tail @ ..] => tail,
                    _ => value,
                };
                if value.len() > 32 {
                    return Err("ECDSA integer longer than 32 bytes".into());
                }
                Ok((value, rest))
            }
            _ => Err("malformed DER INTEGER".into()),
        }
    }
    let body = match der {
        [0x30, len, body @ ..] if usize::from(*len) == body.len() => body,
        _ => return Err("malformed DER SEQUENCE".into()),
    };
    let (r, rest) = integer(body)?;
    let (s, rest) = integer(rest)?;
    if !rest.is_empty() {
        return Err("trailing bytes after the ECDSA signature".into());
    }
    let mut fixed = vec![0u8; 64];
    fixed[32 - r.len()..32].copy_from_slice(r);
    fixed[64 - s.len()..].copy_from_slice(s);
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_width() {
        let r = [0x80u8; 32];
        let s = [0x01u8; 31];
        let mut der = vec![0x30, 0];
        der.extend([0x02, 33, 0x00]);
        der.extend(r);
        der.extend([0x02, 31]);
        der.extend(s);
        der[1] = (der.len() - 2) as u8;
        let fixed = der_signature_to_fixed(&der).unwrap();
        assert_eq!(&fixed[..32], &r);
        assert_eq!(fixed[32], 0);
        assert_eq!(&fixed[33..], &s);
        assert!(der_signature_to_fixed(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn jwk_round_trip_and_refusals() {
        let key = LocalSigner::generate().public_key();
        let set = serde_json::to_string(&JwkSet::new(std::slice::from_ref(&key))).unwrap();
        assert_eq!(JwkSet::parse_keys(&set).unwrap(), vec![key.clone()]);
        let mut jwk = key.to_jwk();
        jwk.alg = "RS256".into();
        assert!(PublicKey::from_jwk(&jwk).is_err());
        let mut off_curve = key.to_jwk();
        off_curve.y = off_curve.x.clone();
        assert!(PublicKey::from_jwk(&off_curve).is_err());
        assert!(JwkSet::parse_keys(r#"{"keys":[]}"#).is_err());
    }

    #[test]
    fn rsa_spki_and_jwk_round_trip() {
        use aws_lc_rs::encoding::AsDer;
        let signer = LocalRsaSigner::generate();
        let spki = signer.pair.public_key().as_der().unwrap();
        let parsed = RsaPublicKey::from_spki_der(spki.as_ref(), signer.key_id.clone()).unwrap();
        assert_eq!(parsed, signer.public_key());
        assert_eq!(parsed.exponent, vec![1, 0, 1]);
        assert_eq!(RsaPublicKey::from_jwk(&parsed.to_jwk()).unwrap(), parsed);
        assert!(RsaPublicKey::from_spki_der(&spki.as_ref()[1..], "k").is_err());
        let set =
            serde_json::to_string(&JwkSet::with_rsa(&[LocalSigner::generate().public_key()], &[parsed]))
                .unwrap();
        let (ec, rsa) = JwkSet::parse_all(&set).unwrap();
        assert_eq!((ec.len(), rsa.len()), (1, 1));
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7515 A.3's ES256 key. The expected value is SHA-256 of RFC 7638's canonical form,
        // {"crv":"P-256","kty":"EC","x":"f83O…","y":"x_FE…"}, computed apart (Python's hashlib).
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
            y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
            n: None,
            e: None,
            kid: "k".into(),
            alg: "ES256".into(),
            use_: "sig".into(),
        };
        let key = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.thumbprint(), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
    }

    #[test]
    fn a_sealed_key_round_trips_and_opens_only_as_the_key_it_names() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kid = LocalSigner::from_pkcs8_der(pkcs8.as_ref()).unwrap().with_thumbprint_key_id().key_id;
        let sealed = SealedKey { key_id: kid.clone(), ciphertext: vec![1, 2, 3] };
        assert_eq!(SealedKey::parse(&sealed.to_string()).unwrap(), sealed);
        assert_eq!(sealed.open(pkcs8.as_ref()).unwrap().key_id(), kid);
        let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        assert!(sealed.open(other.as_ref()).err().unwrap().contains("another key"));
        for bad in ["", "sealed1.", "sealed1.kid", "sealed1..AQID", "sealed2.kid.AQID", "sealed1.kid.!!"] {
            assert!(SealedKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spki_round_trip() {
        let signer = LocalSigner::generate();
        let point = signer.public_key().point;
        let spki = [&P256_SPKI_PREFIX[..], &point].concat();
        assert_eq!(PublicKey::from_spki_der(&spki, "k").unwrap().point, point);
        assert!(PublicKey::from_spki_der(&spki[1..], "k").is_err());
    }
}
