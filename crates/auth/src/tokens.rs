//! The tokens Stratus signs: ES256 JWTs with a `kid` header, issued through the `TokenSigner`
//! port (KMS on AWS) and verified with the public key only, the algorithm pinned.
//!
//! One meaning per token type. Each kind has its own `typ` header and its own audience, so a
//! verifier configured as the docs say (issuer, the API's audience, `typ: at+jwt`) accepts an
//! access token and nothing else: the token of a login's first step, or the one that only
//! verifies an email address, fails on its audience alone even where `typ` is not checked.
//!
//! Access tokens follow the JWT profile for OAuth 2.0 access tokens (RFC 9068): `sub` is the
//! account's immutable id, never its name (a name can be freed and registered again), with
//! `client_id` and `scope`. Every token names the session generation it was issued under
//! (`sgen`): a password change, a reset, a disable or TOTP turned on or off moves the account to a
//! new one, and the guard refuses a token of an older one (`crate::guard`).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AuthConfig;
use super::keys::PublicKey;
use stratus_core::domain::{Role, User, Username};
use stratus_core::ports::{SignError, TokenSigner};

/// What a token is good for. Each kind is a distinct `typ` and audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The whole API, as far as the account's current role goes.
    Access,
    /// The second step of a login (`POST /login/mfa`) and nothing else: it proves the password.
    MfaStep,
    /// The email-verification routes only: what login gives an account that must verify first.
    EmailVerification,
}

impl TokenKind {
    /// The `typ` header (RFC 8725 §3.11 explicit typing; RFC 9068 names `at+jwt`).
    pub fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::MfaStep => "mfa-step+jwt",
            Self::EmailVerification => "email-verification+jwt",
        }
    }

    /// The audience: the API's for access tokens; a fixed name of their own for the others,
    /// which no setting can make equal to the API's.
    pub fn audience(self, config: &AuthConfig) -> &str {
        match self {
            Self::Access => &config.audience,
            Self::MfaStep => MFA_STEP_AUDIENCE,
            Self::EmailVerification => EMAIL_VERIFICATION_AUDIENCE,
        }
    }

    fn lifetime(self, config: &AuthConfig) -> time::Duration {
        match self {
            Self::Access => config.access_ttl,
            Self::MfaStep => config.access_ttl.min(MFA_TOKEN_TTL),
            Self::EmailVerification => config.access_ttl.min(super::codes::CODE_TTL),
        }
    }
}

/// The audience of a login's first-step token.
pub const MFA_STEP_AUDIENCE: &str = "urn:stratus:login-mfa";
/// The audience of an email-verification token.
pub const EMAIL_VERIFICATION_AUDIENCE: &str = "urn:stratus:email-verification";

/// `client_id` of the tokens the API's own login issues (RFC 9068 asks every access token for
/// one); an OAuth client's id takes its place in tokens issued to that client.
pub const FIRST_PARTY_CLIENT_ID: &str = "stratus";
/// `scope` of those tokens: the API, as far as the account's role goes.
pub const FIRST_PARTY_SCOPE: &str = "api";

/// How long the second step of a login may take.
pub const MFA_TOKEN_TTL: time::Duration = time::Duration::minutes(5);

/// The claims of every token Stratus signs. Which are present depends on the kind: the access
/// token has all (RFC 9068's required ones among them); the others have no `role`,
/// `client_id` or `scope`, so nothing that reads one as an access token finds a grant in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The account's id.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The account's username, for display and logs (OpenID Connect's claim name).
    pub preferred_username: String,
    /// The session generation the token was issued under (`User::session_generation`).
    pub sgen: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The role at issue. The API reads the account's current role instead; this is for
    /// other services, which may act on it until the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Whether the user has verified their email address (as OpenID Connect's claim).
    #[serde(default)]
    pub email_verified: bool,
    /// The OAuth grant (its refresh-token family) an OAuth access token belongs to: revoking the
    /// grant ends the token at introspection and userinfo before it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// The claims of an access token signed before the token profile (`typ: JWT`, `sub` the
/// username, no `scope`). Accepted until they expire, at most `access_ttl` after the first
/// deploy of the profile, so no one is logged out by it; nothing signs them any more.
// Remove with the release after the one that introduced the profile.
#[derive(Debug, Deserialize)]
struct LegacyAccessClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Clone)]
pub struct TokenIssuer {
    signer: Arc<dyn TokenSigner>,
    /// The RS256 key of ID tokens, for the functions that issue them.
    rsa_signer: Option<Arc<dyn TokenSigner>>,
    config: AuthConfig,
}

impl TokenIssuer {
    pub fn new(signer: Arc<dyn TokenSigner>, config: AuthConfig) -> Self {
        Self { signer, rsa_signer: None, config }
    }

    /// Also signs RS256 ID tokens, with `rsa_signer`.
    pub fn with_rsa(mut self, rsa_signer: Arc<dyn TokenSigner>) -> Self {
        self.rsa_signer = Some(rsa_signer);
        self
    }

    /// The signer of `alg`'s ID tokens: the ES256 key of access tokens, or the RSA key.
    pub fn id_token_signer(
        &self,
        alg: stratus_core::domain::IdTokenAlg,
    ) -> Result<&dyn TokenSigner, SignError> {
        match alg {
            stratus_core::domain::IdTokenAlg::ES256 => Ok(self.signer.as_ref()),
            stratus_core::domain::IdTokenAlg::RS256 => self
                .rsa_signer
                .as_deref()
                .ok_or_else(|| SignError::Failed("this function has no RS256 key".into())),
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// A signed access token for the user and its lifetime in seconds.
    pub async fn access_token(&self, user: &User, now: OffsetDateTime) -> Result<Issued, SignError> {
        self.sign(TokenKind::Access, user, now).await
    }

    /// A token that only lets the user verify their email (and ask for another code): what login
    /// gives an unverified account when verified emails are required.
    pub async fn email_verification_token(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<Issued, SignError> {
        self.sign(TokenKind::EmailVerification, user, now).await
    }

    /// The token of a login's first step (the password) when TOTP is on: it buys nothing but
    /// one chance to complete the login at `POST /login/mfa`.
    pub async fn mfa_token(&self, user: &User, now: OffsetDateTime) -> Result<Issued, SignError> {
        self.sign(TokenKind::MfaStep, user, now).await
    }

    async fn sign(&self, kind: TokenKind, user: &User, now: OffsetDateTime) -> Result<Issued, SignError> {
        let access = kind == TokenKind::Access;
        let grant = access.then(|| (FIRST_PARTY_CLIENT_ID.to_owned(), FIRST_PARTY_SCOPE.to_owned()));
        let claims = self.user_claims(kind, user, self.issuer_id(), grant, None, now);
        let token = self.sign_jws(self.signer.as_ref(), "ES256", kind.typ(), &claims).await?;
        Ok(Issued { token, expires_in: claims.exp - claims.iat })
    }

    /// An access token for `user` in an OAuth client's grant: the OpenID Provider's issuer,
    /// the client's id, the granted scope and the grant's family (`sid`).
    pub async fn oauth_access_token(
        &self,
        user: &User,
        client_id: &str,
        scope: &str,
        family: Uuid,
        now: OffsetDateTime,
    ) -> Result<Issued, SignError> {
        let issuer = self.oidc_issuer().map_err(SignError::Failed)?;
        let grant = Some((client_id.to_owned(), scope.to_owned()));
        let claims = self.user_claims(TokenKind::Access, user, issuer, grant, Some(family), now);
        let token = self.sign_jws(self.signer.as_ref(), "ES256", TokenKind::Access.typ(), &claims).await?;
        Ok(Issued { token, expires_in: claims.exp - claims.iat })
    }

    /// An access token of a client acting for itself (the client-credentials grant): `sub` is
    /// the client's id, with no user claims, so the API, which acts for users only, refuses it.
    pub async fn client_access_token(
        &self,
        client_id: &str,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<Issued, SignError> {
        #[derive(Serialize)]
        struct ClientClaims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: i64,
            iat: i64,
            nbf: i64,
            jti: String,
            client_id: &'a str,
            scope: &'a str,
        }
        let issued = now.unix_timestamp();
        let lifetime = self.config.access_ttl.whole_seconds();
        let claims = ClientClaims {
            iss: self.oidc_issuer().map_err(SignError::Failed)?,
            sub: client_id,
            aud: &self.config.audience,
            exp: issued + lifetime,
            iat: issued,
            nbf: issued,
            jti: Uuid::new_v4().to_string(),
            client_id,
            scope,
        };
        let token = self.sign_jws(self.signer.as_ref(), "ES256", TokenKind::Access.typ(), &claims).await?;
        Ok(Issued { token, expires_in: lifetime })
    }

    /// The `iss` of every token: the OpenID Provider's issuer identifier (the public URL) once
    /// the deployment has one, `TOKEN_ISSUER` before. Verifiers accept both, so the tokens of
    /// the old name stay good until they expire.
    pub fn issuer_id(&self) -> &str {
        self.config.oidc_issuer.as_deref().unwrap_or(&self.config.issuer)
    }

    /// The OpenID Provider's issuer identifier, if the deployment has a public URL.
    pub fn oidc_issuer(&self) -> Result<&str, String> {
        self.config.oidc_issuer.as_deref().ok_or_else(|| {
            "the OAuth provider needs the API's public URL (PUBLIC_BASE_URL): stratus-admin set-public-url".to_owned()
        })
    }

    fn user_claims(
        &self,
        kind: TokenKind,
        user: &User,
        issuer: &str,
        grant: Option<(String, String)>,
        sid: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Claims {
        let issued = now.unix_timestamp();
        let lifetime = kind.lifetime(&self.config).whole_seconds();
        let access = kind == TokenKind::Access;
        let (client_id, scope) = grant.unzip();
        Claims {
            iss: issuer.to_owned(),
            sub: user.id.to_string(),
            aud: kind.audience(&self.config).to_owned(),
            exp: issued + lifetime,
            iat: issued,
            nbf: issued,
            jti: Uuid::new_v4().to_string(),
            preferred_username: user.username.to_string(),
            sgen: user.session_generation,
            client_id,
            scope,
            role: access.then_some(user.role),
            email_verified: user.email_verified,
            sid,
        }
    }

    /// A compact JWS of `claims` signed by `signer` (`alg` is its algorithm).
    pub async fn sign_jws(
        &self,
        signer: &dyn TokenSigner,
        alg: &str,
        typ: &str,
        claims: &impl Serialize,
    ) -> Result<String, SignError> {
        let header = serde_json::json!({ "alg": alg, "typ": typ, "kid": signer.key_id() });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"))
        );
        let signature = signer.sign(signing_input.as_bytes()).await?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// A signed token and its lifetime in seconds.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: i64,
}

/// Whom a genuine token of the asked kind speaks for. The guard checks it against the account
/// as stored now (`crate::guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The account's id; `None` only on a pre-profile access token, found by name.
    pub account: Option<Uuid>,
    pub username: Username,
    /// `None` only on a pre-profile access token.
    pub generation: Option<Uuid>,
    pub jti: String,
    pub expires_at: OffsetDateTime,
    /// What the token grants: `api` (the API's own login, or an OAuth client granted it) or
    /// other OAuth scopes. `None` only on a pre-profile access token, which had the API's.
    pub scope: Option<String>,
    pub client_id: Option<String>,
    /// The OAuth grant's family, on tokens issued through OAuth.
    pub grant: Option<Uuid>,
}

impl Claimed {
    /// Whether the token grants `scope`.
    pub fn grants(&self, scope: &str) -> bool {
        self.scope.as_deref().is_none_or(|granted| granted.split(' ').any(|s| s == scope))
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    /// By `kid`: the current key and any retired one whose tokens may still be live.
    keys: Vec<(String, DecodingKey)>,
    access: Validation,
    mfa_step: Validation,
    email_verification: Validation,
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 5;

impl TokenVerifier {
    /// Accepts tokens signed by any of `public_keys`, told apart by their `kid`.
    pub fn new(public_keys: &[PublicKey], config: &AuthConfig) -> Self {
        let validation = |kind: TokenKind| {
            let mut validation = Validation::new(Algorithm::ES256);
            // The API's own issuer, and the OpenID Provider's, which OAuth's tokens name.
            let issuers: Vec<&str> =
                std::iter::once(config.issuer.as_str()).chain(config.oidc_issuer.as_deref()).collect();
            validation.set_issuer(&issuers);
            validation.set_audience(&[kind.audience(config)]);
            validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECONDS;
            validation
        };
        let keys =
            public_keys.iter().map(|k| (k.key_id.clone(), DecodingKey::from_ec_der(&k.point))).collect();
        Self {
            keys,
            access: validation(TokenKind::Access),
            mfa_step: validation(TokenKind::MfaStep),
            email_verification: validation(TokenKind::EmailVerification),
        }
    }

    /// The kind of a token, read from its `typ` header (unverified: only to choose how to verify).
    pub fn kind_of(token: &str) -> Option<TokenKind> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        match header.typ.as_deref() {
            Some("at+jwt") | Some("JWT") | None => Some(TokenKind::Access),
            Some("mfa-step+jwt") => Some(TokenKind::MfaStep),
            Some("email-verification+jwt") => Some(TokenKind::EmailVerification),
            Some(_) => None,
        }
    }

    /// Whom the token speaks for, if it is genuine, current, meant for us and of `kind`.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claimed, String> {
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
        let validation = match kind {
            TokenKind::Access => &self.access,
            TokenKind::MfaStep => &self.mfa_step,
            TokenKind::EmailVerification => &self.email_verification,
        };
        match header.typ.as_deref() {
            Some(typ) if typ == kind.typ() => {}
            Some("JWT") if kind == TokenKind::Access => return self.verify_legacy(token, key, validation),
            typ => return Err(format!("typ {typ:?} is not a {kind:?} token")),
        }
        let claims =
            jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| e.to_string())?.claims;
        let account = Uuid::parse_str(&claims.sub).map_err(|e| format!("sub: {e}"))?;
        let username = Username::parse(&claims.preferred_username).map_err(|e| e.to_string())?;
        if kind == TokenKind::Access && claims.scope.is_none() {
            return Err("an access token without scope".into());
        }
        Ok(Claimed {
            account: Some(account),
            username,
            generation: Some(claims.sgen),
            jti: claims.jti,
            expires_at: OffsetDateTime::from_unix_timestamp(claims.exp).map_err(|e| e.to_string())?,
            scope: claims.scope,
            client_id: claims.client_id,
            grant: claims.sid,
        })
    }

    /// The claims of any genuine, current access token of ours, a client's own included (no
    /// user): for introspection, which answers for every token the provider issued.
    pub fn access_claims(&self, token: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(TokenKind::Access.typ()) {
            return Err("not an ES256 access token".into());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|(id, _)| id == kid))
            .map(|(_, key)| key)
            .ok_or("unknown key id")?;
        Ok(jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, key, &self.access)
            .map_err(|e| e.to_string())?
            .claims)
    }

    fn verify_legacy(
        &self,
        token: &str,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<Claimed, String> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(flatten)]
            claims: LegacyAccessClaims,
            jti: String,
            exp: i64,
        }
        let data =
            jsonwebtoken::decode::<Envelope>(token, key, validation).map_err(|e| e.to_string())?.claims;
        // The old email-verification and mfa tokens had a `scope`: they are not access tokens.
        if let Some(scope) = data.claims.scope {
            return Err(format!("a pre-profile {scope} token"));
        }
        Ok(Claimed {
            account: None,
            username: Username::parse(&data.claims.sub).map_err(|e| e.to_string())?,
            generation: None,
            jti: data.jti,
            expires_at: OffsetDateTime::from_unix_timestamp(data.exp).map_err(|e| e.to_string())?,
            scope: None,
            client_id: None,
            grant: None,
        })
    }
}
