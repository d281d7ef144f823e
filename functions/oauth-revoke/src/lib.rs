//! POST /oauth/revoke (RFC 7009): a client ends a grant by one of its tokens, access or
//! refresh. 200 whatever the token was (§2.2), so the answer tells nothing about it; a token
//! issued to another client is left alone.

use stratus_auth::oauth::OAuthError;
use stratus_auth::oauth::tokens::TokenRegistry;
use stratus_http::http::{Body, Endpoint, HandlerResult, HeaderValue, Request, Response, StatusCode, header};
use stratus_http::oauth::{TokenForm, error_response};
use stratus_wiring::{InitError, Wiring};

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let registry = wiring.token_registry().await?;
    Ok(Endpoint::with_deps(registry, |registry, request| async move { handle(&registry, request).await }))
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
async fn handle(registry: &TokenRegistry, request: Request) -> HandlerResult {
    Ok(match revoke(registry, &request).await {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
            .body(Body::Empty)
            .expect("static parts are valid"),
        Err(error) => error_response(&error),
    })
}

async fn revoke(registry: &TokenRegistry, request: &Request) -> Result<(), OAuthError> {
    let form = TokenForm::parse(request)?;
    let client = registry.client(&form.client).await?;
    registry.revoke(&client, form.token()?).await
}
