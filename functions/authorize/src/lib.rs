//! GET and POST /authorize: the authorization endpoint and the hosted login page behind it.
//! GET checks the request and, with a browser session, answers at once (consent permitting);
//! otherwise it shows the login form. The forms post back here with the request's parameters,
//! a CSRF token matching the CSRF cookie, and a `step`: `sign-in` (username and password, under
//! `POST /login`'s limits), `code` (TOTP or a recovery code) or `consent` (`decision` allow or
//! deny). Every answer is HTML or a 303; no script runs and nothing loads from another host.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::AuthConfig;
use stratus_auth::oauth::authorize::{
    self, Authorization, AuthorizationParams, BROWSER_SESSION_TTL, NewSession, Next, PageError, Rejection,
    ValidRequest,
};
use stratus_auth::oauth::{OAuthError, token_hash};
use stratus_auth::sealing::SecretBox;
use stratus_core::clock::Clock;
use stratus_core::domain::Scopes;
use stratus_core::ports::{AuthorizationStore, BrowserSession, ClientStore, RateLimiter, UserStore};
use stratus_http::Problem;
use stratus_http::http::{
    self, Body, Endpoint, HandlerResult, HeaderValue, Method, Request, Response, StatusCode, header,
};
use stratus_http::page::{self, CSRF, Cookies, CsrfToken, SESSION};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    clients: Arc<dyn ClientStore>,
    users: Arc<dyn UserStore>,
    authorizations: Arc<dyn AuthorizationStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    secrets: Arc<SecretBox>,
    /// The password's limits and the sign-in's settings. The page signs nothing and keeps no
    /// refresh tokens: its role has neither right, nor its environment the key's or table's name.
    config: AuthConfig,
    issuer_id: Option<String>,
    csp: String,
    clock: Arc<dyn Clock>,
}

/// What the hosted page's forms post.
#[derive(Deserialize)]
struct Posted {
    step: Option<String>,
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
    decision: Option<String>,
    #[serde(flatten)]
    params: AuthorizationParams,
}

stratus_http::openapi_part!(authorize_get, authorize_post);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let settings = wiring.settings()?;
    let deps = Deps {
        clients: wiring.oauth_clients()?,
        users: wiring.users()?,
        authorizations: wiring.authorizations()?,
        rate_limiter: wiring.rate_limiter()?,
        secrets: wiring.totp_secrets()?,
        issuer_id: settings.auth.oidc_issuer.clone(),
        config: settings.auth,
        csp: page::content_security_policy(),
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { handle(&deps, request).await }))
}

async fn handle(deps: &Deps, request: Request) -> HandlerResult {
    let Some(issuer_id) = deps.issuer_id.as_deref() else {
        return Ok(error_page(
            deps,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not set up on this deployment yet (it needs the API's public URL).",
        ));
    };
    let cookies = Cookies::for_issuer(issuer_id);
    let flow = Authorization {
        users: deps.users.as_ref(),
        authorizations: deps.authorizations.as_ref(),
        rate_limiter: deps.rate_limiter.as_ref(),
        secrets: &deps.secrets,
        config: &deps.config,
        issuer_id,
    };
    let page = Page { deps, cookies: &cookies, request: &request };
    match *request.method() {
        Method::GET => authorize_get(&page, &flow).await,
        Method::POST => authorize_post(&page, &flow).await,
        _ => Err(Problem::method_not_allowed(&["GET", "POST"])),
    }
}

/// Authorization request
///
/// OAuth 2.1 authorization code with PKCE (S256 only), OpenID Connect's `nonce`, `prompt`
/// (`none`, `login`, `consent`) and `max_age`. Answers the login page (HTML), or 303 to the
/// client's redirect URI with `code`, `state` and `iss` (RFC 9207), or with `error`. An unknown
/// client or unregistered redirect URI gets an error page, never a redirect.
#[utoipa::path(
    get,
    path = "/authorize",
    operation_id = "authorize",
    tag = "oauth",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "The registered client"),
        ("redirect_uri" = Option<String>, Query, description = "Exactly as registered"),
        ("scope" = Option<String>, Query, description = "Space-separated: openid profile email offline_access api"),
        ("state" = Option<String>, Query, description = "Returned as sent"),
        ("nonce" = Option<String>, Query, description = "Put into the ID token"),
        ("code_challenge" = String, Query, description = "base64url SHA-256 of the PKCE verifier"),
        ("code_challenge_method" = String, Query, description = "`S256`"),
        ("prompt" = Option<String>, Query, description = "`none`, `login` or `consent`"),
        ("max_age" = Option<u32>, Query, description = "Seconds since the last sign-in"),
    ),
    security(()),
    responses(
        (status = 200, description = "The login, code or consent page", content_type = "text/html"),
        (status = 303, description = "To the client's redirect URI, with the code or an error"),
        (status = 400, description = "An error page: unknown client or unregistered redirect URI", content_type = "text/html"),
        (status = 503, description = "An error page: a backing service is unavailable; retry after `Retry-After`", content_type = "text/html"),
    )
)]
async fn authorize_get(page: &Page<'_>, flow: &Authorization<'_>) -> HandlerResult {
    let params: AuthorizationParams = match stratus_http::oauth::query_params(page.request) {
        Ok(params) => params,
        Err(error) => return Ok(page.error(StatusCode::BAD_REQUEST, &error.description)),
    };
    let valid = match authorize::validate(page.deps.clients.as_ref(), params, flow.issuer_id).await {
        Ok(valid) => valid,
        Err(rejection) => return Ok(page.rejected(rejection)),
    };
    let now = page.deps.clock.now();
    let session = page.session(now).await?;
    match flow.resume(&valid, session.as_ref(), now).await {
        Ok(next) => Ok(page.next(&valid, next, None)),
        Err(error) => Ok(page.failed(&valid, flow.issuer_id, &error)),
    }
}

/// Hosted page's forms
///
/// The login, code and consent forms post here (`application/x-www-form-urlencoded`), with the
/// authorization request's parameters, `csrf` (equal to the CSRF cookie) and `step`.
#[utoipa::path(
    post,
    path = "/authorize",
    operation_id = "authorizeForm",
    tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "A hosted page's form"),
    security(()),
    responses(
        (status = 200, description = "The next page", content_type = "text/html"),
        (status = 303, description = "To the client's redirect URI"),
        (status = 400, description = "An error page", content_type = "text/html"),
        (status = 401, description = "The login page again: wrong username or password", content_type = "text/html"),
        (status = 403, description = "No CSRF token, or another site's post", content_type = "text/html"),
        (status = 429, description = "Too many attempts", content_type = "text/html"),
        (status = 503, description = "An error page: a backing service is unavailable; retry after `Retry-After`", content_type = "text/html"),
    )
)]
async fn authorize_post(page: &Page<'_>, flow: &Authorization<'_>) -> HandlerResult {
    let posted: Posted = match stratus_http::oauth::form_body(page.request) {
        Ok(posted) => posted,
        Err(error) => return Ok(page.error(StatusCode::BAD_REQUEST, &error.description)),
    };
    let csrf_cookie = page.cookies.read(page.request, CSRF);
    if page::foreign_origin(page.request, flow.issuer_id).is_some()
        || !page::csrf_matches(csrf_cookie, posted.csrf.as_deref())
    {
        let message =
            "This form expired or was sent from another site. Go back to the application and sign in again.";
        return Ok(page.error(StatusCode::FORBIDDEN, message));
    }
    let valid = match authorize::validate(page.deps.clients.as_ref(), posted.params, flow.issuer_id).await {
        Ok(valid) => valid,
        Err(rejection) => return Ok(page.rejected(rejection)),
    };
    let now = page.deps.clock.now();
    let source = http::source_key(page.request);
    let session = page.session(now).await?;
    let outcome = match posted.step.as_deref() {
        Some("sign-in") => {
            let username = posted.username.unwrap_or_default();
            let password = posted.password.unwrap_or_default();
            flow.sign_in(&valid, &username, password, &source, now).await
        }
        Some("code") => {
            let code = posted.code.unwrap_or_default();
            flow.second_factor(&valid, session.as_ref(), &code, &source, now).await
        }
        Some("consent") => {
            let allow = posted.decision.as_deref() == Some("allow");
            flow.decide(&valid, session.as_ref(), allow, now).await.map(|next| (None, next))
        }
        _ => return Ok(page.error(StatusCode::BAD_REQUEST, "The form is missing its step.")),
    };
    match outcome {
        Ok((new_session, next)) => Ok(page.next(&valid, next, new_session.as_ref())),
        Err(error) => Ok(page.failed(&valid, flow.issuer_id, &error)),
    }
}

/// One request's rendering: the function's parts and the request's cookies.
struct Page<'a> {
    deps: &'a Deps,
    cookies: &'a Cookies,
    request: &'a Request,
}

impl Page<'_> {
    /// The browser's session, from its cookie.
    async fn session(&self, now: time::OffsetDateTime) -> Result<Option<BrowserSession>, Problem> {
        match self.cookies.read(self.request, SESSION) {
            Some(cookie) => Ok(self.deps.authorizations.session(&token_hash(cookie), now).await?),
            None => Ok(None),
        }
    }

    fn error(&self, status: StatusCode, message: &str) -> Response<Body> {
        error_page(self.deps, status, message)
    }

    fn rejected(&self, rejection: Rejection) -> Response<Body> {
        match rejection {
            Rejection::Page(message) => self.error(StatusCode::BAD_REQUEST, &message),
            Rejection::Unavailable(message) => {
                let mut response = self.error(StatusCode::SERVICE_UNAVAILABLE, &message);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            Rejection::Redirect(location) => page::see_other(&location),
        }
    }

    /// A failure of ours (a store out of reach): back to the client with the error, which
    /// RFC 6749 §4.1.2.1 gives `temporarily_unavailable` and `server_error` for.
    fn failed(&self, request: &ValidRequest, issuer: &str, error: &OAuthError) -> Response<Body> {
        page::see_other(&request.error_location(issuer, error))
    }

    fn next(&self, request: &ValidRequest, next: Next, new_session: Option<&NewSession>) -> Response<Body> {
        let mut response = match next {
            Next::Redirect(location) => page::see_other(&location),
            Next::SignIn(error) => self.form(request, Form::SignIn, error),
            Next::SecondFactor(error) => self.form(request, Form::Code, error),
            Next::Consent => self.form(request, Form::Consent, None),
        };
        if let Some(new) = new_session {
            let max_age = (new.session.expires_at - self.deps.clock.now()).whole_seconds().max(0);
            response
                .headers_mut()
                .append(header::SET_COOKIE, self.cookies.set(SESSION, &new.cookie, max_age));
        }
        response
    }

    fn form(&self, request: &ValidRequest, form: Form, error: Option<PageError>) -> Response<Body> {
        // The CSRF token lives as long as a browser session; a browser without one gets one.
        let csrf = CsrfToken::of(self.cookies, self.request);
        let client = request.client.name.clone().unwrap_or_else(|| request.client.id.to_string());
        let mut hidden = request.params.pairs();
        let (title, step, fields) = match form {
            Form::SignIn => (
                format!("Sign in to {client}"),
                "sign-in",
                "<label for=\"username\">Username</label>\
                 <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
                 <label for=\"password\">Password</label>\
                 <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
                 <button type=\"submit\">Sign in</button>"
                    .to_owned(),
            ),
            Form::Code => (
                "Enter your authentication code".to_owned(),
                "code",
                "<label for=\"code\">Code from your authenticator app, or a recovery code</label>\
                 <input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" required autofocus>\
                 <button type=\"submit\">Verify</button>"
                    .to_owned(),
            ),
            Form::Consent => {
                let items: String = request
                    .scope
                    .iter()
                    .map(|scope| format!("<li>{}</li>", page::escape(scope_description(scope))))
                    .collect();
                (
                    format!("Allow {client} to access your account?"),
                    "consent",
                    format!(
                        "<p>{} asks to:</p><ul>{items}</ul>\
                         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
                         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>",
                        page::escape(&client)
                    ),
                )
            }
        };
        hidden.push(("step", step));
        let body = csrf.form("/authorize", &hidden, &fields);
        let status = error
            .as_ref()
            .map_or(StatusCode::OK, |e| StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST));
        let mut response =
            page::render(status, &self.deps.csp, &title, error.as_ref().map(|e| e.message.as_str()), &body);
        if let Some(seconds) = error.and_then(|e| e.retry_after) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        csrf.hand_out(self.cookies, &mut response, BROWSER_SESSION_TTL.whole_seconds());
        response
    }
}

enum Form {
    SignIn,
    Code,
    Consent,
}

fn error_page(deps: &Deps, status: StatusCode, message: &str) -> Response<Body> {
    page::render(status, &deps.csp, "Sign-in error", Some(message), "")
}

/// What consenting to a scope gives the application, in words.
fn scope_description(scope: &str) -> &'static str {
    match scope {
        Scopes::OPENID => "Know who you are (your account id)",
        Scopes::PROFILE => "See your username and your name",
        Scopes::EMAIL => "See your email address",
        Scopes::OFFLINE_ACCESS => "Stay signed in when you are away",
        Scopes::API => "Use the Stratus API as you",
        _ => "A permission this deployment does not describe",
    }
}
