//! POST /token/refresh: spend a refresh token for a new pair. A token works once; presenting
//! it again revokes every token of its family (RFC 9700 §4.14.2 reuse detection).

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::TokenIssuer;
use stratus_auth::session::{RefreshToken, Session, issue_pair};
use stratus_core::clock::Clock;
use stratus_core::ports::{RefreshTokenStore, Spend, UserStore};
use stratus_http::Problem;
use stratus_http::guard::unauthorized;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, InternalServerError, PayloadTooLarge, ServiceUnavailable, Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    refresh_token: String,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        refresh_tokens: wiring.refresh_tokens()?,
        issuer: wiring.issuer()?,
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

fn refused() -> Problem {
    unauthorized("The refresh token is invalid, expired or revoked", true)
}

/// Renew the tokens
///
/// Spends the refresh token for a new pair. A refresh token works once: presenting a spent one
/// again revokes every token of its session (RFC 9700 reuse detection).
#[utoipa::path(
    post,
    path = "/token/refresh",
    operation_id = "refresh-token",
    tag = "accounts",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent",
            body = stratus_auth::session::TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`")),
            links(
                ("Refresh" = (operation_id = "refresh-token",
                    request_body = json!({"refresh_token": "$response.body#/refresh_token"}))),
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let body: RefreshRequest = http::json_body(&request, BODY_LIMIT)?;
    let token = RefreshToken::presented(&body.refresh_token).ok_or_else(refused)?;
    let now = deps.clock.now();
    // Everything that can fail is done before the token is spent, the new pair stored first:
    // a dependency's fault (503) then leaves the presented token as it was, so the client's
    // honest retry spends it, instead of looking like a replay that revokes the session.
    let Some((record, spent)) = deps.refresh_tokens.peek(&token.hash(), now).await? else {
        return Err(refused());
    };
    if spent {
        return Err(replayed(deps, &request, &record, now).await);
    }
    // An OAuth client's refresh token renews its own grant at the token endpoint and nowhere
    // else: here it would buy the API's full scope. Whoever presents it here should not have it.
    if record.client.is_some() {
        deps.refresh_tokens.revoke_family(record.family, now + deps.issuer.config().refresh_ttl).await?;
        return Err(refused());
    }
    if deps.refresh_tokens.is_family_revoked(record.family, now).await? {
        return Err(refused());
    }
    // The account must still be the one the session began with, in the same generation: a
    // password change, a deletion (and a new account under the name) each end every session.
    let Some(user) = deps.users.get(&record.username).await? else {
        return Err(refused());
    };
    if !user.continues(record.generation) {
        return Err(refused());
    }
    let session = Some(Session::of(&record));
    let pair = issue_pair(&deps.issuer, deps.refresh_tokens.as_ref(), &user, session, now).await?;
    match deps.refresh_tokens.spend(&token.hash(), None, now).await? {
        Spend::Spent(_) => {}
        // Presented twice at once, and the other presentation spent it first.
        Spend::Replayed(record) => return Err(replayed(deps, &request, &record, now).await),
        Spend::Unknown => return Err(refused()),
    }
    let mut response = http::json_response(StatusCode::OK, &pair);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A spent token presented again: someone holds a copy of a token that was rotated, the owner
/// or a thief. Its whole session is revoked (the pair just issued with it included).
async fn replayed(
    deps: &Deps,
    request: &Request,
    record: &stratus_core::ports::RefreshRecord,
    now: time::OffsetDateTime,
) -> Problem {
    // Say who and from where, so the alarm can be followed up; never the token.
    tracing::warn!(
        username = %record.username,
        source = %http::source_key(request),
        family = %record.family,
        "spent refresh token presented again; its session is revoked"
    );
    let until = now + deps.issuer.config().refresh_ttl;
    match deps.refresh_tokens.revoke_family(record.family, until).await {
        Ok(()) => refused(),
        Err(error) => error.into(),
    }
}
