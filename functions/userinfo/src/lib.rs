//! GET and POST /oauth/userinfo (OpenID Connect Core §5.3): the standard claims about the user
//! that an access token's scope grants, `openid` at least. A revoked grant's token is refused
//! at once, not when it expires, as everywhere in the API (`stratus_auth::guard`).

use serde::Serialize;
use stratus_auth::Authenticator;
use stratus_auth::oauth::id_token::StandardClaims;
use stratus_core::domain::Scopes;
use stratus_http::guard;
use stratus_http::http::{Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{Forbidden, InternalServerError, ServiceUnavailable, Unauthorized};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    auth: Authenticator,
}

/// `sub` and the claims the scope grants: `profile` (preferred_username, given_name,
/// family_name, name), `email` (email, email_verified).
#[derive(Serialize, utoipa::ToSchema)]
struct UserInfo {
    /// The account's id, as the ID token's `sub`.
    sub: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    claims: StandardClaims,
}

stratus_http::openapi_part!(handle, handle_post);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { auth: wiring.authenticator().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// UserInfo
///
/// The signed-in user's claims for an OAuth access token with the `openid` scope.
#[utoipa::path(
    get,
    path = "/oauth/userinfo",
    operation_id = "userinfo",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims", body = UserInfo,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    userinfo(deps, request).await
}

/// UserInfo (POST)
///
/// The same as GET, as OpenID Connect Core §5.3.1 asks the endpoint to support both.
#[utoipa::path(
    post,
    path = "/oauth/userinfo",
    operation_id = "userinfoPost",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims", body = UserInfo,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
#[allow(dead_code)] // Documents the POST route, which `handle` serves too.
async fn handle_post(deps: &Deps, request: Request) -> HandlerResult {
    userinfo(deps, request).await
}

async fn userinfo(deps: &Deps, request: Request) -> HandlerResult {
    let token = guard::bearer(&request);
    let (user, claimed) = deps.auth.grant_holder(token, Scopes::OPENID).await?;
    let scope = Scopes::parse(claimed.scope.as_deref().unwrap_or_default()).unwrap_or_default();
    let info = UserInfo { sub: user.id.to_string(), claims: StandardClaims::of(&user, &scope) };
    let mut response = stratus_http::http::json_response(StatusCode::OK, &info);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
