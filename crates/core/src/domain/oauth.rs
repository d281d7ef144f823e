//! OAuth 2.1 and OpenID Connect: the values a client registration and an authorization request
//! are made of, each parsed once into a type that cannot hold a bad one.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A client's id: what the provider made at registration, 1–64 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        let fits = (1..=64).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if fits { Ok(Self(text.to_owned())) } else { Err(OAuthValueError::ClientId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClientId {
    type Error = OAuthValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.0
    }
}

/// Why a registration or request value was refused; the text is the client's to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthValueError {
    #[error("a client_id is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")]
    ClientId,
    #[error("{0}")]
    RedirectUri(String),
    #[error("a scope is one or more space-separated tokens of printable ASCII other than '\"' and '\\\\'")]
    Scope,
    #[error("unknown grant type {0:?}: authorization_code, refresh_token or client_credentials")]
    GrantType(String),
    #[error("unknown token_endpoint_auth_method {0:?}: client_secret_basic, client_secret_post or none")]
    AuthMethod(String),
    #[error("unsupported id_token_signed_response_alg {0:?}: RS256 or ES256")]
    SigningAlg(String),
}

/// A redirect URI as OAuth 2.1 and RFC 8252 allow one to be registered: absolute, no fragment,
/// and `https`, or `http` on a loopback address (a native app's local listener), or a private-use
/// scheme with a dot (`com.example.app:/callback`). Compared with what a request names by exact
/// string equality, never by prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub const MAX: usize = 2000;

    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        let refuse = |reason: &str| Err(OAuthValueError::RedirectUri(format!("{text:?}: {reason}")));
        if text.len() > Self::MAX {
            return refuse("longer than 2000 characters");
        }
        let Ok(url) = url::Url::parse(text) else { return refuse("not an absolute URI") };
        if url.fragment().is_some() {
            return refuse("a redirect URI has no fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("a redirect URI carries no credentials");
        }
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")) => {}
            "http" | "https" => return refuse("http is allowed for loopback addresses only"),
            scheme if scheme.contains('.') => {}
            _ => return refuse("a custom scheme must be a reversed domain name (com.example.app)"),
        }
        // The text as registered, not the parser's normal form: requests must match it exactly.
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI with `params` added to its query, as a redirect to it carries them.
    pub fn with_query(&self, params: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.0).expect("a RedirectUri parses");
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = OAuthValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.0
    }
}

/// A set of scope tokens (RFC 6749 §3.3), kept sorted so equal sets print alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Asks for an ID token and the userinfo endpoint.
    pub const OPENID: &'static str = "openid";
    pub const PROFILE: &'static str = "profile";
    pub const EMAIL: &'static str = "email";
    /// Asks for a refresh token in the authorization-code grant.
    pub const OFFLINE_ACCESS: &'static str = "offline_access";
    /// Stratus's own API as the user (`/users/me` and the rest), as far as their role goes.
    pub const API: &'static str = "api";

    /// Space-separated tokens of `%x21 / %x23-5B / %x5D-7E`; empty text is the empty set.
    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        let token_ok = |t: &str| {
            t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        };
        if text.len() > 1000 {
            return Err(OAuthValueError::Scope);
        }
        let tokens: BTreeSet<String> = text.split(' ').filter(|t| !t.is_empty()).map(str::to_owned).collect();
        if tokens.iter().all(|t| token_ok(t)) { Ok(Self(tokens)) } else { Err(OAuthValueError::Scope) }
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that `allowed` has: what a request may be granted.
    pub fn intersection(&self, allowed: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&allowed.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

impl TryFrom<String> for Scopes {
    type Error = OAuthValueError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Scopes> for String {
    fn from(scopes: Scopes) -> Self {
        scopes.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        match text {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            other => Err(OAuthValueError::GrantType(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client proves itself at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the id and secret (RFC 6749 §2.3.1): the default.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client (a browser or native app): no secret, PKCE alone binds its code.
    None,
}

impl ClientAuthMethod {
    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        match text {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "none" => Ok(Self::None),
            other => Err(OAuthValueError::AuthMethod(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// The algorithm a client's ID tokens are signed with: RS256 unless it registered ES256.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdTokenAlg {
    #[default]
    RS256,
    ES256,
}

impl IdTokenAlg {
    pub fn parse(text: &str) -> Result<Self, OAuthValueError> {
        match text {
            "RS256" => Ok(Self::RS256),
            "ES256" => Ok(Self::ES256),
            other => Err(OAuthValueError::SigningAlg(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

/// A registered client (RFC 7591 metadata), as stored: its secret and its registration access
/// token only as SHA-256 (both are 256 random bits, so a fast hash is as strong as a slow one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: ClientId,
    /// `None` for a public client (`token_endpoint_auth_method: none`).
    pub secret_hash: Option<[u8; 32]>,
    /// Reads, updates and deletes the registration (RFC 7592).
    pub registration_token_hash: [u8; 32],
    pub name: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: BTreeSet<GrantType>,
    pub auth_method: ClientAuthMethod,
    /// The most the client may be granted.
    pub scope: Scopes,
    /// The deployment's own application: its users are not asked to consent.
    pub first_party: bool,
    pub id_token_alg: IdTokenAlg,
    pub created_at: time::OffsetDateTime,
}

impl OAuthClient {
    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_as_oauth_2_1_allows_them() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/callback",
            "com.example.app:/oauth",
        ] {
            assert!(RedirectUri::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/relative",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
        let uri = RedirectUri::parse("https://app.example.com/cb?x=1").unwrap();
        assert_eq!(
            uri.with_query(&[("code", "a b"), ("state", "s")]),
            "https://app.example.com/cb?x=1&code=a+b&state=s"
        );
    }

    #[test]
    fn scopes_are_sets_of_rfc_6749_tokens() {
        let scopes = Scopes::parse("openid  email openid").unwrap();
        assert_eq!(scopes.to_string(), "email openid");
        assert!(Scopes::parse("").unwrap().is_empty());
        assert!(Scopes::parse("open\"id").is_err());
        assert!(Scopes::parse("é").is_err());
        let allowed = Scopes::parse("openid profile").unwrap();
        assert_eq!(scopes.intersection(&allowed).to_string(), "openid");
    }

    #[test]
    fn client_ids() {
        assert!(ClientId::parse("abc_DEF-123").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
    }
}
