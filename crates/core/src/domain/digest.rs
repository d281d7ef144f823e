use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest. Accepted in either letter case, always shown in lower-case hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("a digest is 64 hexadecimal characters, got {0}")]
    WrongLength(usize),
    #[error("a digest contains only the characters 0-9 and a-f")]
    NotHex,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn parse(text: &str) -> Result<Self, DigestError> {
        if text.len() != 64 {
            return Err(DigestError::WrongLength(text.chars().count()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| DigestError::NotHex)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            Digest::of(b"foo").to_hex(),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }

    #[test]
    fn parses_any_case_and_prints_lower() {
        let upper = "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE";
        assert_eq!(Digest::parse(upper).unwrap(), Digest::of(b"foo"));
        assert_eq!(Digest::parse(upper).unwrap().to_string(), upper.to_lowercase());
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(Digest::parse("abc"), Err(DigestError::WrongLength(3)));
        assert_eq!(Digest::parse(&"g".repeat(64)), Err(DigestError::NotHex));
        // 64 bytes but not 64 characters: multi-byte text must not slip through.
        assert!(Digest::parse(&"é".repeat(32)).is_err());
        assert!(Digest::parse("../").is_err());
    }
}
