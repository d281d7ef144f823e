use std::str::FromStr;

use bigdecimal::BigDecimal;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// An exact decimal number as JSON writes one: integers of any length, decimals without
/// rounding (0.1 + 0.2 is 0.3). Parsed from the JSON text itself, never through f64.
///
/// Bounded so that arithmetic stays cheap: at most [`Number::MAX_DIGITS`] significant digits and
/// a decimal exponent within ±[`Number::MAX_EXPONENT`] (`1e999999999 + 1` would need a billion).
#[derive(Clone, PartialEq, Eq)]
pub struct Number(BigDecimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("expected a JSON number")]
    NotANumber,
    #[error("the number has more than {max} significant digits", max = Number::MAX_DIGITS)]
    TooManyDigits,
    #[error("the number's exponent is beyond ±{max}", max = Number::MAX_EXPONENT)]
    ExponentOutOfRange,
}

impl Number {
    pub const MAX_DIGITS: u64 = 4096;
    pub const MAX_EXPONENT: i64 = 4096;

    /// From the raw JSON of a value: only a number literal qualifies (not a string, bool, null).
    pub fn from_json(raw: &RawValue) -> Result<Self, NumberError> {
        Self::parse(raw.get().trim())
    }

    pub fn parse(text: &str) -> Result<Self, NumberError> {
        if !is_json_number(text) {
            return Err(NumberError::NotANumber);
        }
        let exponent = text
            .split_once(['e', 'E'])
            .map(|(_, e)| e.trim_start_matches('+').parse::<i64>().unwrap_or(i64::MAX))
            .unwrap_or(0);
        if exponent.unsigned_abs() > Self::MAX_EXPONENT as u64 {
            return Err(NumberError::ExponentOutOfRange);
        }
        let value = BigDecimal::from_str(text).map_err(|_| NumberError::NotANumber)?;
        Self::bounded(value)
    }

    fn bounded(value: BigDecimal) -> Result<Self, NumberError> {
        let value = value.normalized();
        if value.digits() > Self::MAX_DIGITS {
            return Err(NumberError::TooManyDigits);
        }
        // scale is minus the exponent of the last digit; the first digit's sits `digits` higher.
        let (_, scale) = value.as_bigint_and_exponent();
        let highest = value.digits() as i64 - scale;
        if scale > Self::MAX_EXPONENT || highest > Self::MAX_EXPONENT {
            return Err(NumberError::ExponentOutOfRange);
        }
        Ok(Self(value))
    }

    /// The exact sum; fails only when it leaves the bounds.
    pub fn checked_add(&self, other: &Self) -> Result<Self, NumberError> {
        Self::bounded(&self.0 + &other.0)
    }

    /// Plain decimal text, no exponent: `15`, `0.3`, `-1180591620717411303426`.
    pub fn to_plain_string(&self) -> String {
        let value = if self.0.as_bigint_and_exponent().1 < 0 { self.0.with_scale(0) } else { self.0.clone() };
        value.to_plain_string()
    }
}

/// RFC 8259's number grammar: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_plain_string())
    }
}

impl std::fmt::Debug for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Number({self})")
    }
}

/// Written as a JSON number with every digit, not as a string and not through f64.
impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.to_plain_string()).map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        Number::parse(a).unwrap().checked_add(&Number::parse(b).unwrap()).unwrap().to_string()
    }

    #[test]
    fn adds_exactly() {
        assert_eq!(sum("5", "10"), "15");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("1180591620717411303425", "1180591620717411303425"), "2361183241434822606850");
        assert_eq!(sum("-1.50", "1.5"), "0");
        assert_eq!(sum("1e3", "1"), "1001");
        assert_eq!(sum("100", "0"), "100");
        assert_eq!(sum("2.5E-3", "0"), "0.0025");
    }

    #[test]
    fn refuses_non_numbers_and_huge_exponents() {
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity", "\"5\"", "true", "null", "[1]", "0x10",
            "1 2",
        ] {
            assert_eq!(Number::parse(bad), Err(NumberError::NotANumber), "{bad}");
        }
        assert_eq!(Number::parse("1e999999999"), Err(NumberError::ExponentOutOfRange));
        assert_eq!(Number::parse("1e-999999999"), Err(NumberError::ExponentOutOfRange));
        assert_eq!(Number::parse(&"9".repeat(5000)), Err(NumberError::TooManyDigits));
        assert!(Number::parse(&"9".repeat(4000)).is_ok());
    }

    #[test]
    fn serializes_as_an_exact_json_number() {
        let n = Number::parse("1180591620717411303425").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "1180591620717411303425");
    }
}
