//! The token endpoint's grants (OAuth 2.1 §4): the authorization code with its PKCE verifier,
//! the refresh token (rotated; a spent one presented again revokes its grant), and the client's
//! own credentials.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::id_token::{self, SignIn};
use super::{ErrorCode, OAuthError, pkce_matches, pkce_shaped, token_hash};
use crate::TokenIssuer;
use crate::session::RefreshToken;
use stratus_core::domain::{GrantType, OAuthClient, Scopes, User, Username};
use stratus_core::ports::{
    AuthorizationStore, ClientGrant, CodeGrant, CodeRedemption, RefreshRecord, RefreshTokenStore, Spend,
    UserStore,
};

/// A token request's form (RFC 6749 §4.1.3, §6, §4.4.2): what every grant may send.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// An ES256 JWT access token (RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, examples("Bearer"))]
    pub token_type: &'static str,
    pub expires_in: i64,
    /// The scope granted.
    pub scope: String,
    /// With the `offline_access` scope and the refresh_token grant registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// With the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The ports the grants use.
pub struct Grants<'a> {
    pub users: &'a dyn UserStore,
    pub refresh_tokens: &'a dyn RefreshTokenStore,
    pub authorizations: &'a dyn AuthorizationStore,
    pub issuer: &'a TokenIssuer,
}

impl Grants<'_> {
    /// Runs the grant `request` names for the authenticated `client`.
    pub async fn exchange(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = match request.grant_type.as_deref() {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some(text) => GrantType::parse(text)
                .map_err(|e| OAuthError::new(ErrorCode::UnsupportedGrantType, e.to_string()))?,
        };
        if !client.allows(grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("the client did not register the {} grant", grant.as_str()),
            ));
        }
        match grant {
            GrantType::AuthorizationCode => self.authorization_code(client, request, now).await,
            GrantType::RefreshToken => self.refresh(client, request, now).await,
            GrantType::ClientCredentials => self.client_credentials(client, request, now).await,
        }
    }

    async fn authorization_code(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, OAuthError> {
        let code = request.code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let verifier = request
            .code_verifier
            .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
        if !pkce_shaped(&verifier) {
            return Err(OAuthError::invalid_request("code_verifier is 43 to 128 unreserved characters"));
        }
        // Everything that can fail is done before the code is spent, the tokens stored first:
        // a dependency's fault (503) then leaves the code as it was, so the client's honest
        // retry redeems it, instead of looking like a replay that revokes the grant.
        let code_hash = token_hash(&code);
        let grant = match self.authorizations.peek_code(&code_hash, now).await? {
            Some((grant, false)) => grant,
            Some((grant, true)) => return Err(self.replayed(&grant, now).await),
            None => return Err(OAuthError::invalid_grant("the code is invalid or expired")),
        };
        let mismatch = if grant.client_id != client.id {
            Some("the code was issued to another client")
        } else if request.redirect_uri.as_deref().is_some_and(|uri| uri != grant.redirect_uri.as_str()) {
            Some("redirect_uri differs from the authorization request's")
        } else if !pkce_matches(&verifier, &grant.code_challenge) {
            Some("the code_verifier does not match the code_challenge")
        } else {
            None
        };
        if let Some(mismatch) = mismatch {
            // Spent all the same: a code presented wrongly is never tried again.
            self.authorizations.redeem_code(&code_hash, now).await?;
            return Err(OAuthError::invalid_grant(mismatch));
        }
        let user = self.current_user(&grant.username, grant.user_id, grant.generation).await?;
        let refresh = client.allows(GrantType::RefreshToken) && grant.scope.contains(Scopes::OFFLINE_ACCESS);
        let client_grant = ClientGrant {
            client_id: client.id.clone(),
            scope: grant.scope.clone(),
            auth_time: grant.auth_time,
        };
        let sign_in = SignIn {
            user: &user,
            scope: &grant.scope,
            auth_time: grant.auth_time,
            nonce: grant.nonce.as_deref(),
            amr: Some(&grant.amr),
            family: grant.family,
        };
        let tokens = self.issue(client, &user, &client_grant, grant.family, now, refresh, sign_in).await?;
        match self.authorizations.redeem_code(&code_hash, now).await? {
            CodeRedemption::Redeemed(_) => Ok(tokens),
            // Presented twice at once, and the other presentation spent it first.
            CodeRedemption::Reused(grant) => Err(self.replayed(&grant, now).await),
            // Expired while the tokens were made: none of them may stand.
            CodeRedemption::Unknown => {
                self.revoke_grant(grant.family, now).await?;
                Err(OAuthError::invalid_grant("the code is invalid or expired"))
            }
        }
    }

    /// A code presented twice was intercepted or replayed: what its first use issued is revoked
    /// (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3).
    async fn replayed(&self, grant: &CodeGrant, now: OffsetDateTime) -> OAuthError {
        tracing::warn!(client = %grant.client_id, "an authorization code was used twice: its grant is revoked");
        match self.revoke_grant(grant.family, now).await {
            Ok(()) => OAuthError::invalid_grant("the code was already used"),
            Err(error) => error,
        }
    }

    async fn refresh(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, OAuthError> {
        let presented =
            request.refresh_token.ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let Some(token) = RefreshToken::presented(&presented) else { return Err(invalid()) };
        let record = match self.refresh_tokens.spend(&token.hash(), None, now).await? {
            Spend::Spent(record) => record,
            Spend::Replayed(record) => {
                self.revoke_grant(record.family, now).await?;
                tracing::warn!("a spent OAuth refresh token was presented again: its grant is revoked");
                return Err(invalid());
            }
            Spend::Unknown => return Err(invalid()),
        };
        let Some(client_grant) = record.client.clone().filter(|grant| grant.client_id == client.id) else {
            // Another client's token, or the API's own login's: whoever presents it should not
            // have it, so it is spent and its family ends.
            self.revoke_grant(record.family, now).await?;
            return Err(invalid());
        };
        if self.refresh_tokens.is_family_revoked(record.family, now).await? {
            return Err(invalid());
        }
        let scope = match request.scope.as_deref() {
            None => client_grant.scope.clone(),
            Some(text) => {
                let asked = Scopes::parse(text)
                    .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !asked.is_subset(&client_grant.scope) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "a refresh cannot widen the grant's scope",
                    ));
                }
                asked
            }
        };
        let user = self.current_user(&record.username, None, record.generation).await?;
        let narrowed = ClientGrant { scope: scope.clone(), ..client_grant.clone() };
        let sign_in = SignIn {
            user: &user,
            scope: &scope,
            auth_time: client_grant.auth_time,
            nonce: None,
            amr: None,
            family: record.family,
        };
        let started = Some(record.family_started_at);
        self.issue_in(client, &user, &narrowed, record.family, started, now, true, sign_in).await
    }

    async fn client_credentials(
        &self,
        client: &OAuthClient,
        request: TokenRequest,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, OAuthError> {
        // A client acting for itself has no user: the scopes about a user are not its to ask.
        let user_scopes = Scopes::parse("openid profile email offline_access").expect("known scopes parse");
        let own: Vec<&str> = client.scope.iter().filter(|s| !user_scopes.contains(s)).collect();
        let allowed = Scopes::parse(&own.join(" ")).expect("registered scopes parse");
        let scope = match request.scope.as_deref() {
            None => allowed.clone(),
            Some(text) => {
                Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?
            }
        };
        if scope.is_empty() || !scope.is_subset(&allowed) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("the client may ask for: {allowed} (no user scopes: there is no user)"),
            ));
        }
        let issued = self.issuer.client_access_token(client.id.as_str(), &scope.to_string(), now).await?;
        Ok(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: scope.to_string(),
            refresh_token: None,
            id_token: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        client: &OAuthClient,
        user: &User,
        grant: &ClientGrant,
        family: Uuid,
        now: OffsetDateTime,
        refresh: bool,
        sign_in: SignIn<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_in(client, user, grant, family, None, now, refresh, sign_in).await
    }

    /// The tokens of a grant: an access token, a refresh token of `family` when `refresh`, and
    /// an ID token when the scope has `openid`.
    #[allow(clippy::too_many_arguments)]
    async fn issue_in(
        &self,
        client: &OAuthClient,
        user: &User,
        grant: &ClientGrant,
        family: Uuid,
        family_started_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
        refresh: bool,
        sign_in: SignIn<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let scope = grant.scope.to_string();
        let access = self.issuer.oauth_access_token(user, client.id.as_str(), &scope, family, now).await?;
        let refresh_token = if refresh {
            let config = self.issuer.config();
            let started = family_started_at.unwrap_or(now);
            let token = RefreshToken::generate();
            self.refresh_tokens
                .insert(&RefreshRecord {
                    token_hash: token.hash(),
                    username: user.username.clone(),
                    family,
                    family_started_at: started,
                    generation: user.session_generation,
                    expires_at: (now + config.refresh_ttl).min(started + config.session_max_lifetime),
                    client: Some(grant.clone()),
                })
                .await?;
            Some(token.into_string())
        } else {
            None
        };
        let id_token = if grant.scope.contains(Scopes::OPENID) {
            Some(id_token::sign(self.issuer, client, sign_in, &access.token, now).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope,
            refresh_token,
            id_token,
        })
    }

    /// Ends a grant: its refresh tokens, present and future, and (at introspection and userinfo)
    /// its access tokens.
    pub async fn revoke_grant(&self, family: Uuid, now: OffsetDateTime) -> Result<(), OAuthError> {
        let until = now + self.issuer.config().session_max_lifetime;
        Ok(self.refresh_tokens.revoke_family(family, until).await?)
    }

    /// The grant's account, if it still stands as it did: same id (when known), same session
    /// generation, enabled.
    async fn current_user(
        &self,
        username: &Username,
        id: impl Into<Option<Uuid>>,
        generation: Uuid,
    ) -> Result<User, OAuthError> {
        let id = id.into();
        let user = self.users.get(username).await?;
        user.filter(|user| {
            id.is_none_or(|id| id == user.id) && user.session_generation == generation && !user.disabled
        })
        .ok_or_else(|| OAuthError::invalid_grant("the user's session has ended"))
    }
}
