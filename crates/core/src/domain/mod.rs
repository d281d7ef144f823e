//! Domain types that cannot hold a bad value: once parsed, always valid.

pub mod digest;
pub mod email;
pub mod message;
pub mod number;
pub mod oauth;
pub mod person;
pub mod role;
pub mod schema;
pub mod task;
pub mod user;
pub mod username;

pub use digest::{Digest, DigestError};
pub use email::{Email, EmailError};
pub use message::{Message, MessageTooLong, StoredMessage};
pub use number::{Number, NumberError};
pub use oauth::{
    ClientAuthMethod, ClientId, GrantType, IdTokenAlg, OAuthClient, OAuthValueError, RedirectUri, Scopes,
};
pub use person::{PersonName, PersonNameError};
pub use role::Role;
pub use task::{Idempotency, IdempotencyKeyError, Task, TaskId, TaskIdError, TaskOutcome, TaskStatus};
pub use user::{PasswordHash, Profile, TotpEnrollment, User};
pub use username::{Username, UsernameError};

/// Pseudo-random strings over `alphabet`, 0 to `max_chars` long, the same on every run: for
/// tests that a parser and the pattern the OpenAPI document states accept exactly the same text.
#[cfg(test)]
pub(crate) fn samples(alphabet: &str, max_chars: usize, count: usize) -> impl Iterator<Item = String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let len = (next() % (max_chars as u64 + 1)) as usize;
        (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
    })
}
