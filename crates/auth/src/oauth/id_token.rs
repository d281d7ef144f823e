//! ID tokens (OpenID Connect Core §2): who signed in, when and how, for one client, signed
//! RS256 unless the client registered ES256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::TokenIssuer;
use stratus_core::domain::{OAuthClient, Scopes, User};
use stratus_core::ports::SignError;

/// How long an ID token is good: it proves a sign-in to the client at the moment of the grant.
pub const ID_TOKEN_TTL: time::Duration = time::Duration::minutes(5);

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<&'a [String]>,
    at_hash: String,
    sid: String,
    #[serde(flatten)]
    standard: StandardClaims,
}

/// The standard claims (OpenID Connect Core §5.1) that `scope` grants: what both the ID token
/// and userinfo carry.
#[derive(Debug, Default, Serialize)]
pub struct StandardClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl StandardClaims {
    pub fn of(user: &User, scope: &Scopes) -> Self {
        let profile = scope.contains(Scopes::PROFILE);
        let email = scope.contains(Scopes::EMAIL);
        Self {
            preferred_username: profile.then(|| user.username.to_string()),
            given_name: profile.then(|| user.first_name.as_str().to_owned()),
            family_name: profile.then(|| user.last_name.as_str().to_owned()),
            name: profile.then(|| format!("{} {}", user.first_name.as_str(), user.last_name.as_str())),
            email: email.then(|| user.email.as_str().to_owned()),
            email_verified: email.then_some(user.email_verified),
        }
    }
}

/// What an ID token says about a sign-in.
pub struct SignIn<'a> {
    pub user: &'a User,
    pub scope: &'a Scopes,
    pub auth_time: OffsetDateTime,
    pub nonce: Option<&'a str>,
    /// `None` on a refresh, which knows when but not how.
    pub amr: Option<&'a [String]>,
    /// The grant's family: OpenID Connect's session id.
    pub family: uuid::Uuid,
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url (Core §3.1.3.6; SHA-256
/// is the hash of both RS256 and ES256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs the ID token of `sign_in` for `client`, bound to `access_token`.
pub async fn sign(
    issuer: &TokenIssuer,
    client: &OAuthClient,
    sign_in: SignIn<'_>,
    access_token: &str,
    now: OffsetDateTime,
) -> Result<String, SignError> {
    let iss = issuer.oidc_issuer().map_err(SignError::Failed)?;
    let claims = IdClaims {
        iss,
        sub: sign_in.user.id.to_string(),
        aud: client.id.as_str(),
        azp: client.id.as_str(),
        exp: (now + ID_TOKEN_TTL).unix_timestamp(),
        iat: now.unix_timestamp(),
        auth_time: sign_in.auth_time.unix_timestamp(),
        nonce: sign_in.nonce,
        amr: sign_in.amr,
        at_hash: at_hash(access_token),
        sid: sign_in.family.to_string(),
        standard: StandardClaims::of(sign_in.user, sign_in.scope),
    };
    let signer = issuer.id_token_signer(client.id_token_alg)?;
    issuer.sign_jws(signer, client.id_token_alg.as_str(), "JWT", &claims).await
}

/// What an `id_token_hint` (RP-initiated logout) says, once its signature and issuer are
/// checked. Its expiry is not: a hint is typically an old ID token (OpenID Connect RP-Initiated
/// Logout §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub subject: String,
    pub client_id: String,
}

/// Checks a hint against the provider's keys, ES256 and RS256.
pub fn verify_hint(
    token: &str,
    ec_keys: &[crate::keys::PublicKey],
    rsa_keys: &[crate::keys::RsaPublicKey],
    issuer: &str,
) -> Result<Hint, String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.as_deref().ok_or("no kid")?;
    let key = match header.alg {
        Algorithm::ES256 => {
            ec_keys.iter().find(|k| k.key_id == kid).map(|k| DecodingKey::from_ec_der(&k.point))
        }
        Algorithm::RS256 => rsa_keys
            .iter()
            .find(|k| k.key_id == kid)
            .map(|k| DecodingKey::from_rsa_components(&B64.encode(&k.modulus), &B64.encode(&k.exponent)))
            .transpose()
            .map_err(|e| e.to_string())?,
        other => return Err(format!("algorithm {other:?} is not accepted")),
    }
    .ok_or("unknown key id")?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        aud: String,
    }
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| e.to_string())?.claims;
    Ok(Hint { subject: claims.sub, client_id: claims.aud })
}
