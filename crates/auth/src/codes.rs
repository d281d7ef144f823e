//! One-time codes mailed to a user: a password reset, an email verification. Eight random
//! digits, alive 15 minutes, good for one use and a few attempts (shared by the user's live
//! codes for the purpose: a reset keeps a few, `CodePurpose::live_codes`). Only a hash is stored,
//! bound to the purpose, the account (by id, so a deleted and re-created account cannot use the
//! old one's code) and the address it was sent to.

use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

use stratus_core::domain::{Email, User};
use stratus_core::ports::{Checked, CodeRecord, CodeStore, Mail, MailError, Mailer, StoreError};

/// How long a mailed code works.
pub const CODE_TTL: Duration = Duration::minutes(15);

/// Attempts a user's live codes for one purpose survive together, each counted before it is
/// compared. Eight digits, five attempts and at most three live reset codes give a guesser one
/// chance in 6.7 million per code mailed.
pub const CODE_ATTEMPTS: u32 = 5;

const DIGITS: usize = 8;

pub use stratus_core::ports::CodePurpose;

/// A code as mailed or as typed back. Its Debug never shows the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(********)")
    }
}

impl OneTimeCode {
    /// Uniform over 00000000..=99999999 (rejection sampling: no modulo bias).
    pub fn generate() -> Self {
        const LIMIT: u32 = u32::MAX - u32::MAX % 100_000_000;
        loop {
            let mut bytes = [0u8; 4];
            aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
            let draw = u32::from_le_bytes(bytes);
            if draw < LIMIT {
                return Self(format!("{:0width$}", draw % 100_000_000, width = DIGITS));
            }
        }
    }

    /// What a user typed: eight digits, spaces and hyphens ignored (codes are often copied as
    /// `1234 5678`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(format!("must be the {DIGITS}-digit code from the mail"))
        }
    }

    /// The digits, for the mail only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and compared: never the code itself.
    pub fn hash(&self, purpose: CodePurpose, user: &User, email: &Email) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in [purpose.as_str(), &user.id.to_string(), &email.key(), &self.0] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize().into()
    }

    /// A fresh record for this code; the store keeps or drops the earlier ones
    /// (`CodePurpose::live_codes`).
    pub fn record(&self, purpose: CodePurpose, user: &User, now: OffsetDateTime) -> CodeRecord {
        CodeRecord {
            purpose,
            username: user.username.clone(),
            code_hash: self.hash(purpose, user, &user.email),
            expires_at: now + CODE_TTL,
            attempts_left: CODE_ATTEMPTS,
        }
    }
}

/// Why a code could not be mailed.
#[derive(Debug, thiserror::Error)]
pub enum SendCodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Draws a new code for `purpose` and mails it to the user's address. Earlier codes keep
/// working as the purpose says (`CodePurpose::live_codes`), and the attempts are re-armed. A
/// mail the service will never deliver (`MailError::Undeliverable`) is logged and counts as
/// sent; a service that cannot send now, or refuses us, is an error.
pub async fn send_code(
    codes: &dyn CodeStore,
    mailer: &dyn Mailer,
    purpose: CodePurpose,
    user: &User,
    now: OffsetDateTime,
) -> Result<(), SendCodeError> {
    let code = OneTimeCode::generate();
    codes.issue(&code.record(purpose, user, now)).await?;
    match mailer.send(&mail(purpose, user, &code)).await {
        Ok(()) => tracing::info!(username = %user.username, purpose = purpose.as_str(), "code mailed"),
        // Not the client's doing nor a fault to retry: logged, and answered as sent.
        Err(MailError::Undeliverable(cause)) => tracing::error!(
            username = %user.username,
            purpose = purpose.as_str(),
            error = %cause,
            "the code could not be delivered"
        ),
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// Counts an attempt at the user's codes for `purpose` and says whether `code` is one of them,
/// without spending it: for a use that may still be refused after the code is known right.
pub async fn check(
    codes: &dyn CodeStore,
    purpose: CodePurpose,
    user: &User,
    code: &OneTimeCode,
    now: OffsetDateTime,
) -> Result<Checked, StoreError> {
    codes.check(purpose, &user.username, &code.hash(purpose, user, &user.email), now).await
}

/// Spends `code`, which [`check`] found right, and with it the user's other codes for
/// `purpose`: false when another request spent it first.
pub async fn spend(
    codes: &dyn CodeStore,
    purpose: CodePurpose,
    user: &User,
    code: &OneTimeCode,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    codes.spend(purpose, &user.username, &code.hash(purpose, user, &user.email), now).await
}

/// The mail that carries a code. It repeats nothing a registrant chose (a first name, a
/// username: `www.example.net` is a valid one): `POST /register` mails any address, so whatever
/// it chose would be words of the attacker's in our mail to a stranger.
fn mail(purpose: CodePurpose, user: &User, code: &OneTimeCode) -> Mail {
    let minutes = CODE_TTL.whole_minutes();
    let digits = code.expose();
    let (subject, text) = match purpose {
        CodePurpose::PasswordReset => (
            "Your password reset code",
            format!(
                "Someone asked to reset the password of the account registered with this address. The code is\n\n    {digits}\n\nIt works once, for {minutes} minutes. If you did not ask, ignore this mail: the password stays as it is.\n"
            ),
        ),
        CodePurpose::EmailVerification => (
            "Verify your email address",
            format!(
                "To confirm that this address belongs to the account just registered with it, enter the code\n\n    {digits}\n\nIt works once, for {minutes} minutes. If you registered no account, ignore this mail: an unconfirmed address gets no further mail from us unless someone asks again.\n"
            ),
        ),
    };
    Mail { to: user.email.clone(), subject: subject.to_owned(), text, secret: digits.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_eight_digits_and_parse_back() {
        for _ in 0..1000 {
            let code = OneTimeCode::generate();
            assert_eq!(code.expose().len(), 8);
            assert_eq!(OneTimeCode::parse(code.expose()).unwrap(), code);
        }
    }

    #[test]
    fn typed_codes_may_carry_spaces_and_hyphens_but_nothing_else() {
        assert_eq!(OneTimeCode::parse("1234 5678").unwrap().expose(), "12345678");
        assert_eq!(OneTimeCode::parse("1234-5678").unwrap().expose(), "12345678");
        for bad in ["", "1234567", "123456789", "1234567a", "１２３４５６７８", "12345678\n"] {
            assert!(OneTimeCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// `POST /register` mails any address: nothing the registrant chose may reach the body.
    #[test]
    fn mails_repeat_nothing_the_registrant_chose() {
        use stratus_core::domain::{PasswordHash, PersonName, Role, Username};
        let user = User {
            id: uuid::Uuid::new_v4(),
            username: Username::parse("www.evil.example").unwrap(),
            email: Email::parse("victim@example.com").unwrap(),
            first_name: PersonName::parse("Call 555-0100 now").unwrap(),
            last_name: PersonName::parse("Urgent").unwrap(),
            role: Role::User,
            password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            last_login: None,
            session_generation: uuid::Uuid::new_v4(),
            disabled: false,
            email_verified: false,
            totp: None,
        };
        for purpose in [CodePurpose::PasswordReset, CodePurpose::EmailVerification] {
            let mail = mail(purpose, &user, &OneTimeCode::generate());
            for chosen in ["evil", "555", "Urgent"] {
                assert!(
                    !mail.text.contains(chosen) && !mail.subject.contains(chosen),
                    "{chosen}: {}",
                    mail.text
                );
            }
            assert!(mail.text.contains(&mail.secret));
        }
    }

    #[test]
    fn debug_hides_the_digits() {
        let code = OneTimeCode::parse("12345678").unwrap();
        assert!(!format!("{code:?}").contains("1234"));
    }
}
