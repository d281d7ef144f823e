//! Passwords: NIST SP 800-63B policy, argon2id hashing at OWASP's parameters, and a verify
//! that costs the same whether or not the user exists.

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::sync::{Mutex, PoisonError};

use stratus_core::domain::PasswordHash;

/// A password that meets the policy. Never printed, never serialized.
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password is 8 to 128 characters long")]
    Length,
    #[error("this password is too common or too easy to guess{0}")]
    Guessable(String),
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// Checks length (in characters, as NIST counts) and refuses passwords that are common or
    /// built from the user's own details (`context`: username, email, names).
    pub fn parse(text: String, context: &[&str]) -> Result<Self, PasswordError> {
        let length = text.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&length) {
            return Err(PasswordError::Length);
        }
        let estimate = zxcvbn::zxcvbn(&text, context);
        if estimate.score() < zxcvbn::Score::Two {
            let hint = estimate
                .feedback()
                .and_then(|feedback| feedback.warning())
                .map(|warning| format!(": {warning}"))
                .unwrap_or_default();
            return Err(PasswordError::Guessable(hint));
        }
        Ok(Self(text))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &Password) -> Result<PasswordHash, String> {
    hash_bytes(password.as_bytes())
}

/// Hashes a password that has just verified against an outdated hash. It may predate today's
/// policy; refusing it here would lock its owner out, so it is only re-hashed.
pub fn rehash(verified: &str) -> Result<PasswordHash, String> {
    hash_bytes(verified.as_bytes())
}

const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

/// Argon2's working memory (19 MiB at today's parameters), kept between hashes: one set per hash
/// running at once, reused, instead of a fresh allocation per hash that glibc's arenas keep and
/// multiply. A sandbox runs one request at a time, so it holds one set.
static KEPT_BLOCKS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn with_blocks<T>(count: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let taken = KEPT_BLOCKS.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut blocks = taken.unwrap_or_default();
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    let result = work(&mut blocks);
    KEPT_BLOCKS.lock().unwrap_or_else(PoisonError::into_inner).push(blocks);
    result
}

/// The PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, as the argon2 crate writes it
/// (standard base64 without padding), hashed in kept memory.
fn hash_bytes(password: &[u8]) -> Result<PasswordHash, String> {
    let mut salt = [0u8; SALT_BYTES];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| "the system random source failed".to_owned())?;
    let hasher = hasher();
    let mut output = [0u8; OUTPUT_BYTES];
    with_blocks(hasher.params().block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password, &salt, &mut output, blocks)
    })
    .map_err(|e| e.to_string())?;
    Ok(PasswordHash::from_phc(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output)
    )))
}

/// Checks an argon2id v=19 hash in kept memory; `None` for any other kind, which the argon2
/// crate's own verifier then checks.
fn verify_in_kept_memory(candidate: &[u8], parsed: &Phc, phc: &str) -> Option<bool> {
    let mut fields = phc.split('$').skip(4);
    let (Some(salt), Some(expected), None) = (fields.next(), fields.next(), fields.next()) else {
        return None;
    };
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(0x13) {
        return None;
    }
    let salt = STANDARD_NO_PAD.decode(salt).ok()?;
    let expected = STANDARD_NO_PAD.decode(expected).ok()?;
    let params = Params::try_from(parsed).ok()?;
    let params = Params::new(params.m_cost(), params.t_cost(), params.p_cost(), Some(expected.len())).ok()?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut output = vec![0u8; expected.len()];
    let hashed = with_blocks(hasher.params().block_count(), |blocks| {
        hasher.hash_password_into_with_memory(candidate, &salt, &mut output, blocks)
    });
    Some(hashed.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(&output, &expected).is_ok())
}

/// A well-formed hash, at the current parameters, that no known password matches: checking it costs what a
/// real check costs, so "no such user" and "wrong password" take the same time.
const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$8ggXiG7+Uf8QIHuCuSqOaQ$ltIe4HrQnYnR2fzX2gKbAoFI4Q5dgJDh1k4eL1kwuJs";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Right password; `rehash` when the stored hash is weaker than today's parameters.
    Yes {
        rehash: bool,
    },
    No,
}

/// Checks a candidate against a stored hash, or against the decoy when there is no user.
pub fn verify(candidate: &str, stored: Option<&PasswordHash>) -> Verified {
    let phc = stored.map_or(DECOY, PasswordHash::as_phc);
    let Ok(parsed) = Phc::new(phc) else {
        // A corrupt stored hash: still spend the time, then refuse.
        let decoy = Phc::new(DECOY).expect("the decoy parses");
        let _ = verify_in_kept_memory(candidate.as_bytes(), &decoy, DECOY);
        return Verified::No;
    };
    let ok = verify_in_kept_memory(candidate.as_bytes(), &parsed, phc)
        .unwrap_or_else(|| hasher().verify_password(candidate.as_bytes(), &parsed).is_ok());
    match (ok, stored) {
        (true, Some(_)) => Verified::Yes { rehash: is_outdated(&parsed) },
        _ => Verified::No,
    }
}

fn is_outdated(parsed: &Phc) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(params) => params.m_cost() < MEMORY_KIB || params.t_cost() < PASSES || params.p_cost() < LANES,
        Err(_) => true,
    }
}

// The schema states the very rules `Password::parse` enforces.
stratus_core::named_schema!(
    Password,
    "Password",
    stratus_core::domain::schema::text(
        "8 to 128 characters. Common passwords and ones built from the account's own details are \
         refused with 400 (NIST SP 800-63B)"
    )
    .min_length(Some(Password::MIN))
    .max_length(Some(Password::MAX))
    .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Password)))
    .examples([serde_json::json!("analytical engine 1843")])
);

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher;

    use super::*;

    #[test]
    fn policy() {
        assert_eq!(Password::parse("short".into(), &[]).unwrap_err(), PasswordError::Length);
        assert_eq!(Password::parse("x".repeat(129), &[]).unwrap_err(), PasswordError::Length);
        for common in ["password", "password123", "12345678", "qwertyuiop", "iloveyou1"] {
            assert!(
                matches!(Password::parse(common.into(), &[]), Err(PasswordError::Guessable(_))),
                "{common}"
            );
        }
        assert!(Password::parse("adalovelace1".into(), &["adalovelace"]).is_err());
        assert!(Password::parse("correct horse battery staple".into(), &[]).is_ok());
        // Length counts characters: eight 4-byte characters are enough.
        assert!(Password::parse("🦀🐙🦑🐳🦄🐢🦎🐍".into(), &[]).is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let password = Password::parse("correct horse battery staple".into(), &[]).unwrap();
        let stored = hash(&password).unwrap();
        assert!(stored.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify("correct horse battery staple", Some(&stored)), Verified::Yes { rehash: false });
        assert_eq!(verify("wrong horse battery staple", Some(&stored)), Verified::No);
        assert_eq!(verify("correct horse battery staple", None), Verified::No);
        assert_eq!(verify("anything", Some(&PasswordHash::from_phc("garbage".into()))), Verified::No);
    }

    #[test]
    fn kept_memory_hashes_are_the_argon2_crates_both_ways() {
        let password = Password::parse("correct horse battery staple".into(), &[]).unwrap();
        let ours = hash(&password).unwrap();
        let parsed = Phc::new(ours.as_phc()).unwrap();
        assert!(hasher().verify_password(b"correct horse battery staple", &parsed).is_ok());
        assert!(hasher().verify_password(b"wrong horse battery staple", &parsed).is_err());
        let theirs = hasher().hash_password(b"correct horse battery staple").unwrap().to_string();
        let parsed = Phc::new(&theirs).unwrap();
        assert_eq!(verify_in_kept_memory(b"correct horse battery staple", &parsed, &theirs), Some(true));
        assert_eq!(verify_in_kept_memory(b"wrong horse battery staple", &parsed, &theirs), Some(false));
        // The decoy really is one and costs a real check.
        assert_eq!(verify_in_kept_memory(b"x", &Phc::new(DECOY).unwrap(), DECOY), Some(false));
    }

    #[test]
    fn weaker_hashes_ask_for_a_rehash() {
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap())
            .hash_password(b"correct horse battery staple")
            .unwrap()
            .to_string();
        assert_eq!(
            verify("correct horse battery staple", Some(&PasswordHash::from_phc(weak))),
            Verified::Yes { rehash: true }
        );
    }
}
