use serde::{Deserialize, Deserializer, Serialize};

/// A first or last name: 1–100 characters of visible text. No control or format characters
/// (U+202E right-to-left override, U+200B zero-width space, the isolates…), which would let a
/// name disguise itself or what is displayed after it, no line or paragraph separators, and no
/// whitespace at either end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonNameError {
    #[error("a name is 1 to 100 characters long")]
    Length,
    #[error("a name cannot contain control, format or line-separator characters")]
    Invisible,
    #[error("a name cannot start or end with whitespace")]
    Whitespace,
}

/// Unicode's Cc (control) and Cf (format) categories, and Zl and Zp (line and paragraph
/// separators), as of Unicode 16: what a name may not contain.
const REFUSED: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{2028}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Unicode's White_Space characters that are not already refused: a name may hold them inside,
/// not at either end.
const SPACES: &[(char, char)] = &[
    (' ', ' '),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

fn within(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

impl PersonName {
    pub const MAX: usize = 100;

    pub fn parse(text: &str) -> Result<Self, PersonNameError> {
        let length = text.chars().count();
        if length == 0 || length > Self::MAX {
            return Err(PersonNameError::Length);
        }
        if text.chars().any(|c| within(REFUSED, c)) {
            return Err(PersonNameError::Invisible);
        }
        if text.starts_with(|c| within(SPACES, c)) || text.ends_with(|c| within(SPACES, c)) {
            return Err(PersonNameError::Whitespace);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same rule as [`PersonName::parse`], for the OpenAPI document: character classes of
    /// the characters themselves (Python's `re`, which checks the document, reads no `\p{…}`
    /// and no `\u{…}` escapes), so the class holds characters no editor shows.
    pub fn pattern() -> String {
        let class = |sets: &[&[(char, char)]]| {
            let mut class = String::from("[^");
            for (low, high) in sets.iter().flat_map(|set| set.iter()) {
                class.push(*low);
                if high != low {
                    class.push('-');
                    class.push(*high);
                }
            }
            class.push(']');
            class
        };
        let inner = class(&[REFUSED]);
        let edge = class(&[REFUSED, SPACES]);
        format!("^{edge}(?:{inner}{{0,{}}}{edge})?$", Self::MAX - 2)
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_from_everywhere() {
        for ok in ["Ada", "Lovelace-Byron", "O'Brien", "José María", "山田", "Ngũgĩ", "X", "عائشة"]
        {
            assert_eq!(PersonName::parse(ok).unwrap().as_str(), ok);
        }
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn refuses_invisible_and_disguising_characters() {
        for bad in [
            "Ada\u{202e}ecalevol",
            "A\u{200b}da",
            "\u{2066}Ada\u{2069}",
            "Ada\u{feff}",
            "Ada\nLovelace",
            "Ada\u{0}",
            "Ada\u{2028}Lovelace",
            "Ada\u{e0041}",
            "soft\u{ad}hyphen",
        ] {
            assert_eq!(PersonName::parse(bad), Err(PersonNameError::Invisible), "{bad:?}");
        }
        for bad in [" Ada", "Ada ", "\u{3000}Ada", " "] {
            assert_eq!(PersonName::parse(bad), Err(PersonNameError::Whitespace), "{bad:?}");
        }
        assert_eq!(PersonName::parse(""), Err(PersonNameError::Length));
        assert_eq!(PersonName::parse(&"a".repeat(101)), Err(PersonNameError::Length));
    }

    #[test]
    fn the_documented_pattern_is_the_rule() {
        let pattern = regex::Regex::new(&PersonName::pattern()).unwrap();
        let alphabet = "a Zé山\u{a0}\u{202e}\u{200b}\u{ad}\u{2028}\n\u{3000}\u{1d173}\u{e0041}-'";
        for text in crate::domain::samples(alphabet, 6, 50_000) {
            assert_eq!(PersonName::parse(&text).is_ok(), pattern.is_match(&text), "{text:?}");
        }
        for length in [99, 100, 101] {
            let text = "b".repeat(length);
            assert_eq!(PersonName::parse(&text).is_ok(), pattern.is_match(&text), "{length}");
        }
    }
}
