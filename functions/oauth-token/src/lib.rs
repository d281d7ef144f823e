//! POST /oauth/token: the OAuth token endpoint (RFC 6749 §3.2). The client authenticates as it
//! registered (HTTP Basic, the form, or, for a public client, its id alone, PKCE binding its
//! code); the grant is the authorization code, the refresh token or the client's credentials.
//! Answers and errors are RFC 6749's JSON, never cached.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::TokenIssuer;
use stratus_auth::oauth::grants::{Grants, TokenRequest, TokenResponse};
use stratus_auth::oauth::{ErrorCode, OAuthError, clients};
use stratus_core::clock::Clock;
use stratus_core::ports::{AuthorizationStore, ClientStore, RefreshTokenStore, UserStore};
use stratus_http::http::{Endpoint, HandlerResult, Request, StatusCode};
use stratus_http::oauth::{error_response, form_body, no_store_json, presented_client};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    clients: Arc<dyn ClientStore>,
    users: Arc<dyn UserStore>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    authorizations: Arc<dyn AuthorizationStore>,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
}

/// The form: the grant's parameters and, with `client_secret_post`, the client's credentials.
#[derive(Deserialize)]
struct Form {
    client_id: Option<String>,
    client_secret: Option<String>,
    #[serde(flatten)]
    request: TokenRequest,
}

/// RFC 6749 §5.2's error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Documents the error answers.
struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `temporarily_unavailable`.
    error: String,
    error_description: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        clients: wiring.oauth_clients()?,
        users: wiring.users()?,
        refresh_tokens: wiring.refresh_tokens()?,
        authorizations: wiring.authorizations()?,
        issuer: wiring.oidc_issuer()?,
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Token endpoint
///
/// OAuth 2.1's token endpoint: `grant_type` `authorization_code` (with `code`,
/// `redirect_uri` and the PKCE `code_verifier`), `refresh_token` (rotated: a spent one presented
/// again revokes its grant) or `client_credentials` (scopes only: no refresh or ID token).
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "oauthToken",
    tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "RFC 6749 §4.1.3, §6 or §4.4.2"),
    security(("basic" = []), ()),
    responses(
        (status = 200, description = "Tokens", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"stratus\"`"))),
        (status = 500, description = "`server_error`", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    Ok(match exchange(deps, &request).await {
        Ok(tokens) => no_store_json(StatusCode::OK, &tokens),
        Err(error) => error_response(&error),
    })
}

async fn exchange(deps: &Deps, request: &Request) -> Result<TokenResponse, OAuthError> {
    if deps.issuer.oidc_issuer().is_err() {
        // The operator's step, not the client's mistake: the stack has no public URL yet.
        return Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the provider is not set up: it needs the API's public URL (stratus-admin set-public-url)",
        ));
    }
    let form: Form = form_body(request)?;
    let presented = presented_client(request, form.client_id.as_deref(), form.client_secret.as_deref())?;
    let client = clients::authenticate(deps.clients.as_ref(), &presented).await?;
    let grants = Grants {
        users: deps.users.as_ref(),
        refresh_tokens: deps.refresh_tokens.as_ref(),
        authorizations: deps.authorizations.as_ref(),
        issuer: &deps.issuer,
    };
    grants.exchange(&client, form.request, deps.clock.now()).await
}
