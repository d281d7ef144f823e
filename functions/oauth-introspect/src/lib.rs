//! POST /oauth/introspect (RFC 7662): whether a token is live and what it grants, for a
//! confidential client (a resource server). Revoked, expired and foreign tokens are
//! `{"active": false}` and nothing more.

use stratus_auth::oauth::OAuthError;
use stratus_auth::oauth::tokens::{Introspected, TokenRegistry};
use stratus_http::http::{Endpoint, HandlerResult, Request, StatusCode};
use stratus_http::oauth::{TokenForm, error_response, no_store_json};
use stratus_wiring::{InitError, Wiring};

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let registry = wiring.token_registry().await?;
    Ok(Endpoint::with_deps(registry, |registry, request| async move { handle(&registry, request).await }))
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
async fn handle(registry: &TokenRegistry, request: Request) -> HandlerResult {
    Ok(match introspect(registry, &request).await {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => error_response(&error),
    })
}

async fn introspect(registry: &TokenRegistry, request: &Request) -> Result<Introspected, OAuthError> {
    let form = TokenForm::parse(request)?;
    let client = registry.client(&form.client).await?;
    // A public client proves nothing by its id: what a token grants is not told to it.
    if client.is_public() {
        return Err(OAuthError::invalid_client());
    }
    registry.introspect(&client, form.token()?).await
}
