//! Access tokens: ES256 JWTs with `sub`, `role`, `iat`, `nbf`, `exp`, `iss`, `aud`, `jti` and a
//! `kid` header. Issued through the `TokenSigner` port (KMS on AWS); verified with the public
//! key only, the algorithm pinned.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AuthConfig;
use super::keys::PublicKey;
use stratus_core::domain::{Role, User, Username};
use stratus_core::ports::{SignError, TokenSigner};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// Whether the user has verified their email address (as OpenID Connect's claim).
    #[serde(default)]
    pub email_verified: bool,
    /// Absent on an access token. `email-verification` on the token a login hands an account
    /// that must verify its email first: it opens the two verification routes and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What `scope` an email-verification token carries.
pub const EMAIL_VERIFICATION_SCOPE: &str = "email-verification";

/// What `scope` the token carries that a login hands an account with TOTP on, in place of an
/// access token: it proves the password, and opens `POST /login/mfa` and nothing else.
pub const MFA_SCOPE: &str = "mfa";

/// How long the second step of a login may take.
pub const MFA_TOKEN_TTL: time::Duration = time::Duration::minutes(5);

/// What a token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// An access token: the whole API, as far as the role goes.
    Access,
    /// The email-verification routes only.
    EmailVerification,
    /// The second step of a login only.
    Mfa,
}

#[derive(Clone)]
pub struct TokenIssuer {
    signer: Arc<dyn TokenSigner>,
    config: AuthConfig,
}

impl TokenIssuer {
    pub fn new(signer: Arc<dyn TokenSigner>, config: AuthConfig) -> Self {
        Self { signer, config }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// A signed access token for the user and its lifetime in seconds.
    pub async fn access_token(&self, user: &User, now: OffsetDateTime) -> Result<(String, i64), SignError> {
        self.sign(user, now, self.config.access_ttl, None).await
    }

    /// A token that only lets the user verify their email (and ask for another code): what login
    /// gives an unverified account when verified emails are required.
    pub async fn email_verification_token(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<(String, i64), SignError> {
        let lifetime = self.config.access_ttl.min(super::codes::CODE_TTL);
        self.sign(user, now, lifetime, Some(EMAIL_VERIFICATION_SCOPE)).await
    }

    /// The token of a login's first step (the password) when TOTP is on: it buys nothing but
    /// the chance to send a code to `POST /login/mfa`.
    pub async fn mfa_token(&self, user: &User, now: OffsetDateTime) -> Result<(String, i64), SignError> {
        self.sign(user, now, self.config.access_ttl.min(MFA_TOKEN_TTL), Some(MFA_SCOPE)).await
    }

    async fn sign(
        &self,
        user: &User,
        now: OffsetDateTime,
        lifetime: time::Duration,
        scope: Option<&str>,
    ) -> Result<(String, i64), SignError> {
        let issued = now.unix_timestamp();
        let lifetime = lifetime.whole_seconds();
        let claims = AccessClaims {
            sub: user.username.to_string(),
            role: user.role,
            iat: issued,
            nbf: issued,
            exp: issued + lifetime,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            email_verified: user.email_verified,
            scope: scope.map(str::to_owned),
        };
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": self.signer.key_id() });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"))
        );
        let signature = self.signer.sign(signing_input.as_bytes()).await?;
        Ok((format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)), lifetime))
    }
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub username: Username,
    pub role: Role,
    pub scope: TokenScope,
}

#[derive(Clone)]
pub struct TokenVerifier {
    /// By `kid`: the current key and any retired one whose tokens may still be live.
    keys: Vec<(String, DecodingKey)>,
    validation: Validation,
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;

impl TokenVerifier {
    /// Accepts tokens signed by any of `public_keys`, told apart by their `kid`.
    pub fn new(public_keys: &[PublicKey], config: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let keys =
            public_keys.iter().map(|k| (k.key_id.clone(), DecodingKey::from_ec_der(&k.point))).collect();
        Self { keys, validation }
    }

    /// The token's subject and role, if the token is genuine, current and meant for us.
    pub fn verify(&self, token: &str) -> Result<Claimed, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::ES256 {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|(id, _)| id == kid))
            .map(|(_, key)| key)
            .ok_or("unknown key id")?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(|e| e.to_string())?;
        let username = Username::parse(&data.claims.sub).map_err(|e| e.to_string())?;
        let scope = match data.claims.scope.as_deref() {
            None => TokenScope::Access,
            Some(EMAIL_VERIFICATION_SCOPE) => TokenScope::EmailVerification,
            Some(MFA_SCOPE) => TokenScope::Mfa,
            Some(other) => return Err(format!("scope {other:?} is not known")),
        };
        Ok(Claimed { username, role: data.claims.role, scope })
    }
}
