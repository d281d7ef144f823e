//! TOTP (RFC 6238, the parameters every authenticator app uses: HMAC-SHA1, 6 digits, 30 s) and
//! the recovery codes that stand in for a lost phone.

use aws_lc_rs::hmac;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use stratus_core::domain::User;

/// Seconds per time step.
pub const PERIOD: i64 = 30;
const DIGITS: usize = 6;
/// Steps either side of now a code is accepted for: a phone's clock a little off, a code typed
/// as it changed.
const SKEW_STEPS: i64 = 1;
/// 160 bits, the HMAC-SHA1 block's worth RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Recovery codes handed out at confirmation.
pub const RECOVERY_CODES: usize = 10;
/// 10 characters of a 32-letter alphabet: 50 bits, far beyond guessing at a limited rate.
const RECOVERY_CODE_LEN: usize = 10;
/// RFC 4648 base32, which authenticator apps expect. Lower case in recovery codes.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The shared secret. Its Debug never shows it; it is wiped when dropped.
pub struct TotpSecret([u8; SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        // Volatile so the compiler cannot drop the wipe of memory about to be freed.
        for byte in &mut self.0 {
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        Self(bytes)
    }

    /// The secret as unsealed from the store.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        Ok(Self(bytes.try_into().map_err(|_| format!("a TOTP secret has {SECRET_BYTES} bytes"))?))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unpadded base32, as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// The `otpauth://` URI a QR code carries (Google Authenticator's key URI format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
        let account = utf8_percent_encode(account, NON_ALPHANUMERIC);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
            self.base32()
        )
    }

    /// The secret as an app takes it (base32, case and padding ignored).
    pub fn from_base32(text: &str) -> Result<Self, String> {
        let mut bytes = Vec::with_capacity(SECRET_BYTES);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.trim_end_matches('=').chars() {
            let value = BASE32
                .iter()
                .position(|b| char::from(*b) == c.to_ascii_uppercase())
                .ok_or_else(|| format!("{c:?} is not base32"))?;
            buffer = (buffer << 5) | value as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
            }
        }
        Self::from_bytes(&bytes)
    }

    /// The six digits an app shows at `at`: what a client (or a test) types.
    pub fn code(&self, at: OffsetDateTime) -> String {
        format!("{:06}", self.code_at(step_of(at)))
    }

    /// The code of time step `step` (RFC 4226's HOTP of the step counter).
    fn code_at(&self, step: i64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let truncated =
            u32::from_be_bytes(mac[offset..offset + 4].try_into().expect("four bytes")) & 0x7fff_ffff;
        truncated % 10u32.pow(DIGITS as u32)
    }

    /// The step `code` is right for, if it is right for one near `now` that comes after
    /// `last_step` (the last one accepted): a code is good once.
    pub fn accepts(&self, code: &TotpCode, now: OffsetDateTime, last_step: i64) -> Option<i64> {
        let current = step_of(now);
        (current - SKEW_STEPS..=current + SKEW_STEPS)
            .filter(|step| *step > last_step)
            .find(|step| constant_time_eq(self.code_at(*step), code.0))
    }
}

fn constant_time_eq(a: u32, b: u32) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(&a.to_be_bytes(), &b.to_be_bytes()).is_ok()
}

/// The time step that holds `at`.
pub fn step_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(PERIOD)
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Six digits from an authenticator app. Its Debug never shows them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TotpCode(u32);

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode(******)")
    }
}

impl TotpCode {
    /// Six digits; spaces are ignored (apps show `123 456`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits: String = text.chars().filter(|c| *c != ' ').collect();
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits.parse().expect("six ASCII digits")))
        } else {
            Err(format!("must be the {DIGITS}-digit code from your authenticator app"))
        }
    }
}

/// A recovery code: ten base32 letters, shown as `abcde-fghij`. Its Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut bytes = [0u8; RECOVERY_CODE_LEN];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        // 256 is a multiple of 32: taking each byte mod 32 is uniform.
        Self(bytes.iter().map(|b| char::from(BASE32[usize::from(b & 31)]).to_ascii_lowercase()).collect())
    }

    /// What a user typed: case, spaces and hyphens ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let letters: String =
            text.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_lowercase()).collect();
        let valid = letters.len() == RECOVERY_CODE_LEN
            && letters.bytes().all(|b| BASE32.contains(&b.to_ascii_uppercase()));
        if valid { Ok(Self(letters)) } else { Err("must be one of your recovery codes (xxxxx-xxxxx)".into()) }
    }

    /// As shown to the user, once, at confirmation.
    pub fn expose(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }

    /// What is stored: the code is random enough that a plain SHA-256, bound to the account, does.
    pub fn hash(&self, user: &User) -> String {
        let mut hasher = Sha256::new();
        for part in ["totp-recovery", &user.id.to_string(), &self.0] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }
}

/// What the `code` of an MFA step may be: a code from the app, or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl SecondFactor {
    pub fn parse(text: &str) -> Result<Self, String> {
        TotpCode::parse(text).map(Self::Totp).or_else(|_| {
            RecoveryCode::parse(text).map(Self::Recovery).map_err(|_| {
                format!(
                    "must be the {DIGITS}-digit code from your authenticator app, or one of your recovery codes"
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to six digits.
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        for (time, code) in
            [(59, 287_082), (1_111_111_109, 81_804), (1_234_567_890, 5_924), (2_000_000_000, 279_037)]
        {
            assert_eq!(secret.code_at(time / PERIOD), code, "at {time}");
        }
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            TotpSecret::from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").unwrap().as_bytes(),
            secret.as_bytes()
        );
        let at = OffsetDateTime::from_unix_timestamp(59).unwrap();
        assert_eq!(secret.code(at), "287082");
    }

    #[test]
    fn a_code_is_good_once_and_near_its_time_only() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap();
        let code = TotpCode::parse("081 804").unwrap();
        let step = secret.accepts(&code, at, 0).expect("right now");
        assert_eq!(secret.accepts(&code, at, step), None, "replayed");
        assert!(secret.accepts(&code, at + time::Duration::seconds(30), 0).is_some(), "one step late");
        assert_eq!(secret.accepts(&code, at + time::Duration::seconds(90), 0), None, "three steps late");
    }

    #[test]
    fn recovery_codes_round_trip_and_hide() {
        let code = RecoveryCode::generate();
        assert_eq!(RecoveryCode::parse(&code.expose().to_uppercase()).unwrap(), code);
        assert!(!format!("{code:?}").contains(&code.0));
        assert!(matches!(SecondFactor::parse("123456"), Ok(SecondFactor::Totp(_))));
        assert!(matches!(SecondFactor::parse(&code.expose()), Ok(SecondFactor::Recovery(_))));
        assert!(SecondFactor::parse("12345").is_err());
    }
}
