//! POST /oauth/introspect (RFC 7662): whether a token is live and what it grants, for a
//! confidential client (a resource server). Revoked, expired and foreign tokens are
//! `{"active": false}` and nothing more.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::TokenVerifier;
use stratus_auth::oauth::tokens::{Introspected, TokenRegistry};
use stratus_auth::oauth::{OAuthError, clients};
use stratus_core::clock::Clock;
use stratus_core::ports::{ClientStore, RefreshTokenStore, UserStore};
use stratus_http::http::{Endpoint, HandlerResult, Request, StatusCode};
use stratus_http::oauth::{error_response, form_body, no_store_json, presented_client};
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
    #[allow(dead_code)] // Read but not needed: both kinds are looked up (RFC 7662 §2.1).
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

/// Introspect a token
///
/// For a confidential client: whether an access or refresh token is active, and if so its
/// scope, client, user and lifetime.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "oauthIntrospect",
    tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token`, optional `token_type_hint`"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "The token's state", body = Introspected),
        (status = 400, description = "RFC 6749 §5.2 error"),
        (status = 401, description = "`invalid_client`"),
        (status = 503, description = "`temporarily_unavailable`"),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    Ok(match introspect(deps, &request).await {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => error_response(&error),
    })
}

async fn introspect(deps: &Deps, request: &Request) -> Result<Introspected, OAuthError> {
    let form: Form = form_body(request)?;
    let presented = presented_client(request, form.client_id.as_deref(), form.client_secret.as_deref())?;
    let client = clients::authenticate(deps.clients.as_ref(), &presented).await?;
    // A public client proves nothing by its id: what a token grants is not told to it.
    if client.is_public() {
        return Err(OAuthError::invalid_client());
    }
    let token = form.token.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let registry = TokenRegistry {
        verifier: &deps.verifier,
        refresh_tokens: deps.refresh_tokens.as_ref(),
        users: deps.users.as_ref(),
        session_max_lifetime: deps.session_max_lifetime,
    };
    registry.introspect(&client, &token, deps.clock.now()).await
}
