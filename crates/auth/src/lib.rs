//! Authentication: password policy and hashing, access tokens (ES256 JWTs), refresh-token
//! sessions, one-time codes, TOTP, sealing, and the checks handlers run. Every outcome is typed
//! (tokens, a refusal and why, a rate limit): the HTTP layer (`stratus_http::guard`) turns them
//! into responses. No SDK call and no HTTP type is made here.

pub mod attempts;
pub mod bootstrap;
pub mod codes;
pub mod guard;
pub mod keys;
pub mod login;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod reauth;
pub mod registration;
pub mod sealing;
pub mod session;
pub mod tokens;
pub mod totp;

pub use guard::{Authenticator, Refusal};
pub use password::Password;
pub use stratus_core::config::AuthConfig;
pub use tokens::{TokenIssuer, TokenVerifier};

/// Runs CPU-heavy work (password hashing) off the async threads, so one login does not stall
/// every other request a local server is serving.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The blocking thread is not in the request's span unless taken there: its logs must still
    // carry the request id.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await
}
