//! GET /users/me (and its older name GET /getUserData): the caller's own profile.

use std::sync::Arc;

use shared::auth::guard::unauthorized;
use shared::auth::{TokenVerifier, authenticate};
use shared::domain::Profile;
use shared::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use shared::ports::UserStore;
use shared::{InitError, Wiring};

struct Deps {
    users: Arc<dyn UserStore>,
    verifier: TokenVerifier,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { users: wiring.users()?, verifier: wiring.verifier().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let principal = authenticate(&deps.verifier, &request)?;
    // A valid token for an account that no longer exists speaks for nobody.
    let user = deps
        .users
        .get(&principal.username)
        .await?
        .ok_or_else(|| unauthorized("The account of this token no longer exists", true))?;
    let mut response = http::json_response(StatusCode::OK, &Profile::from(&user));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
