//! Authentication: password policy and hashing, access tokens (ES256 JWTs), refresh-token
//! sessions and the guards handlers use.

pub mod bootstrap;
pub mod codes;
pub mod config;
pub mod guard;
pub mod keys;
pub mod mfa;
pub mod password;
pub mod reauth;
pub mod sealing;
pub mod session;
pub mod tokens;
pub mod totp;

pub use config::AuthConfig;
pub use guard::{Principal, authenticate};
pub use password::Password;
pub use tokens::{TokenIssuer, TokenVerifier};
