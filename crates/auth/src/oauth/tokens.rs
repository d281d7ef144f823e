//! Revocation (RFC 7009) and introspection (RFC 7662) of the tokens OAuth issued. Both take
//! either kind of token, access or refresh, whatever `token_type_hint` says (§2.1 of each lets
//! the server look further than the hint).

use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::OAuthError;
use super::clients::{self, Presented};
use crate::TokenVerifier;
use crate::session::RefreshToken;
use stratus_core::clock::Clock;
use stratus_core::domain::{OAuthClient, Username};
use stratus_core::ports::{ClientStore, RefreshTokenStore, UserStore};

/// RFC 7662 §2.2's answer. Inactive tokens say nothing else.
#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Introspected {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What revocation and introspection read: the clients who ask, and the tokens they ask
/// about. Built once per cold start.
pub struct TokenRegistry {
    pub clients: Arc<dyn ClientStore>,
    pub verifier: TokenVerifier,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub users: Arc<dyn UserStore>,
    pub clock: Arc<dyn Clock>,
    /// How long a revoked grant's refusal is kept: as long as any of its tokens could live.
    pub session_max_lifetime: time::Duration,
}

/// A token found: an access token's claims, or a refresh token's record.
enum Found {
    Access(serde_json::Map<String, serde_json::Value>),
    Refresh(stratus_core::ports::RefreshRecord),
}

impl TokenRegistry {
    /// The client asking, if it authenticated as it registered to (`clients::authenticate`).
    pub async fn client(&self, presented: &Presented) -> Result<OAuthClient, OAuthError> {
        clients::authenticate(self.clients.as_ref(), presented).await
    }

    /// Whether `token` is live, and if so what it grants. Any authenticated client may ask about
    /// an access token (a resource server asks about tokens issued to others); a refresh token
    /// is its own client's business only, and is inactive to anyone else.
    pub async fn introspect(&self, client: &OAuthClient, token: &str) -> Result<Introspected, OAuthError> {
        let now = self.clock.now();
        let found = match self.find(token, now).await? {
            Some(Found::Refresh(record))
                if record.client.as_ref().is_none_or(|grant| grant.client_id != client.id) =>
            {
                None
            }
            found => found,
        };
        Ok(match found {
            Some(Found::Access(claims)) => {
                let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
                let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
                Introspected {
                    active: true,
                    scope: text("scope"),
                    client_id: text("client_id"),
                    username: text("preferred_username"),
                    token_type: Some("access_token"),
                    exp: number("exp"),
                    iat: number("iat"),
                    sub: text("sub"),
                    aud: text("aud"),
                    iss: text("iss"),
                    jti: text("jti"),
                }
            }
            Some(Found::Refresh(record)) => {
                let client = record.client.as_ref();
                Introspected {
                    active: true,
                    scope: client.map(|c| c.scope.to_string()),
                    client_id: client.map(|c| c.client_id.to_string()),
                    username: Some(record.username.to_string()),
                    token_type: Some("refresh_token"),
                    exp: Some(record.expires_at.unix_timestamp()),
                    ..Introspected::default()
                }
            }
            None => Introspected::default(),
        })
    }

    /// Revokes the grant of `token` if it is live and was issued to `client`; anything else is
    /// left alone and answered alike (RFC 7009 §2.2: 200 for unknown tokens too).
    pub async fn revoke(&self, client: &OAuthClient, token: &str) -> Result<(), OAuthError> {
        let now = self.clock.now();
        let family = match self.find(token, now).await? {
            Some(Found::Access(claims)) => {
                let mine = claims.get("client_id").and_then(|v| v.as_str()) == Some(client.id.as_str());
                let family = claims.get("sid").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok());
                family.filter(|_| mine)
            }
            Some(Found::Refresh(record)) => {
                let mine = record.client.as_ref().is_some_and(|grant| grant.client_id == client.id);
                mine.then_some(record.family)
            }
            None => None,
        };
        if let Some(family) = family {
            self.refresh_tokens.revoke_family(family, now + self.session_max_lifetime).await?;
        }
        Ok(())
    }

    async fn find(&self, token: &str, now: OffsetDateTime) -> Result<Option<Found>, OAuthError> {
        if let Some(refresh) = RefreshToken::presented(token) {
            return Ok(match self.refresh_tokens.peek(&refresh.hash(), now).await? {
                Some((record, false))
                    if !self.refresh_tokens.is_family_revoked(record.family, now).await? =>
                {
                    Some(Found::Refresh(record))
                }
                _ => None,
            });
        }
        let Ok(claims) = self.verifier.access_claims(token) else { return Ok(None) };
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        if let Some(family) = text("sid").and_then(|s| Uuid::parse_str(s).ok())
            && self.refresh_tokens.is_family_revoked(family, now).await?
        {
            return Ok(None);
        }
        // A user's token stands only while its account does as it was: same id, same session
        // generation, enabled. A client's own token (client credentials) has no user.
        if let Some(name) = text("preferred_username") {
            let Ok(username) = Username::parse(name) else { return Ok(None) };
            let user = self.users.get(&username).await?;
            let current = user.is_some_and(|user| {
                Some(user.id.to_string().as_str()) == text("sub")
                    && Some(user.session_generation.to_string().as_str()) == text("sgen")
                    && !user.disabled
            });
            if !current {
                return Ok(None);
            }
        }
        Ok(Some(Found::Access(claims)))
    }
}
