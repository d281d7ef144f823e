//! GET and POST /oauth/logout: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//! Ends the browser's session at the hosted page, then sends the browser to the client's
//! `post_logout_redirect_uri` if the client registered it exactly, or shows that the user is
//! signed out. Without a valid `id_token_hint` for the signed-in user, the user confirms first,
//! so no other site can sign them out.

use std::sync::Arc;

use serde::Deserialize;
use stratus_auth::keys::{PublicKey, RsaPublicKey};
use stratus_auth::oauth::id_token::verify_hint;
use stratus_auth::oauth::token_hash;
use stratus_core::clock::Clock;
use stratus_core::domain::ClientId;
use stratus_core::ports::{AuthorizationStore, ClientStore};
use stratus_http::Problem;
use stratus_http::http::{Body, Endpoint, HandlerResult, Method, Request, Response, StatusCode, header};
use stratus_http::page::{self, CSRF, Cookies, CsrfToken, SESSION};
use stratus_wiring::{InitError, Wiring};

struct Deps {
    clients: Arc<dyn ClientStore>,
    authorizations: Arc<dyn AuthorizationStore>,
    ec_keys: Vec<PublicKey>,
    rsa_keys: Vec<RsaPublicKey>,
    issuer_id: Option<String>,
    csp: String,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default, Deserialize)]
struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    /// The confirmation form's.
    csrf: Option<String>,
    confirm: Option<String>,
}

stratus_http::openapi_part!(logout, logout_form);

pub async fn build(wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    let deps = Deps {
        clients: wiring.oauth_clients()?,
        authorizations: wiring.authorizations()?,
        ec_keys: wiring.public_keys().await?,
        rsa_keys: wiring.rsa_public_keys().await?,
        issuer_id: wiring.settings()?.auth.oidc_issuer,
        csp: page::content_security_policy(),
        clock: wiring.clock(),
    };
    Ok(Endpoint::with_deps(deps, |deps, request| async move { logout(&deps, request).await }))
}

/// End session
///
/// RP-initiated logout: `id_token_hint`, `post_logout_redirect_uri` (exactly as registered),
/// `state`, `client_id`. Also answers the confirmation form's post.
#[utoipa::path(
    get,
    path = "/oauth/logout",
    operation_id = "endSession",
    tag = "oauth",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token the provider issued to the client"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Exactly as registered"),
        ("state" = Option<String>, Query, description = "Returned as sent"),
        ("client_id" = Option<String>, Query, description = "The client, when there is no hint"),
    ),
    security(()),
    responses(
        (status = 200, description = "Signed out, or a page to confirm", content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered post_logout_redirect_uri"),
        (status = 400, description = "An unregistered post_logout_redirect_uri, or a bad hint", content_type = "text/html"),
        (status = 403, description = "The confirmation came without its CSRF token", content_type = "text/html"),
    )
)]
async fn logout(deps: &Deps, request: Request) -> HandlerResult {
    let Some(issuer) = deps.issuer_id.as_deref() else {
        return Ok(page(
            deps,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-out is not set up on this deployment yet.",
            "",
        ));
    };
    let cookies = Cookies::for_issuer(issuer);
    let post = match *request.method() {
        Method::GET => false,
        Method::POST => true,
        _ => return Err(Problem::method_not_allowed(&["GET", "POST"])),
    };
    let parsed = if post {
        stratus_http::oauth::form_body(&request)
    } else {
        stratus_http::oauth::query_params(&request)
    };
    let params: LogoutParams = match parsed {
        Ok(params) => params,
        Err(error) => return Ok(page(deps, StatusCode::BAD_REQUEST, &error.description, "")),
    };
    let hint = match params.id_token_hint.as_deref() {
        Some(token) => match verify_hint(token, &deps.ec_keys, &deps.rsa_keys, issuer) {
            Ok(hint) => Some(hint),
            Err(reason) => {
                tracing::info!(%reason, "id_token_hint refused");
                return Ok(page(
                    deps,
                    StatusCode::BAD_REQUEST,
                    "The sign-out request carries an ID token this service did not issue.",
                    "",
                ));
            }
        },
        None => None,
    };
    // The client: the hint's audience, which a client_id sent too must agree with.
    let client_id = match (&hint, params.client_id.as_deref()) {
        (Some(hint), Some(id)) if hint.client_id != id => {
            return Ok(page(deps, StatusCode::BAD_REQUEST, "client_id is not the ID token's audience.", ""));
        }
        (Some(hint), _) => Some(hint.client_id.clone()),
        (None, id) => id.map(str::to_owned),
    };
    let client = match client_id.as_deref().map(ClientId::parse) {
        Some(Ok(id)) => deps.clients.get(&id).await?,
        Some(Err(_)) | None => None,
    };
    let redirect = match (params.post_logout_redirect_uri.as_deref(), &client) {
        (None, _) => None,
        (Some(uri), Some(client)) => {
            match client.post_logout_redirect_uris.iter().find(|r| r.as_str() == uri) {
                Some(registered) => Some(registered.clone()),
                None => {
                    return Ok(page(
                        deps,
                        StatusCode::BAD_REQUEST,
                        "post_logout_redirect_uri is not registered for the client: for your safety you are not sent on.",
                        "",
                    ));
                }
            }
        }
        (Some(_), None) => {
            return Ok(page(
                deps,
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri needs the client (id_token_hint or client_id).",
                "",
            ));
        }
    };
    let now = deps.clock.now();
    let cookie = cookies.read(&request, SESSION);
    let session = match cookie {
        Some(cookie) => deps.authorizations.session(&token_hash(cookie), now).await?,
        None => None,
    };
    // With a hint for the very user signed in (or nobody signed in), no confirmation is needed;
    // otherwise the user confirms by the form, which another site cannot post (CSRF cookie).
    let hinted_user = hint
        .as_ref()
        .is_some_and(|hint| session.as_ref().is_none_or(|s| s.user_id.to_string() == hint.subject));
    let confirmed = post
        && params.confirm.is_some()
        && page::csrf_matches(cookies.read(&request, CSRF), params.csrf.as_deref());
    if post && !confirmed {
        return Ok(page(deps, StatusCode::FORBIDDEN, "This form expired or was sent from another site.", ""));
    }
    if !hinted_user && !confirmed && session.is_some() {
        return Ok(confirmation(deps, &cookies, &request, &params));
    }
    if let Some(session) = &session {
        deps.authorizations.end_session(&session.id_hash).await?;
    }
    let mut response = match redirect {
        Some(uri) => {
            let state: Vec<(&str, &str)> =
                params.state.as_deref().map(|s| vec![("state", s)]).unwrap_or_default();
            page::see_other(&uri.with_query(&state))
        }
        None => page(deps, StatusCode::OK, "You are signed out", ""),
    };
    response.headers_mut().append(header::SET_COOKIE, cookies.set(SESSION, "", 0));
    Ok(response)
}

/// End session (confirmation form)
///
/// The confirmation page's form posts here (`application/x-www-form-urlencoded`, with `csrf`
/// equal to the CSRF cookie and `confirm`), and so may a client, with the GET's parameters.
#[utoipa::path(
    post,
    path = "/oauth/logout",
    operation_id = "endSessionForm",
    tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "The GET's parameters, `csrf` and `confirm`"),
    security(()),
    responses(
        (status = 200, description = "Signed out", content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered post_logout_redirect_uri"),
        (status = 400, description = "An unregistered post_logout_redirect_uri, or a bad hint", content_type = "text/html"),
        (status = 403, description = "Without its CSRF token", content_type = "text/html"),
    )
)]
#[allow(dead_code)] // Documents the POST route, which `logout` serves too.
async fn logout_form(deps: &Deps, request: Request) -> HandlerResult {
    logout(deps, request).await
}

fn confirmation(deps: &Deps, cookies: &Cookies, request: &Request, params: &LogoutParams) -> Response<Body> {
    let csrf = CsrfToken::of(cookies, request);
    let mut hidden: Vec<(&str, &str)> = vec![("confirm", "yes")];
    for (name, value) in [
        ("post_logout_redirect_uri", &params.post_logout_redirect_uri),
        ("state", &params.state),
        ("client_id", &params.client_id),
        ("id_token_hint", &params.id_token_hint),
    ] {
        if let Some(value) = value {
            hidden.push((name, value));
        }
    }
    let body = csrf.form("/oauth/logout", &hidden, "<button type=\"submit\">Log out</button>");
    let mut response = page(deps, StatusCode::OK, "Sign out?", &body);
    csrf.hand_out(cookies, &mut response, 3600);
    response
}

fn page(deps: &Deps, status: StatusCode, title: &str, body: &str) -> Response<Body> {
    if status.is_success() {
        page::render(status, &deps.csp, title, None, body)
    } else {
        page::render(status, &deps.csp, "Sign-out error", Some(title), body)
    }
}
