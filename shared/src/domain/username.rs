use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 3–32 characters of `[a-z0-9_.-]`. Usernames are case-insensitive: input in any case is
/// kept lower-case, so `Alice` and `alice` are one account. ASCII only, which also shuts out
/// Unicode look-alikes (`аlice` with a Cyrillic `а`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username is 3 to 32 characters long")]
    Length,
    #[error("a username uses only the letters a-z, digits, '_', '.' and '-'")]
    Characters,
}

impl Username {
    /// At least 3, which also keeps `me` (as in `/users/me`) from ever naming a user.
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    pub fn parse(text: &str) -> Result<Self, UsernameError> {
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(UsernameError::Characters);
        }
        if !(Self::MIN..=Self::MAX).contains(&text.len()) {
            return Err(UsernameError::Length);
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

impl Serialize for Username {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        assert_eq!(Username::parse("Alice_01.x-y").unwrap().as_str(), "alice_01.x-y");
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::Length));
        assert_eq!(Username::parse("has space"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("\u{0430}lice"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("ａｌｉｃｅ"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("a/b"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("ME"), Err(UsernameError::Length));
    }
}
