//! POST /register: create an account. Public for ordinary users; creating an admin takes an
//! admin's Bearer token.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::codes::{CodePurpose, send_code};
use stratus_auth::{AuthConfig, Authenticator, Password, password};
use stratus_core::clock::Clock;
use stratus_core::domain::{Email, PersonName, Profile, Role, User, Username};
use stratus_core::ports::{CodeStore, CreateUserError, Mailer, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::guard::{self, authenticate_admin};
use stratus_http::http::{self, Endpoint, HandlerResult, Request, StatusCode};
use stratus_http::openapi::{
    BadRequest, Conflict, Forbidden, InternalServerError, PayloadTooLarge, ServiceUnavailable,
    TooManyRequests, Unauthorized, UnsupportedMediaType,
};
use stratus_http::problem::FieldErrors;
use stratus_wiring::{InitError, Wiring};
use utoipa::ToSchema;

const BODY_LIMIT: usize = 8 * 1024;

struct Deps {
    users: Arc<dyn UserStore>,
    codes: Arc<dyn CodeStore>,
    mailer: Arc<dyn Mailer>,
    rate_limiter: Arc<dyn RateLimiter>,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Registration {
    #[schema(value_type = Username)]
    username: String,
    #[schema(value_type = Password)]
    password: String,
    #[schema(value_type = Email)]
    email: String,
    #[schema(value_type = PersonName)]
    first_name: String,
    #[schema(value_type = PersonName)]
    last_name: String,
    /// `admin` only with an admin's access token; `user` when absent.
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
}

stratus_http::openapi_part!(handle);

struct Valid {
    username: Username,
    password: Password,
    email: Email,
    first_name: PersonName,
    last_name: PersonName,
    role: Role,
}

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        users: wiring.users()?,
        codes: wiring.codes()?,
        mailer: wiring.mailer()?,
        rate_limiter: wiring.rate_limiter()?,
        auth: wiring.authenticator().await?,
        clock: wiring.clock(),
        config: wiring.settings()?.auth,
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

/// Create an account
///
/// Open to anyone for an ordinary account. Creating an admin takes an admin's access token.
/// A code to verify the email address is mailed to it (`POST /users/me/email/verify`).
/// Rate-limited per source address.
#[utoipa::path(
    post,
    path = "/register",
    operation_id = "register",
    tag = "accounts",
    request_body(content = Registration, content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Profile,
            headers(("Location" = String, description = "`/users/{username}`")),
            links(("GetUser" = (operation_id = "get-user", parameters(("username" = "$response.body#/username")))))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalServerError),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let now = deps.clock.now();
    let source = http::source_key(&request);
    deps.rate_limiter.enforce(&format!("register:ip:{source}"), deps.config.register_limit, now).await?;
    let valid = validate(http::json_body(&request, BODY_LIMIT)?)?;
    if valid.role == Role::Admin {
        if guard::bearer(&request).is_none() {
            return Err(Problem::new(StatusCode::FORBIDDEN, "Only an admin can create an admin"));
        }
        authenticate_admin(&deps.auth, &request).await?;
    }
    let password = valid.password;
    let password_hash =
        http::blocking(move || password::hash(&password)).await?.map_err(|e| Problem::internal(&e))?;
    let user = User {
        id: uuid::Uuid::new_v4(),
        username: valid.username,
        email: valid.email,
        first_name: valid.first_name,
        last_name: valid.last_name,
        role: valid.role,
        password_hash,
        created_at: now,
        last_login: None,
        session_generation: uuid::Uuid::new_v4(),
        disabled: false,
        email_verified: false,
        totp: None,
    };
    match deps.users.create(&user).await {
        Ok(()) => {
            // The account stands whatever the mail does: a code can be asked for again.
            let sent = send_code(
                deps.codes.as_ref(),
                deps.mailer.as_ref(),
                CodePurpose::EmailVerification,
                &user,
                now,
            );
            if let Err(error) = sent.await {
                tracing::error!(username = %user.username, %error, "the verification code could not be mailed");
            }
            let response = http::json_response(StatusCode::CREATED, &Profile::from(&user));
            Ok(http::with_location(response, &format!("/users/{}", user.username)))
        }
        Err(CreateUserError::UsernameTaken) => {
            Err(Problem::new(StatusCode::CONFLICT, "The username is taken")
                .with_field_error("username", "already registered"))
        }
        Err(CreateUserError::EmailTaken) => Err(Problem::new(StatusCode::CONFLICT, "The email is taken")
            .with_field_error("email", "already registered")),
        Err(CreateUserError::Store(error)) => Err(error.into()),
    }
}

/// Every field checked, every failure reported at once.
fn validate(body: Registration) -> Result<Valid, Problem> {
    let mut errors = FieldErrors::default();
    let username = errors.check("username", Username::parse(&body.username));
    let email = errors.check("email", Email::parse(&body.email));
    let first_name = errors.check("first_name", PersonName::parse(&body.first_name));
    let last_name = errors.check("last_name", PersonName::parse(&body.last_name));
    let context =
        [body.username.as_str(), body.email.as_str(), body.first_name.as_str(), body.last_name.as_str()];
    let password = errors.check("password", Password::parse(body.password.clone(), &context));
    let role = errors.check("role", body.role.as_deref().map_or(Ok(Role::User), str::parse::<Role>));
    match (username, email, first_name, last_name, password, role) {
        (Some(username), Some(email), Some(first_name), Some(last_name), Some(password), Some(role)) => {
            Ok(Valid { username, password, email, first_name, last_name, role })
        }
        _ => Err(errors.into_problem("The registration has invalid fields")),
    }
}
