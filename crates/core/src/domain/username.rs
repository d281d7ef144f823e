use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 3–32 characters of `[a-z0-9_.-]`, the first a letter or digit. Usernames are
/// case-insensitive: input in any case is kept lower-case, so `Alice` and `alice` are one
/// account. ASCII only, which also shuts out Unicode look-alikes (`аlice` with a Cyrillic `а`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username is 3 to 32 characters long")]
    Length,
    #[error("a username uses only the letters a-z, digits, '_', '.' and '-'")]
    Characters,
    #[error("a username starts with a letter or a digit")]
    Start,
}

impl Username {
    /// At least 3, which also keeps `me` (as in `/users/me`) from ever naming a user.
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;
    /// The same rule as [`Username::parse`], for the OpenAPI document (ECMA-262 and Python `re`).
    pub const PATTERN: &'static str = "^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$";

    pub fn parse(text: &str) -> Result<Self, UsernameError> {
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(UsernameError::Characters);
        }
        if !(Self::MIN..=Self::MAX).contains(&text.len()) {
            return Err(UsernameError::Length);
        }
        // `-x`, `.x` and `_x` read as options, hidden files or system names in too many places.
        if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(UsernameError::Start);
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
        for leading in ["-ada", "_ada", ".ada"] {
            assert_eq!(Username::parse(leading), Err(UsernameError::Start), "{leading}");
        }
        assert!(Username::parse("a-_.").is_ok());
    }

    #[test]
    fn the_documented_pattern_is_the_rule() {
        let pattern = regex::Regex::new(Username::PATTERN).unwrap();
        for text in crate::domain::samples("aZ09_.-/ é", 36, 20_000) {
            assert_eq!(Username::parse(&text).is_ok(), pattern.is_match(&text), "{text:?}");
        }
    }
}
