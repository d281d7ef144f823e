//! The OpenID Provider's flows (OAuth 2.1, OpenID Connect Core): client registration and
//! authentication, the authorization request and the hosted login page's steps, the token
//! endpoint's grants, ID tokens, revocation and introspection. Each returns a typed outcome or
//! an [`OAuthError`] carrying RFC 6749's error code; the functions turn them into HTTP.

pub mod authorize;
pub mod clients;
pub mod grants;
pub mod id_token;
pub mod tokens;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use stratus_core::ports::{SignError, StoreError};

/// How long an authorization code works (OAuth 2.1 §4.1.2 recommends at most ten minutes; a
/// client redeems it within seconds).
pub const CODE_TTL: time::Duration = time::Duration::seconds(60);

/// 256 random bits, base64url: codes, client secrets, registration tokens, session cookies.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a token: its SHA-256. The tokens are 256 random bits, so a fast hash
/// loses nothing against a slow one.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two hashes are equal, in time that does not depend on where they differ.
pub fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// RFC 6749's error codes, with OpenID Connect's and RFC 7591's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidToken,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error: the code, and a description for the client's developer (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self { code, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store call failed");
        match error {
            StoreError::Unavailable(_) => Self::new(ErrorCode::TemporarilyUnavailable, "try again shortly"),
            StoreError::Internal(_) => Self::new(ErrorCode::ServerError, "an internal error"),
        }
    }
}

impl From<SignError> for OAuthError {
    fn from(error: SignError) -> Self {
        tracing::error!(%error, "signing failed");
        match error {
            SignError::Unavailable(_) => Self::new(ErrorCode::TemporarilyUnavailable, "try again shortly"),
            SignError::Failed(_) => Self::new(ErrorCode::ServerError, "an internal error"),
        }
    }
}

/// The PKCE S256 check (RFC 7636 §4.6): base64url(SHA-256(verifier)) equals the challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

/// A PKCE verifier or S256 challenge as RFC 7636 §4.1 spells one: 43 to 128 unreserved
/// characters (a challenge is always 43).
pub fn pkce_shaped(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(pkce_shaped(verifier));
        assert!(!pkce_shaped("short"));
    }
}
