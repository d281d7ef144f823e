//! The authorization endpoint (OAuth 2.1 §4.1.1, OpenID Connect Core §3.1.2) and the hosted
//! login page's steps behind it: the request checked, then the browser's session, the password,
//! the second factor and the user's consent, each step answering what comes next.
//!
//! An unknown client or a redirect URI it did not register is shown an error page and never
//! redirected to (§4.1.2.1): that would make the provider an open redirector. Every other
//! problem goes back to the client's redirect URI with `error`, `state` and `iss`.

use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CODE_TTL, ErrorCode, OAuthError, pkce_shaped, random_token, token_hash};
use crate::AuthConfig;
use crate::login::{LoginError, PasswordCheck, PasswordChecked};
use crate::mfa::{self, Checker, MfaError};
use crate::sealing::{SealError, SecretBox};
use stratus_core::domain::{GrantType, OAuthClient, RedirectUri, Scopes, User};
use stratus_core::ports::{
    AuthorizationStore, BrowserSession, ClientStore, CodeGrant, RateLimiter, StoreError, UserStore,
};

/// How long a browser stays signed in at the hosted page.
pub const BROWSER_SESSION_TTL: time::Duration = time::Duration::hours(12);
/// How long the password step waits for the second factor.
pub const SECOND_FACTOR_TTL: time::Duration = time::Duration::minutes(5);

/// An authorization request's parameters as sent: in the query of `GET /authorize`, and carried
/// through the hosted page's forms as hidden fields.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizationParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

impl AuthorizationParams {
    /// The parameters that were sent, to carry through a form.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, value)))
        .collect()
    }
}

/// Why a request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No redirect URI can be trusted: show the person an error page saying this.
    Page(String),
    /// A dependency failed before the request could be checked (so no redirect URI can be
    /// trusted either): a page asking to try again shortly, as a 503, never the person's fault.
    Unavailable(String),
    /// Back to the client: the `Location` with `error`, `error_description`, `state`, `iss`.
    Redirect(String),
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A request that may go on: its client, where its answer goes and what it asks for.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub client: OAuthClient,
    pub redirect_uri: RedirectUri,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub params: AuthorizationParams,
}

impl ValidRequest {
    /// Where an error goes: the client's redirect URI with the error (RFC 9207's `iss` too).
    pub fn error_location(&self, issuer: &str, error: &OAuthError) -> String {
        error_location(&self.redirect_uri, self.state.as_deref(), issuer, error)
    }
}

fn error_location(
    redirect_uri: &RedirectUri,
    state: Option<&str>,
    issuer: &str,
    error: &OAuthError,
) -> String {
    let mut params = vec![("error", error.code.as_str()), ("error_description", error.description.as_str())];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect_uri.with_query(&params)
}

/// Checks a request: first its client and redirect URI (failures are a page), then the rest
/// (failures go back to the client).
pub async fn validate(
    clients: &dyn ClientStore,
    params: AuthorizationParams,
    issuer: &str,
) -> Result<ValidRequest, Rejection> {
    let client_id = params.client_id.as_deref().unwrap_or_default();
    let client = match stratus_core::domain::ClientId::parse(client_id) {
        Ok(id) => clients.get(&id).await.map_err(|error| {
            tracing::error!(%error, "reading a client failed");
            let message = "The sign-in service is unavailable. Try again shortly.".to_owned();
            match error {
                StoreError::Unavailable(_) => Rejection::Unavailable(message),
                StoreError::Internal(_) => Rejection::Page(message),
            }
        })?,
        Err(_) => None,
    };
    let Some(client) = client else {
        return Err(Rejection::Page(
            "The application that sent you here is not known (no such client_id).".into(),
        ));
    };
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(text) => client.redirect_uris.iter().find(|uri| uri.as_str() == text).cloned(),
        // Optional only when a single one is registered (RFC 6749 §3.1.2.3).
        None if client.redirect_uris.len() == 1 => client.redirect_uris.first().cloned(),
        None => None,
    };
    let Some(redirect_uri) = redirect_uri else {
        return Err(Rejection::Page(
            "The application sent you with a redirect_uri it did not register: for your safety you are not sent on.".into(),
        ));
    };
    let state = params.state.clone();
    let reject = |error: OAuthError| {
        Rejection::Redirect(error_location(&redirect_uri, state.as_deref(), issuer, &error))
    };
    let invalid = |description: &str| reject(OAuthError::invalid_request(description));
    if params.request.is_some() || params.request_uri.is_some() {
        return Err(reject(OAuthError::new(ErrorCode::InvalidRequest, "request objects are not supported")));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(invalid("response_type is required: code")),
        Some(_) => {
            return Err(reject(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(reject(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client did not register the authorization_code grant",
        )));
    }
    let Some(code_challenge) = params.code_challenge.clone() else {
        return Err(invalid("PKCE is required: send code_challenge with code_challenge_method=S256"));
    };
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(invalid("code_challenge_method must be S256 (plain is not accepted)"));
    }
    if code_challenge.len() != 43 || !pkce_shaped(&code_challenge) {
        return Err(invalid("code_challenge must be the 43-character base64url SHA-256 of the verifier"));
    }
    let requested = match params.scope.as_deref() {
        Some(text) => Scopes::parse(text)
            .map_err(|e| reject(OAuthError::new(ErrorCode::InvalidScope, e.to_string())))?,
        None => client.scope.clone(),
    };
    if requested.is_empty() || !requested.is_subset(&client.scope) {
        return Err(reject(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("the client may ask for: {}", client.scope),
        )));
    }
    let mut prompt = Prompt::default();
    for value in params.prompt.as_deref().unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            _ => return Err(invalid("prompt is none, login, consent or select_account")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(invalid("prompt=none goes with no other value"));
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(text) => {
            Some(text.parse::<u32>().map_err(|_| invalid("max_age is a number of seconds"))?.into())
        }
    };
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512)
        || state.as_deref().is_some_and(|s| s.len() > 2048)
    {
        return Err(invalid("nonce is at most 512 characters and state 2048"));
    }
    Ok(ValidRequest {
        client,
        redirect_uri,
        scope: requested,
        state,
        nonce: params.nonce.clone(),
        code_challenge,
        prompt,
        max_age,
        params,
    })
}

/// What the page shows next, or where the browser goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The login form, with why the last try failed.
    SignIn(Option<PageError>),
    /// The second factor's form.
    SecondFactor(Option<PageError>),
    /// The consent form, for the request's scopes.
    Consent,
    /// Back to the client (a code, or an error).
    Redirect(String),
}

/// What the page tells the person, with the status it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub status: u16,
    pub message: String,
    /// Seconds, for a 429.
    pub retry_after: Option<i64>,
}

impl PageError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    fn limited(retry_after: time::Duration) -> Self {
        let seconds = retry_after.whole_seconds().max(1);
        Self {
            status: 429,
            message: format!("Too many attempts. Try again in {seconds} seconds."),
            retry_after: Some(seconds),
        }
    }
}

/// A browser session the page must set in its cookie: the cookie's value and the session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub cookie: String,
    pub session: BrowserSession,
}

/// The hosted page's steps. Built per request from the function's ports.
pub struct Authorization<'a> {
    pub users: &'a dyn UserStore,
    pub authorizations: &'a dyn AuthorizationStore,
    pub rate_limiter: &'a dyn RateLimiter,
    pub secrets: &'a SecretBox,
    /// The limits, and whether a verified email is required: the page signs nothing.
    pub config: &'a AuthConfig,
    /// The OpenID Provider's issuer identifier.
    pub issuer_id: &'a str,
}

impl Authorization<'_> {
    /// Where a request stands with the browser's current session (from its cookie, if any).
    pub async fn resume(
        &self,
        request: &ValidRequest,
        session: Option<&BrowserSession>,
        now: OffsetDateTime,
    ) -> Result<Next, OAuthError> {
        let signed_in = match session {
            Some(session) if !session.awaiting_second_factor => self.current_user(session).await?,
            _ => None,
        };
        let fresh_enough = |session: &BrowserSession| {
            request.max_age.is_none_or(|max_age| (now - session.auth_time).whole_seconds() <= max_age)
        };
        match (session, signed_in) {
            (Some(session), Some(user)) if !request.prompt.login && fresh_enough(session) => {
                self.proceed(request, session, &user, now).await
            }
            _ if request.prompt.none => Ok(Next::Redirect(request.error_location(
                self.issuer_id,
                &OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
            ))),
            (Some(session), _) if session.awaiting_second_factor && !request.prompt.login => {
                Ok(Next::SecondFactor(None))
            }
            _ => Ok(Next::SignIn(None)),
        }
    }

    /// The login form was posted: the password checked under `POST /login`'s limits. A right
    /// one begins a session, which waits for the second factor when the account has one.
    pub async fn sign_in(
        &self,
        request: &ValidRequest,
        username: &str,
        password: String,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<(Option<NewSession>, Next), OAuthError> {
        let check = PasswordCheck { users: self.users, rate_limiter: self.rate_limiter, config: self.config };
        let PasswordChecked { user, rehashed } = match check.check(username, password, source, now).await {
            Ok(checked) => checked,
            Err(LoginError::InvalidCredentials) => {
                return Ok((None, Next::SignIn(Some(PageError::new(401, "Invalid username or password.")))));
            }
            Err(LoginError::Disabled) => {
                return Ok((None, Next::SignIn(Some(PageError::new(403, "This account is disabled.")))));
            }
            Err(LoginError::Limited { retry_after }) => {
                return Ok((None, Next::SignIn(Some(PageError::limited(retry_after)))));
            }
            Err(LoginError::Store(error)) => return Err(error.into()),
            Err(LoginError::Sign(error)) => return Err(error.into()),
            Err(LoginError::Internal(cause)) => {
                tracing::error!(%cause, "password check failed");
                return Err(OAuthError::new(ErrorCode::ServerError, "an internal error"));
            }
        };
        if self.config.require_verified_email && !user.email_verified {
            let message = "Verify your email address first (with the code you were mailed), then sign in.";
            return Ok((None, Next::SignIn(Some(PageError::new(403, message)))));
        }
        if user.mfa_enabled() {
            let pending = self.begin_session(&user, vec!["pwd".into()], true, now).await?;
            return Ok((Some(pending), Next::SecondFactor(None)));
        }
        self.users.record_login(&user.username, now, rehashed.as_ref()).await?;
        let new = self.begin_session(&user, vec!["pwd".into()], false, now).await?;
        let next = self.proceed(request, &new.session, &user, now).await?;
        Ok((Some(new), next))
    }

    /// The second factor's form was posted with `code` (TOTP or a recovery code). A right code
    /// completes the session under a new id: the one the password step set is ended.
    pub async fn second_factor(
        &self,
        request: &ValidRequest,
        pending: Option<&BrowserSession>,
        code: &str,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<(Option<NewSession>, Next), OAuthError> {
        let Some(pending) = pending.filter(|session| session.awaiting_second_factor) else {
            return Ok((
                None,
                Next::SignIn(Some(PageError::new(401, "Your sign-in expired. Sign in again."))),
            ));
        };
        let Some(user) = self.current_user(pending).await?.filter(User::mfa_enabled) else {
            return Ok((
                None,
                Next::SignIn(Some(PageError::new(401, "Your sign-in expired. Sign in again."))),
            ));
        };
        let code = match mfa::parse_code(code, "code") {
            Ok(code) => code,
            Err(_) => {
                let message = "Enter the 6-digit code from your authenticator app, or a recovery code.";
                return Ok((None, Next::SecondFactor(Some(PageError::new(400, message)))));
            }
        };
        let checker = Checker {
            users: self.users,
            secrets: self.secrets,
            limiter: self.rate_limiter,
            config: self.config,
            purpose: mfa::Purpose::Login,
            source,
        };
        match checker.check(&user, &code, "code", now).await {
            Ok(()) => {}
            Err(MfaError::Wrong { .. } | MfaError::Malformed { .. }) => {
                let message = "That code is wrong, expired or already used.";
                return Ok((None, Next::SecondFactor(Some(PageError::new(400, message)))));
            }
            Err(MfaError::Limited { retry_after }) => {
                return Ok((None, Next::SecondFactor(Some(PageError::limited(retry_after)))));
            }
            Err(MfaError::Store(error)) => return Err(error.into()),
            // The TOTP data key out of reach (KMS): a dependency's fault, not ours.
            Err(MfaError::Seal(SealError::Key(error))) => return Err(error.into()),
            Err(error) => {
                tracing::error!(%error, "second factor check failed");
                return Err(OAuthError::new(ErrorCode::ServerError, "an internal error"));
            }
        }
        self.authorizations.end_session(&pending.id_hash).await?;
        self.users.record_login(&user.username, now, None).await?;
        let new = self.begin_session(&user, vec!["pwd".into(), "otp".into()], false, now).await?;
        let next = self.proceed(request, &new.session, &user, now).await?;
        Ok((Some(new), next))
    }

    /// The consent form was answered.
    pub async fn decide(
        &self,
        request: &ValidRequest,
        session: Option<&BrowserSession>,
        allow: bool,
        now: OffsetDateTime,
    ) -> Result<Next, OAuthError> {
        let user = match session.filter(|s| !s.awaiting_second_factor) {
            Some(session) => self.current_user(session).await?.map(|user| (session, user)),
            None => None,
        };
        let Some((session, user)) = user else { return Ok(Next::SignIn(None)) };
        if !allow {
            let denied = OAuthError::new(ErrorCode::AccessDenied, "the user declined");
            return Ok(Next::Redirect(request.error_location(self.issuer_id, &denied)));
        }
        self.authorizations.record_consent(user.id, &request.client.id, &request.scope).await?;
        Ok(Next::Redirect(self.issue_code(request, session, &user, now).await?))
    }

    /// A signed-in user: consent if the client needs it, then the code.
    async fn proceed(
        &self,
        request: &ValidRequest,
        session: &BrowserSession,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<Next, OAuthError> {
        if !request.client.first_party {
            let consented = self.authorizations.consent(user.id, &request.client.id).await?;
            let covered = consented.is_some_and(|scope| request.scope.is_subset(&scope));
            if !covered || request.prompt.consent {
                if request.prompt.none {
                    let error = OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented");
                    return Ok(Next::Redirect(request.error_location(self.issuer_id, &error)));
                }
                return Ok(Next::Consent);
            }
        }
        Ok(Next::Redirect(self.issue_code(request, session, user, now).await?))
    }

    async fn issue_code(
        &self,
        request: &ValidRequest,
        session: &BrowserSession,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<String, OAuthError> {
        let code = random_token();
        self.authorizations
            .issue_code(&CodeGrant {
                code_hash: token_hash(&code),
                client_id: request.client.id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                nonce: request.nonce.clone(),
                user_id: user.id,
                username: user.username.clone(),
                generation: user.session_generation,
                scope: request.scope.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                family: Uuid::new_v4(),
                expires_at: now + CODE_TTL,
            })
            .await?;
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = request.state.as_deref() {
            params.push(("state", state));
        }
        params.push(("iss", self.issuer_id));
        Ok(request.redirect_uri.with_query(&params))
    }

    async fn begin_session(
        &self,
        user: &User,
        amr: Vec<String>,
        awaiting_second_factor: bool,
        now: OffsetDateTime,
    ) -> Result<NewSession, OAuthError> {
        let cookie = random_token();
        let ttl = if awaiting_second_factor { SECOND_FACTOR_TTL } else { BROWSER_SESSION_TTL };
        let session = BrowserSession {
            id_hash: token_hash(&cookie),
            user_id: user.id,
            username: user.username.clone(),
            generation: user.session_generation,
            auth_time: now,
            amr,
            awaiting_second_factor,
            expires_at: now + ttl,
        };
        self.authorizations.put_session(&session).await?;
        Ok(NewSession { cookie, session })
    }

    /// The session's account, if it still stands as it did at sign-in: same account, same
    /// session generation (a password change signs every browser out), not disabled.
    async fn current_user(&self, session: &BrowserSession) -> Result<Option<User>, OAuthError> {
        let user = self.users.get(&session.username).await?;
        Ok(user.filter(|user| {
            user.id == session.user_id && user.session_generation == session.generation && !user.disabled
        }))
    }
}
