//! GET /users?limit=&cursor=: every profile, a page at a time; admins only.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use shared::auth::{TokenVerifier, authenticate};
use shared::domain::{Profile, Username};
use shared::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use shared::ports::UserStore;
use shared::problem::FieldErrors;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
const CURSOR_PREFIX: &str = "after:";

pub struct Deps {
    pub users: Arc<dyn UserStore>,
    pub verifier: TokenVerifier,
}

#[derive(Serialize)]
struct ProfilePage {
    items: Vec<Profile>,
    next_cursor: Option<String>,
}

pub fn endpoint(deps: Deps) -> Endpoint {
    Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await })
}

pub async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    authenticate(&deps.verifier, &request)?.require_admin()?;
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

/// Opaque to clients; a cursor that does not decode to a position is refused, not guessed at.
fn encode_cursor(after: &Username) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{after}"))
}

fn decode_cursor(cursor: &str) -> Result<Username, &'static str> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX).and_then(|name| Username::parse(name).ok()))
        .ok_or("the cursor is not one this API issued")
}
