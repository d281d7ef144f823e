use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An email address as RFC 5322 allows it in practice (no display names, no comments), at
/// most 254 characters. Kept as entered; compared case-insensitively through [`Email::key`].
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let text = text.trim();
        let options = email_address::Options::default().without_display_text();
        if text.len() > Self::MAX
            || !text.is_ascii()
            || !text.contains('.')
            || email_address::EmailAddress::parse_with_options(text, options).is_err()
        {
            return Err(EmailError);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on: `Bob@Example.com` and `bob@example.com` are one address.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@example.com", "first.last+tag@sub.example.co.uk", "Bob@Example.COM"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Email::parse("Bob@Example.COM").unwrap().key(), "bob@example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@@b.com",
            "Bob <bob@example.com>",
            "ü@example.com",
            "a@localhost",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
