//! Clients: registration (RFC 7591), its management by the registration access token (RFC
//! 7592), and client authentication at the token, revocation and introspection endpoints.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ErrorCode, OAuthError, random_token, same_hash, token_hash};
use stratus_core::domain::{
    ClientAuthMethod, ClientId, GrantType, IdTokenAlg, OAuthClient, RedirectUri, Scopes,
};
use stratus_core::ports::{ClientStore, ClientWriteError};

/// The scopes the provider knows; a client may register any of them.
pub const KNOWN_SCOPES: [&str; 5] =
    [Scopes::OPENID, Scopes::PROFILE, Scopes::EMAIL, Scopes::OFFLINE_ACCESS, Scopes::API];

/// A registration request's metadata (RFC 7591 §2). Fields the provider does not know are
/// ignored, as §2 asks.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ClientMetadata {
    /// Required for the authorization-code grant; each is matched exactly.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// `authorization_code` (the default), `refresh_token`, `client_credentials`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `["code"]` or absent.
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// `client_secret_basic` (the default), `client_secret_post`, or `none` for a public client.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// The most the client may ask for, space-separated; default `openid profile email`
    /// (and `offline_access` with the refresh_token grant).
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `RS256` (the default) or `ES256`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Stratus's own extension: the deployment's own application, whose users are not asked to
    /// consent. Only an admin registers clients, so only an admin can set it.
    #[serde(default)]
    pub first_party: Option<bool>,
}

/// What registration and RFC 7592's read answer: the client's metadata, and, at registration
/// (or when rotated), its secret and its registration access token, which are never shown again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientInformation {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Epoch seconds.
    pub client_id_issued_at: i64,
    /// Always 0 when there is a secret: it does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub response_types: Vec<&'static str>,
    pub token_endpoint_auth_method: &'static str,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub id_token_signed_response_alg: &'static str,
    pub first_party: bool,
}

/// Registered metadata, parsed: what a client is made of besides its id and credentials.
struct Parsed {
    redirect_uris: Vec<RedirectUri>,
    post_logout_redirect_uris: Vec<RedirectUri>,
    grant_types: BTreeSet<GrantType>,
    auth_method: ClientAuthMethod,
    scope: Scopes,
    name: Option<String>,
    id_token_alg: IdTokenAlg,
    first_party: bool,
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

fn parse(metadata: ClientMetadata) -> Result<Parsed, OAuthError> {
    let uris = |list: Option<Vec<String>>, field: &str| -> Result<Vec<RedirectUri>, OAuthError> {
        let list = list.unwrap_or_default();
        if list.len() > 20 {
            return Err(OAuthError::new(ErrorCode::InvalidRedirectUri, format!("at most 20 {field}")));
        }
        let mut parsed = Vec::new();
        for text in list {
            let uri = RedirectUri::parse(&text)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidRedirectUri, format!("{field}: {e}")))?;
            if !parsed.contains(&uri) {
                parsed.push(uri);
            }
        }
        Ok(parsed)
    };
    let redirect_uris = uris(metadata.redirect_uris, "redirect_uris")?;
    let post_logout_redirect_uris = uris(metadata.post_logout_redirect_uris, "post_logout_redirect_uris")?;
    let grant_types = match metadata.grant_types {
        None => BTreeSet::from([GrantType::AuthorizationCode]),
        Some(list) if list.is_empty() => return Err(metadata_error("grant_types is empty")),
        Some(list) => list
            .iter()
            .map(|text| GrantType::parse(text).map_err(|e| metadata_error(e.to_string())))
            .collect::<Result<_, _>>()?,
    };
    let auth_method = match metadata.token_endpoint_auth_method.as_deref() {
        None => ClientAuthMethod::ClientSecretBasic,
        Some(text) => ClientAuthMethod::parse(text).map_err(|e| metadata_error(e.to_string()))?,
    };
    let code = grant_types.contains(&GrantType::AuthorizationCode);
    match metadata.response_types.as_deref() {
        None => {}
        Some([only]) if only == "code" && code => {}
        Some([]) if !code => {}
        Some(_) => {
            return Err(metadata_error(
                "response_types is [\"code\"] with the authorization_code grant, and nothing else",
            ));
        }
    }
    if code && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "the authorization_code grant needs redirect_uris",
        ));
    }
    if grant_types.contains(&GrantType::RefreshToken) && !code {
        return Err(metadata_error("the refresh_token grant comes with the authorization_code grant"));
    }
    if grant_types.contains(&GrantType::ClientCredentials) && auth_method == ClientAuthMethod::None {
        return Err(metadata_error(
            "a public client (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    let scope = match metadata.scope.as_deref() {
        None => {
            let offline = grant_types.contains(&GrantType::RefreshToken).then_some(" offline_access");
            Scopes::parse(&format!("openid profile email{}", offline.unwrap_or_default()))
                .expect("known scopes parse")
        }
        Some(text) => Scopes::parse(text).map_err(|e| metadata_error(e.to_string()))?,
    };
    if let Some(unknown) = scope.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
        return Err(metadata_error(format!("unknown scope {unknown:?}: {}", KNOWN_SCOPES.join(", "))));
    }
    let name = match metadata.client_name {
        Some(name) if name.chars().count() > 100 || name.chars().any(char::is_control) => {
            return Err(metadata_error("client_name is at most 100 characters, none a control character"));
        }
        Some(name) if name.trim().is_empty() => None,
        name => name,
    };
    let id_token_alg = match metadata.id_token_signed_response_alg.as_deref() {
        None => IdTokenAlg::default(),
        Some(text) => IdTokenAlg::parse(text).map_err(|e| metadata_error(e.to_string()))?,
    };
    Ok(Parsed {
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        auth_method,
        scope,
        name,
        id_token_alg,
        first_party: metadata.first_party.unwrap_or(false),
    })
}

/// The credentials a newly registered client gets, shown once.
pub struct Credentials {
    pub secret: Option<String>,
    pub registration_token: String,
}

/// A client named `id`, made of `metadata` with fresh credentials, created at `now`: what
/// registration stores, for any caller that names its client itself (the admin CLI's
/// `register-client`, whose operator-chosen ids make reruns find the same client). The
/// credentials are returned in clear only here; the client keeps their hashes.
pub fn new_client(
    id: ClientId,
    metadata: ClientMetadata,
    now: OffsetDateTime,
) -> Result<(OAuthClient, Credentials), OAuthError> {
    let parsed = parse(metadata)?;
    let secret = (parsed.auth_method != ClientAuthMethod::None).then(random_token);
    let registration_token = random_token();
    let client = OAuthClient {
        id,
        secret_hash: secret.as_deref().map(token_hash),
        registration_token_hash: token_hash(&registration_token),
        name: parsed.name,
        redirect_uris: parsed.redirect_uris,
        post_logout_redirect_uris: parsed.post_logout_redirect_uris,
        grant_types: parsed.grant_types,
        auth_method: parsed.auth_method,
        scope: parsed.scope,
        first_party: parsed.first_party,
        id_token_alg: parsed.id_token_alg,
        created_at: now,
    };
    Ok((client, Credentials { secret, registration_token }))
}

/// `client` with its metadata replaced whole by `metadata`; its id, credentials and creation
/// time stay. A client cannot switch between public and confidential this way: a public one
/// has no secret to keep, and a confidential one's secret would be left without a use.
pub fn with_metadata(client: OAuthClient, metadata: ClientMetadata) -> Result<OAuthClient, OAuthError> {
    let parsed = parse(metadata)?;
    if (parsed.auth_method == ClientAuthMethod::None) != client.is_public() {
        return Err(metadata_error(
            "token_endpoint_auth_method cannot change between a public and a confidential client: register a new client",
        ));
    }
    Ok(OAuthClient {
        name: parsed.name,
        redirect_uris: parsed.redirect_uris,
        post_logout_redirect_uris: parsed.post_logout_redirect_uris,
        grant_types: parsed.grant_types,
        auth_method: parsed.auth_method,
        scope: parsed.scope,
        first_party: parsed.first_party,
        id_token_alg: parsed.id_token_alg,
        ..client
    })
}

/// The registered metadata (by RFC 7591's names) in which two clients differ; empty when they
/// have the same. Ids, credentials and creation times are not metadata and are not compared;
/// the order of redirect URIs means nothing (each is matched exactly, none is preferred), so
/// two lists with the same URIs are the same.
pub fn metadata_differences(a: &OAuthClient, b: &OAuthClient) -> Vec<&'static str> {
    // Destructured whole, so that a field added to OAuthClient does not compile until it is
    // either compared here or said not to be metadata.
    let OAuthClient {
        id: _,
        secret_hash: _,
        registration_token_hash: _,
        created_at: _,
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        auth_method,
        scope,
        first_party,
        id_token_alg,
    } = a;
    let same_uris = |x: &[RedirectUri], y: &[RedirectUri]| {
        x.iter().collect::<BTreeSet<_>>() == y.iter().collect::<BTreeSet<_>>()
    };
    [
        ("client_name", *name == b.name),
        ("redirect_uris", same_uris(redirect_uris, &b.redirect_uris)),
        ("post_logout_redirect_uris", same_uris(post_logout_redirect_uris, &b.post_logout_redirect_uris)),
        ("grant_types", *grant_types == b.grant_types),
        ("token_endpoint_auth_method", *auth_method == b.auth_method),
        ("scope", *scope == b.scope),
        ("first_party", *first_party == b.first_party),
        ("id_token_signed_response_alg", *id_token_alg == b.id_token_alg),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect()
}

/// Registers a client under a random id; `registration_base` is the registration endpoint's
/// URL, under which the client's own URI is.
pub async fn register(
    clients: &dyn ClientStore,
    metadata: ClientMetadata,
    registration_base: &str,
    now: OffsetDateTime,
) -> Result<ClientInformation, OAuthError> {
    let id = ClientId::parse(&random_token()[..22]).expect("base64url is a client id");
    let (client, credentials) = new_client(id, metadata, now)?;
    clients.create(&client).await?;
    Ok(information(&client, registration_base, Some(credentials)))
}

/// The client whose registration access token this is (RFC 7592 §2): any other token, or a
/// client gone, is refused alike.
pub async fn by_registration_token(
    clients: &dyn ClientStore,
    id: &str,
    token: Option<&str>,
) -> Result<OAuthClient, OAuthError> {
    let refused = || {
        OAuthError::new(ErrorCode::InvalidToken, "the registration access token is not valid for this client")
    };
    let (Ok(id), Some(token)) = (ClientId::parse(id), token) else { return Err(refused()) };
    let client = clients.get(&id).await?.ok_or_else(refused)?;
    if same_hash(&client.registration_token_hash, &token_hash(token)) { Ok(client) } else { Err(refused()) }
}

/// RFC 7592 §2.2: the request's metadata replaces the client's whole. The id and credentials
/// stay (a `client_secret` sent must be the current one, as §2.2 asks; it is never changed here).
pub async fn update(
    clients: &dyn ClientStore,
    client: OAuthClient,
    metadata: ClientMetadata,
    registration_base: &str,
) -> Result<ClientInformation, OAuthError> {
    let updated = with_metadata(client, metadata)?;
    match clients.replace(&updated).await {
        Ok(()) => Ok(information(&updated, registration_base, None)),
        Err(ClientWriteError::NotFound) => Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the registration access token is not valid for this client",
        )),
        Err(ClientWriteError::Store(error)) => Err(error.into()),
    }
}

pub fn information(
    client: &OAuthClient,
    registration_base: &str,
    credentials: Option<Credentials>,
) -> ClientInformation {
    let (secret, registration_token) = match credentials {
        Some(Credentials { secret, registration_token }) => (secret, Some(registration_token)),
        None => (None, None),
    };
    let code = client.allows(GrantType::AuthorizationCode);
    ClientInformation {
        client_id: client.id.to_string(),
        client_secret_expires_at: client.secret_hash.map(|_| 0),
        client_secret: secret,
        client_id_issued_at: client.created_at.unix_timestamp(),
        registration_access_token: registration_token,
        registration_client_uri: format!("{registration_base}/{}", client.id),
        redirect_uris: client.redirect_uris.iter().map(ToString::to_string).collect(),
        grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
        response_types: if code { vec!["code"] } else { vec![] },
        token_endpoint_auth_method: client.auth_method.as_str(),
        scope: client.scope.to_string(),
        client_name: client.name.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.iter().map(ToString::to_string).collect(),
        id_token_signed_response_alg: client.id_token_alg.as_str(),
        first_party: client.first_party,
    }
}

/// How a request to the token, revocation or introspection endpoint says who the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// `Authorization: Basic` (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64).
    Basic {
        id: String,
        secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    Post {
        id: String,
        secret: String,
    },
    /// `client_id` alone: a public client.
    IdOnly(String),
    Nothing,
}

/// The client, if it authenticated as it registered to. Every failure is one `invalid_client`.
pub async fn authenticate(
    clients: &dyn ClientStore,
    presented: &Presented,
) -> Result<OAuthClient, OAuthError> {
    let (id, secret, method) = match presented {
        Presented::Basic { id, secret } => (id, Some(secret), ClientAuthMethod::ClientSecretBasic),
        Presented::Post { id, secret } => (id, Some(secret), ClientAuthMethod::ClientSecretPost),
        Presented::IdOnly(id) => (id, None, ClientAuthMethod::None),
        Presented::Nothing => return Err(OAuthError::invalid_client()),
    };
    let Ok(id) = ClientId::parse(id) else { return Err(OAuthError::invalid_client()) };
    let client = clients.get(&id).await?.ok_or_else(OAuthError::invalid_client)?;
    if client.auth_method != method {
        return Err(OAuthError::invalid_client());
    }
    match (client.secret_hash, secret) {
        (None, None) => Ok(client),
        (Some(stored), Some(secret)) if same_hash(&stored, &token_hash(secret)) => Ok(client),
        _ => Err(OAuthError::invalid_client()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(json: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn registration_metadata_is_checked() {
        let ok = parse(metadata(serde_json::json!({"redirect_uris": ["https://a.example/cb"]}))).unwrap();
        assert_eq!(ok.scope.to_string(), "email openid profile");
        assert_eq!(ok.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(ok.id_token_alg, IdTokenAlg::RS256);
        for (bad, code) in [
            (serde_json::json!({}), ErrorCode::InvalidRedirectUri),
            (serde_json::json!({"redirect_uris": ["http://a.example/cb"]}), ErrorCode::InvalidRedirectUri),
            (
                serde_json::json!({"redirect_uris": ["https://a/cb"], "grant_types": ["implicit"]}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["https://a/cb"], "scope": "openid admin"}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["https://a/cb"], "response_types": ["token"]}),
                ErrorCode::InvalidClientMetadata,
            ),
            (serde_json::json!({"grant_types": ["refresh_token"]}), ErrorCode::InvalidClientMetadata),
        ] {
            assert_eq!(parse(metadata(bad.clone())).err().map(|e| e.code), Some(code), "{bad}");
        }
        let machine =
            parse(metadata(serde_json::json!({"grant_types": ["client_credentials"], "scope": "api"})))
                .unwrap();
        assert!(machine.redirect_uris.is_empty());
    }

    #[test]
    fn a_named_client_is_built_by_registration_s_rules() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let id = ClientId::parse("my-web-app").unwrap();
        let (client, credentials) = new_client(
            id.clone(),
            metadata(serde_json::json!({"redirect_uris": ["https://a.example/cb"]})),
            now,
        )
        .unwrap();
        assert_eq!((client.id.clone(), client.created_at), (id.clone(), now));
        let secret = credentials.secret.expect("a confidential client has a secret");
        assert_eq!(client.secret_hash, Some(token_hash(&secret)));
        assert_eq!(client.registration_token_hash, token_hash(&credentials.registration_token));
        let (public, credentials) = new_client(
            id.clone(),
            metadata(serde_json::json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"})),
            now,
        )
        .unwrap();
        assert!(public.secret_hash.is_none() && credentials.secret.is_none());
        // The same rules as registration: what parse refuses, this refuses.
        let refused =
            new_client(id, metadata(serde_json::json!({"redirect_uris": ["http://a.example/cb"]})), now);
        assert_eq!(refused.err().map(|e| e.code), Some(ErrorCode::InvalidRedirectUri));
    }

    #[test]
    fn metadata_differences_name_the_fields_and_ignore_credentials_and_order() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let id = ClientId::parse("my-web-app").unwrap();
        let two = serde_json::json!({"redirect_uris": ["https://a.example/cb", "https://b.example/cb"]});
        let (a, _) = new_client(id.clone(), metadata(two), now).unwrap();
        // Other credentials, another time, the URIs the other way round: the same metadata.
        let reversed = serde_json::json!({"redirect_uris": ["https://b.example/cb", "https://a.example/cb"]});
        let (b, _) = new_client(id.clone(), metadata(reversed), now + time::Duration::hours(1)).unwrap();
        assert_ne!(a.secret_hash, b.secret_hash);
        assert!(metadata_differences(&a, &b).is_empty());
        let changed = with_metadata(
            a.clone(),
            metadata(serde_json::json!({
                "redirect_uris": ["https://a.example/cb"], "scope": "openid", "first_party": true,
                "client_name": "App", "id_token_signed_response_alg": "ES256",
            })),
        )
        .unwrap();
        assert_eq!(
            metadata_differences(&a, &changed),
            ["client_name", "redirect_uris", "scope", "first_party", "id_token_signed_response_alg"]
        );
        // Replacing metadata keeps what is not metadata.
        assert_eq!(
            (&changed.id, changed.secret_hash, changed.registration_token_hash, changed.created_at),
            (&a.id, a.secret_hash, a.registration_token_hash, a.created_at)
        );
        let public = serde_json::json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"});
        assert_eq!(
            with_metadata(a, metadata(public)).err().map(|e| e.code),
            Some(ErrorCode::InvalidClientMetadata)
        );
    }
}
