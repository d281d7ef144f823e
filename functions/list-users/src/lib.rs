//! GET /users?limit=&cursor=: every profile, a page at a time; admins only.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use stratus_auth::Authenticator;
use stratus_core::domain::{Profile, Username};
use stratus_core::ports::UserStore;
use stratus_http::guard::authenticate_admin;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{BadRequest, Forbidden, InternalServerError, ServiceUnavailable, Unauthorized};
use stratus_http::problem::FieldErrors;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// Keeps the check from being a plain SHA-256 of the name, which other places may compute.
const CURSOR_DOMAIN: &[u8] = b"stratus list-users cursor v1\0";

struct Deps {
    users: Arc<dyn UserStore>,
    auth: Authenticator,
}

/// One page of users, in a stable order.
#[derive(Serialize, ToSchema)]
struct ProfilePage {
    items: Vec<Profile>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { users: wiring.users()?, auth: wiring.authenticator().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// List users (admins)
///
/// Every profile, a page at a time, in a stable order.
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list-users",
    tag = "accounts",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u8>, Query, nullable = false, description = "Users per page", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, nullable = false, description = "The `next_cursor` of the page before; opaque",
            pattern = "^[A-Za-z0-9_-]+$"),
    ),
    responses(
        (status = 200, description = "A page of users", body = ProfilePage,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    authenticate_admin(&deps.auth, &request).await?;
    let mut errors = FieldErrors::default();
    let limit = errors.check("limit", parse_limit(http::query_param(&request, "limit")));
    let after =
        errors.check("cursor", http::query_param(&request, "cursor").map(|c| decode_cursor(&c)).transpose());
    let (Some(limit), Some(after)) = (limit, after) else {
        return Err(errors.into_problem("The query has invalid parameters"));
    };
    let page = deps.users.list(limit, after.as_ref()).await?;
    let body = ProfilePage {
        items: page.items.iter().map(Profile::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    };
    let mut response = http::json_response(StatusCode::OK, &body);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

fn parse_limit(text: Option<String>) -> Result<usize, String> {
    let Some(text) = text else { return Ok(DEFAULT_LIMIT) };
    match text.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(format!("limit is a whole number from 1 to {MAX_LIMIT}")),
    }
}

/// Opaque to clients: the last username and a check over it, so a cursor edited by hand is
/// refused rather than silently starting the page somewhere else. The check is a checksum, not a
/// secret: whoever forges one gets a page an admin could ask for directly anyway.
fn encode_cursor(after: &Username) -> String {
    let mut bytes = cursor_check(after.as_str()).to_vec();
    bytes.extend_from_slice(after.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(cursor: &str) -> Result<Username, &'static str> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| NOT_OURS)?;
    let (check, name) = bytes.split_at_checked(CURSOR_CHECK_LEN).ok_or(NOT_OURS)?;
    let name = std::str::from_utf8(name).map_err(|_| NOT_OURS)?;
    if check != cursor_check(name) {
        return Err(NOT_OURS);
    }
    Username::parse(name).map_err(|_| NOT_OURS)
}

const NOT_OURS: &str = "the cursor is not one this API issued";
const CURSOR_CHECK_LEN: usize = 8;

fn cursor_check(name: &str) -> [u8; CURSOR_CHECK_LEN] {
    let digest = Sha256::new().chain_update(CURSOR_DOMAIN).chain_update(name).finalize();
    digest[..CURSOR_CHECK_LEN].try_into().expect("SHA-256 is longer than the check")
}
