//! Refresh-token sessions: opaque 256-bit tokens, stored only as SHA-256, rotated on every
//! use; presenting a spent token revokes its whole family.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::TokenIssuer;
use super::tokens::Issued;
use stratus_core::domain::User;
use stratus_core::ports::{RefreshRecord, RefreshTokenStore, SignError, StoreError};

/// What login and refresh answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// An ES256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, examples("Bearer"))]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; works once, for `/token/refresh` or `/logout`.
    pub refresh_token: String,
}

/// A refresh token as the client holds it.
pub struct RefreshToken(String);

impl RefreshToken {
    const BYTES: usize = 32;

    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; Self::BYTES];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Any string a client sends; only its hash is ever looked up.
    pub fn presented(text: &str) -> Option<Self> {
        let well_formed =
            text.len() == 43 && URL_SAFE_NO_PAD.decode(text).is_ok_and(|b| b.len() == Self::BYTES);
        well_formed.then(|| Self(text.to_owned()))
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// The session a refresh continues: the family of its tokens and when its login was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub family: Uuid,
    pub started_at: OffsetDateTime,
}

impl Session {
    pub fn of(record: &RefreshRecord) -> Self {
        Self { family: record.family, started_at: record.family_started_at }
    }

    /// A new session, begun at `now`.
    pub fn begin(now: OffsetDateTime) -> Self {
        Self { family: Uuid::new_v4(), started_at: now }
    }

    /// Ends a session whose tokens were issued and never answered (what they were for was lost
    /// to a concurrent request): its refresh token could not be presented anyway, since only
    /// the answer carried it, and revoking its family says so in the store.
    pub async fn withdraw(
        self,
        issuer: &TokenIssuer,
        refresh_tokens: &dyn RefreshTokenStore,
    ) -> Result<(), StoreError> {
        refresh_tokens
            .revoke_family(self.family, self.started_at + issuer.config().session_max_lifetime)
            .await
    }
}

/// Why tokens could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The end of a successful login (after the password, and the code when TOTP is on): stamps
/// `last_login` (and stores the password's new hash, if it was rehashed) and begins a session:
/// its tokens, which the HTTP layer answers never to be cached (`stratus_http::guard::tokens`).
pub async fn logged_in(
    users: &dyn stratus_core::ports::UserStore,
    issuer: &TokenIssuer,
    refresh_tokens: &dyn RefreshTokenStore,
    mut user: User,
    rehashed: Option<&stratus_core::domain::PasswordHash>,
    now: OffsetDateTime,
) -> Result<TokenPair, IssueError> {
    users.record_login(&user.username, now, rehashed).await?;
    user.last_login = Some(now);
    issue_pair(issuer, refresh_tokens, &user, None, now).await
}

/// Issues an access token and a refresh token of `session` (a new session at login). However
/// often a session is refreshed, its refresh tokens expire by the session's maximum lifetime:
/// a stolen one cannot be kept alive for ever.
pub async fn issue_pair(
    issuer: &TokenIssuer,
    refresh_tokens: &dyn RefreshTokenStore,
    user: &User,
    session: Option<Session>,
    now: OffsetDateTime,
) -> Result<TokenPair, IssueError> {
    let session = session.unwrap_or_else(|| Session::begin(now));
    let config = issuer.config();
    let expires_at = (now + config.refresh_ttl).min(session.started_at + config.session_max_lifetime);
    let Issued { token: access_token, expires_in } = issuer.access_token(user, now).await?;
    let refresh = RefreshToken::generate();
    refresh_tokens
        .insert(&RefreshRecord {
            token_hash: refresh.hash(),
            username: user.username.clone(),
            family: session.family,
            family_started_at: session.started_at,
            generation: user.session_generation,
            expires_at,
            client: None,
        })
        .await?;
    Ok(TokenPair { access_token, token_type: "Bearer", expires_in, refresh_token: refresh.0 })
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(..)")
    }
}
