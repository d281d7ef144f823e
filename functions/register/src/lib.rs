//! POST /register: create an account. Public for ordinary users; creating an admin takes an
//! admin's Bearer token. With private registration on (`PRIVATE_REGISTRATION`), a public
//! registration answers the same 202 whether or not the email has an account.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stratus_auth::codes::{CodePurpose, send_code};
use stratus_auth::{AuthConfig, Authenticator, Password, password, registration};
use stratus_core::clock::Clock;
use stratus_core::config::RegistrationPrivacy;
use stratus_core::domain::{Email, PersonName, Profile, Role, User, Username};
use stratus_core::ports::{CodeStore, CreateUserError, Mailer, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::guard::{self, authenticate_admin};
use stratus_http::http::{self, Body, Endpoint, HandlerResult, Request, Response, StatusCode};
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

/// The answer to a private registration: the same words whether an account was created or the
/// address's owner was told, so it says nothing about the address.
#[derive(Serialize, ToSchema)]
struct RegistrationAccepted {
    /// What happens next, for the registrant to read: always the same words.
    detail: &'static str,
}

const ACCEPTED: &str = "If the address can be registered, the account is created and a code to verify the \
    address has been mailed to it; if the address already has an account, its owner has been told \
    instead. Check the mailbox.";

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
///
/// By default the answer is 201 with the profile, or 409 naming the taken username or email; the
/// 409 for an email tells anyone which addresses have accounts. A deployment with private
/// registration (`PRIVATE_REGISTRATION=true`) answers a public registration 202 instead, with the
/// same body and headers, after the same time, whether or not the email has an account: a free
/// address gets the account and its code, a taken one gets no account and a mail telling its owner.
/// A taken username still answers 409 (usernames are public identifiers, and that answer does not
/// depend on the email). Private registration also counts against the address's mail limit (429).
#[utoipa::path(
    post,
    path = "/register",
    operation_id = "register",
    tag = "accounts",
    request_body(content = Registration, content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Created (registration not private, or an admin's request)", body = Profile,
            headers(("Location" = String, description = "`/users/{username}`")),
            links(("GetUser" = (operation_id = "get-user", parameters(("username" = "$response.body#/username")))))),
        (status = 202, description = "Private registration: the same answer whether an account was created \
            or the address already had one (its owner was mailed instead)", body = RegistrationAccepted),
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
    let arrived = tokio::time::Instant::now();
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
    // An admin sees every account anyway: only a public registration is answered privately.
    let private = match (deps.config.registration, valid.role) {
        (RegistrationPrivacy::Private { floor }, Role::User) => Some(floor),
        _ => None,
    };
    if private.is_some() {
        // Either path mails the address (a code or a notice), so either counts against its mail
        // limit, before the store is asked: a full window answers 429 whoever has the address.
        let key = format!("mail:email:{}", valid.email.key());
        deps.rate_limiter.enforce(&key, deps.config.mail_limit, now).await?;
    }
    // Hashed before the store says whether the email is taken, so both paths do this work.
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
            if let Some(floor) = private {
                return Ok(accepted(arrived, floor).await);
            }
            let response = http::json_response(StatusCode::CREATED, &Profile::from(&user));
            Ok(http::with_location(response, &format!("/users/{}", user.username)))
        }
        // Both stores check the username first, so this answer does not depend on the email.
        Err(CreateUserError::UsernameTaken) => {
            Err(Problem::new(StatusCode::CONFLICT, "The username is taken")
                .with_field_error("username", "already registered"))
        }
        Err(CreateUserError::EmailTaken) => match private {
            Some(floor) => {
                // A failure here must not show: the answer would tell that the address is taken.
                let told = registration::tell_owner(deps.users.as_ref(), deps.mailer.as_ref(), &user.email);
                if let Err(error) = told.await {
                    tracing::error!(%error, "the owner of a registered address could not be told of a registration attempt");
                }
                Ok(accepted(arrived, floor).await)
            }
            None => Err(Problem::new(StatusCode::CONFLICT, "The email is taken")
                .with_field_error("email", "already registered")),
        },
        Err(CreateUserError::Store(error)) => Err(error.into()),
    }
}

/// The private answer, no sooner than `floor` after the request arrived: creating an account and
/// mailing its code, or mailing the owner a notice, take different times, and the time must not
/// tell which happened.
async fn accepted(arrived: tokio::time::Instant, floor: std::time::Duration) -> Response<Body> {
    http::no_sooner_than(arrived, floor, "REGISTRATION_FLOOR_MS").await;
    http::json_response(StatusCode::ACCEPTED, &RegistrationAccepted { detail: ACCEPTED })
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
