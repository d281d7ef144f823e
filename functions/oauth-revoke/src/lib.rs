//! POST /oauth/revoke (RFC 7009): a client ends a grant by one of its tokens, access or
//! refresh. 200 whatever the token was (§2.2), so the answer tells nothing about it; a token
//! issued to another client is left alone.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::TokenVerifier;
use stratus_auth::oauth::tokens::TokenRegistry;
use stratus_auth::oauth::{OAuthError, clients};
use stratus_core::clock::Clock;
use stratus_core::ports::{ClientStore, RefreshTokenStore, UserStore};
use stratus_http::http::{Body, Endpoint, HandlerResult, HeaderValue, Request, Response, StatusCode, header};
use stratus_http::oauth::{error_response, form_body, presented_client};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    clients: Arc<dyn ClientStore>,
    verifier: TokenVerifier,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    users: Arc<dyn UserStore>,
    session_max_lifetime: time::Duration,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct Form {
    token: Option<String>,
    #[allow(dead_code)] // Read but not needed: both kinds are looked up (RFC 7009 §2.1).
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        clients: wiring.oauth_clients()?,
        verifier: wiring.verifier().await?,
        refresh_tokens: wiring.refresh_tokens()?,
        users: wiring.users()?,
        session_max_lifetime: wiring.settings()?.auth.session_max_lifetime,
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Revoke a token
///
/// Ends the grant of an access or refresh token issued to the calling client: its refresh
/// tokens stop working and its access tokens introspect as inactive.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "oauthRevoke",
    tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token`, optional `token_type_hint`"),
    security(("basic" = []), ()),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "RFC 6749 §5.2 error"),
        (status = 401, description = "`invalid_client`"),
        (status = 503, description = "`temporarily_unavailable`"),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    Ok(match revoke(deps, &request).await {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
            .body(Body::Empty)
            .expect("static parts are valid"),
        Err(error) => error_response(&error),
    })
}

async fn revoke(deps: &Deps, request: &Request) -> Result<(), OAuthError> {
    let form: Form = form_body(request)?;
    let presented = presented_client(request, form.client_id.as_deref(), form.client_secret.as_deref())?;
    let client = clients::authenticate(deps.clients.as_ref(), &presented).await?;
    let token = form.token.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let registry = TokenRegistry {
        verifier: &deps.verifier,
        refresh_tokens: deps.refresh_tokens.as_ref(),
        users: deps.users.as_ref(),
        session_max_lifetime: deps.session_max_lifetime,
    };
    registry.revoke(&client, &token, deps.clock.now()).await
}
