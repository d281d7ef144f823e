//! POST /logout: end the session a refresh token belongs to; every token of its family stops
//! working. Access tokens already issued run out on their own within minutes.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::session::RefreshToken;
use stratus_auth::{AuthConfig, Authenticator};
use stratus_core::clock::Clock;
use stratus_core::ports::{RefreshTokenStore, Spend};
use stratus_http::guard::authenticate;
use stratus_http::guard::unauthorized;
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 1024;

struct Deps {
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LogoutRequest {
    /// A refresh token of the session to end; it must be the caller's.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    refresh_token: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        refresh_tokens: wiring.refresh_tokens()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Log out
///
/// Ends the session the refresh token belongs to: no token of it can be refreshed again.
/// Access tokens already issued run out on their own within minutes.
#[utoipa::path(
    post,
    path = "/logout",
    operation_id = "logout",
    tag = "accounts",
    request_body(content = LogoutRequest, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session is over"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let caller = authenticate(&deps.auth, &request).await?;
    let body: LogoutRequest = http::json_body(&request, BODY_LIMIT)?;
    let refused = || unauthorized("The refresh token is not a live session of this user", true);
    let token = RefreshToken::presented(&body.refresh_token).ok_or_else(refused)?;
    let now = deps.clock.now();
    // Only the caller's own token is spent: someone else's is refused before it is touched, so
    // presenting it can never revoke its owner's session.
    let record = match deps.refresh_tokens.spend(&token.hash(), Some(&caller.username), now).await? {
        Spend::Spent(record) | Spend::Replayed(record) => record,
        Spend::Unknown => return Err(refused()),
    };
    deps.refresh_tokens.revoke_family(record.family, now + deps.config.refresh_ttl).await?;
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(Body::Empty).expect("static parts are valid"))
}
