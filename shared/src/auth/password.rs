//! Passwords: NIST SP 800-63B policy, argon2id hashing at OWASP's parameters, and a verify
//! that costs the same whether or not the user exists.

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::PasswordHash;

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

fn hash_bytes(password: &[u8]) -> Result<PasswordHash, String> {
    let phc = hasher().hash_password(password).map_err(|e| e.to_string())?;
    Ok(PasswordHash::from_phc(phc.to_string()))
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
        let _ = hasher().verify_password(candidate.as_bytes(), &decoy);
        return Verified::No;
    };
    let ok = hasher().verify_password(candidate.as_bytes(), &parsed).is_ok();
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

#[cfg(test)]
mod tests {
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
