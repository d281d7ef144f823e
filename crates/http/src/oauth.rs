//! OAuth's HTTP shapes: form-encoded requests (RFC 6749 §3.2), client credentials from HTTP
//! Basic or the form (§2.3.1), and errors as §5.2's JSON, never problem+json, since OAuth
//! clients read `error` and nothing else.

use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::{Body, HeaderValue, Request, RequestExt, Response, StatusCode, header, header_str};
use stratus_auth::oauth::clients::Presented;
use stratus_auth::oauth::{ErrorCode, OAuthError};

/// OAuth requests are small: a code, a verifier, a token.
pub const FORM_LIMIT: usize = 16 * 1024;

/// Reads an `application/x-www-form-urlencoded` body. A parameter sent twice is an error
/// (RFC 6749 §3.2), as is a body of another type.
pub fn form_body<T: DeserializeOwned>(request: &Request) -> Result<T, OAuthError> {
    let essence = header_str(request, header::CONTENT_TYPE)
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("send the parameters as application/x-www-form-urlencoded"));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > FORM_LIMIT {
        return Err(OAuthError::invalid_request(format!("the body is over {FORM_LIMIT} bytes")));
    }
    let pairs: Vec<(String, String)> = form_urlencoded_pairs(bytes);
    parse_pairs(pairs)
}

/// Reads the query string's parameters the same way.
pub fn query_params<T: DeserializeOwned>(request: &Request) -> Result<T, OAuthError> {
    let pairs = request
        .query_string_parameters_ref()
        .map(|params| params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    parse_pairs(pairs)
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

fn parse_pairs<T: DeserializeOwned>(pairs: Vec<(String, String)>) -> Result<T, OAuthError> {
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(OAuthError::invalid_request(format!("{name} is sent more than once")));
        }
    }
    // Empty values count as absent (RFC 6749 §3.1).
    let pairs: Vec<_> = pairs.into_iter().filter(|(_, value)| !value.is_empty()).collect();
    let encoded = serde_urlencoded::to_string(&pairs).expect("pairs of strings encode");
    serde_urlencoded::from_str(&encoded).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

/// How the client authenticated, from `Authorization: Basic` or the form's `client_id` and
/// `client_secret`. Using both is an error (RFC 6749 §2.3).
pub fn presented_client(
    request: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Presented, OAuthError> {
    let basic = header_str(request, header::AUTHORIZATION)
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim());
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => {
            Err(OAuthError::invalid_request("authenticate with HTTP Basic or the form, not both"))
        }
        (Some(encoded), _, None) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|text| text.split_once(':')) else {
                return Err(OAuthError::invalid_client());
            };
            // §2.3.1: each is form-urlencoded before it is joined and base64-encoded.
            let unescape = |text: &str| {
                percent_encoding::percent_decode_str(&text.replace('+', " "))
                    .decode_utf8()
                    .map(|t| t.into_owned())
            };
            let (Ok(id), Ok(secret)) = (unescape(id), unescape(secret)) else {
                return Err(OAuthError::invalid_client());
            };
            if form_id.is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_request("client_id differs from the Basic credentials' id"));
            }
            Ok(Presented::Basic { id, secret })
        }
        (None, Some(id), Some(secret)) => {
            Ok(Presented::Post { id: id.to_owned(), secret: secret.to_owned() })
        }
        (None, Some(id), None) => Ok(Presented::IdOnly(id.to_owned())),
        (None, None, _) => Ok(Presented::Nothing),
    }
}

/// A revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1): the token, and the
/// client asking.
pub struct TokenForm {
    pub client: Presented,
    token: Option<String>,
}

impl TokenForm {
    /// Reads the form and the client's credentials. `token_type_hint` is read and left: both
    /// kinds are looked up, as both RFCs let the server do.
    pub fn parse(request: &Request) -> Result<Self, OAuthError> {
        #[derive(serde::Deserialize)]
        struct Form {
            token: Option<String>,
            #[allow(dead_code)] // Accepted, so that a client sending it is not refused.
            token_type_hint: Option<String>,
            client_id: Option<String>,
            client_secret: Option<String>,
        }
        let form: Form = form_body(request)?;
        let client = presented_client(request, form.client_id.as_deref(), form.client_secret.as_deref())?;
        Ok(Self { client, token: form.token })
    }

    /// The token asked about; checked after the client has authenticated, so an unknown client
    /// learns only that it is one.
    pub fn token(&self) -> Result<&str, OAuthError> {
        self.token.as_deref().ok_or_else(|| OAuthError::invalid_request("token is required"))
    }
}

/// A JSON answer that no cache keeps (RFC 6749 §5.1).
pub fn no_store_json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let mut response = crate::http::json_response(status, body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error as RFC 6749 §5.2 answers it: 401 with a Basic challenge for `invalid_client`
/// (§5.2 asks for one when the client tried to authenticate), 503 with `Retry-After` when a
/// dependency failed, 500 for our own fault, 400 otherwise.
pub fn error_response(error: &OAuthError) -> Response<Body> {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    let status = match error.code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response =
        no_store_json(status, &Body { error: error.code.as_str(), error_description: &error.description });
    let headers = response.headers_mut();
    match error.code {
        ErrorCode::InvalidClient => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="stratus""#));
        }
        ErrorCode::TemporarilyUnavailable => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}
