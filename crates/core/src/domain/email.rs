use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An email address: RFC 5322's dot-atom local part, `@`, and a domain of two or more DNS labels,
/// at most 254 characters, ASCII only. No display names, comments, quoted local parts or address
/// literals: nothing a mail relay is likely to refuse. Kept as entered; compared
/// case-insensitively through [`Email::key`].
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct EmailError;

/// RFC 5322 `atext`: the characters of a local part besides dots.
fn is_atext(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&c)
}

/// A DNS label: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_label(label: &[u8]) -> bool {
    (1..=63).contains(&label.len())
        && label.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && label.first() != Some(&b'-')
        && label.last() != Some(&b'-')
}

impl Email {
    pub const MAX: usize = 254;
    /// The same rule as [`Email::parse`], for the OpenAPI document (ECMA-262 and Python `re`).
    pub const PATTERN: &'static str = concat!(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
        r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    );

    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let bytes = text.as_bytes();
        if bytes.len() > Self::MAX {
            return Err(EmailError);
        }
        let (local, domain) = text.rsplit_once('@').ok_or(EmailError)?;
        let local_ok = local.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(is_atext));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2 && labels.iter().all(|label| is_label(label.as_bytes()));
        if local_ok && domain_ok { Ok(Self(text.to_owned())) } else { Err(EmailError) }
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
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "Bob@Example.COM",
            "o'brien@example.ie",
            "x@a-b.io",
            // SES's mailbox simulator, labelled as the smoke test writes it (tests/smoke).
            "success+smoke0123456789ab@simulator.amazonses.com",
        ] {
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
            " a@example.com",
            "a@example.com ",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a@-example.com",
            "a@example-.com",
            "a@example..com",
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(64))).is_err());
    }

    #[test]
    fn the_documented_pattern_is_the_rule() {
        let pattern = regex::Regex::new(Email::PATTERN).unwrap();
        for text in crate::domain::samples("ab.@-+_Zé ", 14, 50_000) {
            let documented = pattern.is_match(&text) && text.chars().count() <= Email::MAX;
            assert_eq!(Email::parse(&text).is_ok(), documented, "{text:?}");
        }
        let long_label = format!("a@{}.com", "b".repeat(64));
        assert!(!pattern.is_match(&long_label));
    }
}
