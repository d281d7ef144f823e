use serde::{Deserialize, Deserializer, Serialize};

/// A first or last name: 1–100 characters of printable text, surrounding spaces trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("a name is 1 to 100 characters long")]
    Length,
    #[error("a name cannot contain control characters")]
    Control,
}

impl PersonName {
    pub const MAX: usize = 100;

    pub fn parse(text: &str) -> Result<Self, PersonNameError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.chars().count() > Self::MAX {
            return Err(PersonNameError::Length);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(PersonNameError::Control);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}
