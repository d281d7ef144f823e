//! PATCH /users/{username}: an admin disables or enables an account, changes its role, or turns
//! its TOTP off (a user who lost their phone and their recovery codes). A disabled user cannot log
//! in, refresh or act as an admin. The last active admin can be neither
//! demoted nor disabled, by anyone, themselves included: the service would have no admin left.
//! The store changes the account and the count of active admins in one conditional write, so
//! that holds however many such requests race (`UserStore::change_access`).

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::Authenticator;
use stratus_core::domain::{Profile, Role, Username};
use stratus_core::ports::{AccessChange, AccessChanged, UserStore};
use stratus_http::Problem;
use stratus_http::guard::authenticate_admin;
use stratus_http::http::{self, Endpoint, HandlerResult, HeaderValue, Request, StatusCode, header};
use stratus_http::openapi::{
    BadRequest, Conflict, Forbidden, InternalServerError, NotFound, PayloadTooLarge, ServiceUnavailable,
    Unauthorized, UnsupportedMediaType,
};
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    auth: Authenticator,
}

/// What to change; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountChange {
    /// A disabled account cannot log in, refresh or act as an admin.
    disabled: Option<bool>,
    role: Option<Role>,
    /// `false` turns the account's TOTP off, for a user who lost both their authenticator and
    /// their recovery codes. Only the user can turn it on.
    #[schema(schema_with = false_only)]
    mfa_enabled: Option<bool>,
}

/// `false` or null: `true` is refused, so the document does not offer it.
fn false_only() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .enum_values(Some([serde_json::Value::Bool(false), serde_json::Value::Null]))
        .description(Some(
            "`false` turns the account's TOTP off, for a user who lost both their authenticator and their recovery codes. Only the user can turn it on.",
        ))
        .build()
}

stratus_http::openapi_part!(handle);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps { users: wiring.users()?, auth: wiring.authenticator().await? };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Disable, enable, promote or demote an account
///
/// Admins only. The last active admin cannot be demoted or disabled (409). `mfa_enabled: false`
/// turns the user's TOTP off, for a user locked out of their second factor.
#[utoipa::path(
    patch,
    path = "/users/{username}",
    operation_id = "updateUser",
    tag = "accounts",
    security(("bearer" = [])),
    params(("username" = Username, Path, description = "In any letter case")),
    request_body(content = AccountChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile as it is now", body = Profile,
            headers(("Cache-Control" = String, description = "`private, no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let admin = authenticate_admin(&deps.auth, &request).await?;
    let username = Username::parse(&http::path_param(&request, "username")?).map_err(|error| {
        Problem::bad_request("The username is malformed").with_field_error("username", error.to_string())
    })?;
    // An empty change changes nothing and answers the profile, as a merge patch would.
    let change: AccountChange = http::json_body(&request, BODY_LIMIT)?;
    if change.mfa_enabled == Some(true) {
        return Err(Problem::bad_request("Only the user can turn TOTP on")
            .with_field_error("mfa_enabled", "may only be false: POST /users/me/mfa/totp is the user's"));
    }
    let not_found = || Problem::not_found(format!("No user is named {username}"));
    let user = deps.users.get(&username).await?.ok_or_else(not_found)?;
    let remove_totp = change.mfa_enabled == Some(false) && user.mfa_enabled();
    // A new session generation on a change of the flag either way: a disable ends every session
    // at once, and enabling again revives none from before it.
    let access = AccessChange { role: change.role, disabled: change.disabled };
    let mut after = match deps.users.change_access(&user, access, uuid::Uuid::new_v4()).await? {
        AccessChanged::Changed(after) => after,
        AccessChanged::NoSuchUser => return Err(not_found()),
        AccessChanged::LastActiveAdmin => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "This is the last active admin: make another admin first",
            ));
        }
    };
    // False only if the user turned it off (or re-enrolled) meanwhile: either way it is off now
    // or theirs again.
    if remove_totp {
        deps.users.remove_totp(&user, uuid::Uuid::new_v4()).await?;
        after.totp = None;
    }
    tracing::info!(
        admin = %admin.username, username = %username, role = after.role.as_str(), disabled = after.disabled,
        totp_removed = remove_totp, "account changed by an admin"
    );
    let mut response = http::json_response(StatusCode::OK, &Profile::from(&after));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
