//! POST /oauth/clients (RFC 7591) and GET, PUT, DELETE /oauth/clients/{client_id} (RFC 7592):
//! OAuth clients registered by an admin (the admin's access token is the initial access token,
//! so nobody registers anonymously), then read, replaced or deleted with the registration
//! access token the registration answered once.

use std::sync::Arc;

use stratus_auth::Authenticator;
use stratus_auth::oauth::clients::{self, ClientInformation, ClientMetadata};
use stratus_auth::oauth::{ErrorCode, OAuthError};
use stratus_core::clock::Clock;
use stratus_core::ports::ClientStore;
use stratus_http::Problem;
use stratus_http::guard;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, Method, Request, RequestExt, Response, StatusCode,
};
use stratus_http::oauth::{error_response, no_store_json};
use stratus_http::openapi::{Forbidden, InternalServerError, ServiceUnavailable, Unauthorized};
use stratus_wiring::{InitError, Wiring};

const BODY_LIMIT: usize = 16 * 1024;
pub const REGISTRATION_PATH: &str = "/oauth/clients";

struct Deps {
    auth: Authenticator,
    clients: Arc<dyn ClientStore>,
    /// `{issuer}/oauth/clients`, if the provider has a public URL.
    registration_base: Option<String>,
    clock: Arc<dyn Clock>,
}

stratus_http::openapi_part!(register, read, update, delete);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let settings = wiring.settings()?;
    let deps = Deps {
        auth: wiring.authenticator().await?,
        clients: wiring.oauth_clients()?,
        registration_base: settings.auth.oidc_issuer.map(|issuer| format!("{issuer}{REGISTRATION_PATH}")),
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let Some(base) = deps.registration_base.as_deref() else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The OAuth provider is not set up: it needs the API's public URL (stratus-admin set-public-url)",
        ));
    };
    match *request.method() {
        Method::POST => register(deps, base, &request).await,
        Method::GET => read(deps, base, &request).await,
        Method::PUT => update(deps, base, &request).await,
        Method::DELETE => delete(deps, &request).await,
        _ => Err(Problem::method_not_allowed(&["GET", "PUT", "DELETE"])),
    }
}

/// Register a client
///
/// RFC 7591 dynamic registration, gated by an admin's access token. The answer holds the
/// `client_secret` (confidential clients) and the `registration_access_token`: both are shown
/// this once and stored only hashed.
#[utoipa::path(
    post,
    path = "/oauth/clients",
    operation_id = "registerClient",
    tag = "oauth",
    request_body(content = ClientMetadata, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = ClientInformation),
        (status = 400, description = "`invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2)"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn register(deps: &Deps, base: &str, request: &Request) -> HandlerResult {
    // Asked without `http::path_param`, whose absence is a routing bug logged as an error: here
    // it is the ordinary case.
    if request.path_parameters_ref().and_then(|params| params.first("client_id")).is_some() {
        return Err(Problem::method_not_allowed(&["GET", "PUT", "DELETE"]));
    }
    guard::authenticate_admin(&deps.auth, request).await?;
    let metadata: ClientMetadata = http::json_body(request, BODY_LIMIT)?;
    Ok(match clients::register(deps.clients.as_ref(), metadata, base, deps.clock.now()).await {
        Ok(information) => {
            let location = information.registration_client_uri.clone();
            http::with_location(no_store_json(StatusCode::CREATED, &information), &location)
        }
        Err(error) => error_response(&error),
    })
}

/// Read a client
///
/// RFC 7592 §2.1, with the client's registration access token. The secret is never shown again.
#[utoipa::path(
    get,
    path = "/oauth/clients/{client_id}",
    operation_id = "readClient",
    tag = "oauth",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client's metadata", body = ClientInformation),
        (status = 401, description = "`invalid_token`: not this client's registration access token"),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn read(deps: &Deps, base: &str, request: &Request) -> HandlerResult {
    Ok(match managed(deps, request).await {
        Ok(client) => no_store_json(StatusCode::OK, &clients::information(&client, base, None)),
        Err(error) => error_response(&error),
    })
}

/// Replace a client's metadata
///
/// RFC 7592 §2.2: the body replaces every field; `client_id`, if sent, must be the client's.
#[utoipa::path(
    put,
    path = "/oauth/clients/{client_id}",
    operation_id = "updateClient",
    tag = "oauth",
    params(("client_id" = String, Path, description = "The client's id")),
    request_body(content = ClientMetadata, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = ClientInformation),
        (status = 400, description = "`invalid_redirect_uri` or `invalid_client_metadata`"),
        (status = 401, description = "`invalid_token`"),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn update(deps: &Deps, base: &str, request: &Request) -> HandlerResult {
    let client = match managed(deps, request).await {
        Ok(client) => client,
        Err(error) => return Ok(error_response(&error)),
    };
    let body: serde_json::Value = http::json_body(request, BODY_LIMIT)?;
    if body.get("client_id").is_some_and(|id| id.as_str() != Some(client.id.as_str())) {
        let error = OAuthError::new(ErrorCode::InvalidClientMetadata, "client_id must be the client's own");
        return Ok(error_response(&error));
    }
    let metadata: ClientMetadata = serde_json::from_value(body)
        .map_err(|e| Problem::bad_request(format!("The request body has invalid fields: {e}")))?;
    Ok(match clients::update(deps.clients.as_ref(), client, metadata, base).await {
        Ok(information) => no_store_json(StatusCode::OK, &information),
        Err(error) => error_response(&error),
    })
}

/// Delete a client
///
/// RFC 7592 §2.3. Its tokens stop at their next refresh; its codes are refused.
#[utoipa::path(
    delete,
    path = "/oauth/clients/{client_id}",
    operation_id = "deleteClient",
    tag = "oauth",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`invalid_token`"),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn delete(deps: &Deps, request: &Request) -> HandlerResult {
    let client = match managed(deps, request).await {
        Ok(client) => client,
        Err(error) => return Ok(error_response(&error)),
    };
    deps.clients.delete(&client.id).await?;
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid"))
}

/// The client of the path, if the request carries its registration access token.
async fn managed(deps: &Deps, request: &Request) -> Result<stratus_core::domain::OAuthClient, OAuthError> {
    let id = http::path_param(request, "client_id").unwrap_or_default();
    clients::by_registration_token(deps.clients.as_ref(), &id, guard::bearer(request)).await
}
