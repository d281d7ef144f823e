use time::Duration;

use super::{ConfigError, optional, parsed_or, rate_limit as limit, seconds};
use crate::ports::RateLimit;

/// Token and rate-limit settings, from the environment, with the defaults written in `Default`
/// below (README.md's Configuration table lists each variable with its default).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a session (a login and all its refreshes) may last at most.
    pub session_max_lifetime: Duration,
    /// Failed logins per source address, and per username from one source address.
    pub login_limit: RateLimit,
    /// Failed logins per username from all addresses together: guessing from many addresses
    /// stays slow, while a stranger at one address cannot reach it alone.
    pub login_user_limit: RateLimit,
    pub register_limit: RateLimit,
    /// Password resets asked for or tried per source address.
    pub recovery_limit: RateLimit,
    /// Password-reset mails per address: nobody can flood an inbox. Anyone can fill it, so
    /// verification mails have a bucket of their own, and a reset mail keeps earlier codes live.
    pub mail_limit: RateLimit,
    /// Verification mails per address, asked for by the signed-in owner.
    pub verification_mail_limit: RateLimit,
    /// Wrong TOTP or recovery codes per account from one source address, for each use (the
    /// login's second step, turning TOTP on, turning it off): six digits leave a guesser one
    /// chance in 333,333 per try (three steps are live).
    pub mfa_limit: RateLimit,
    /// Wrong codes per account from every address together, for each use: a much higher
    /// ceiling, which a stranger at one address cannot reach alone, while guessing from many
    /// addresses stays slow.
    pub mfa_user_limit: RateLimit,
    /// Password checks per account that hash for a signed-in caller (changing the password,
    /// deleting the account, turning TOTP off), right or wrong: argon2 is costly, and one
    /// access token must not keep a server hashing.
    pub password_work_limit: RateLimit,
    /// The name authenticator apps show beside a user's codes.
    pub totp_issuer: String,
    /// Whether an account must have verified its email to log in.
    pub require_verified_email: bool,
    /// Forgot-password answers no sooner than this after the request arrived, whether or not a
    /// mail went out: its time tells nobody whether the address has an account.
    pub forgot_password_floor: std::time::Duration,
    /// Whether `POST /register` tells a stranger that an email has an account.
    pub registration: RegistrationPrivacy,
    /// The OpenID Provider's issuer identifier: the API's public URL (`PUBLIC_BASE_URL`), with
    /// no trailing slash. OAuth's tokens name it as `iss`; the API's own login keeps `issuer`,
    /// and verifiers accept both. Unset, the OAuth endpoints answer that they are not set up.
    pub oidc_issuer: Option<String>,
}

/// The variable holding the API's public URL (`https://api.example.com`).
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";

/// `PUBLIC_BASE_URL`, checked: an http(s) URL with a host and no query or fragment, without
/// its trailing slash. Empty counts as unset (the template's parameter defaults to empty).
pub fn public_base_url() -> Result<Option<String>, ConfigError> {
    let Some(value) = optional(PUBLIC_BASE_URL) else { return Ok(None) };
    let invalid = |reason: &str| ConfigError::Invalid {
        name: PUBLIC_BASE_URL,
        value: value.clone(),
        reason: reason.into(),
    };
    let url = url::Url::parse(&value).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(invalid("expected an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the issuer URL has no query or fragment (OpenID Connect Discovery §3)"));
    }
    Ok(Some(value.trim_end_matches('/').to_owned()))
}

/// What `POST /register` answers when the email already has an account (docs/api.md, Registering
/// privately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationPrivacy {
    /// 201 with the profile, or 409 naming the taken email: clear for clients, and it tells
    /// anyone which addresses have accounts. The default, so that existing clients keep working.
    Open,
    /// 202 and the same body either way, no sooner than `floor` after the request arrived: a new
    /// account when the email is free, a mail to the address's owner when it is not.
    Private { floor: std::time::Duration },
}

/// The registration floor when `PRIVATE_REGISTRATION` is on and `REGISTRATION_FLOOR_MS` is not
/// set: argon2 (~55 ms at 1024 MB), the user transaction, a code write and an SES call fit in it
/// with room to spare, and the handler warns when they do not.
const REGISTRATION_FLOOR_MS: u64 = 500;

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "stratus".into(),
            audience: "stratus-api".into(),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            session_max_lifetime: Duration::days(90),
            login_limit: RateLimit { max_hits: 5, window: Duration::minutes(1) },
            login_user_limit: RateLimit { max_hits: 100, window: Duration::minutes(1) },
            register_limit: RateLimit { max_hits: 10, window: Duration::minutes(1) },
            recovery_limit: RateLimit { max_hits: 10, window: Duration::minutes(1) },
            mail_limit: RateLimit { max_hits: 3, window: Duration::minutes(15) },
            verification_mail_limit: RateLimit { max_hits: 3, window: Duration::minutes(15) },
            mfa_limit: RateLimit { max_hits: 5, window: Duration::minutes(5) },
            mfa_user_limit: RateLimit { max_hits: 25, window: Duration::minutes(5) },
            password_work_limit: RateLimit { max_hits: 10, window: Duration::minutes(15) },
            totp_issuer: "Stratus".into(),
            require_verified_email: false,
            forgot_password_floor: std::time::Duration::from_millis(400),
            registration: RegistrationPrivacy::Open,
            oidc_issuer: None,
        }
    }
}

impl AuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            issuer: optional("TOKEN_ISSUER").unwrap_or(defaults.issuer),
            audience: optional("TOKEN_AUDIENCE").unwrap_or(defaults.audience),
            access_ttl: seconds("ACCESS_TOKEN_TTL_SECONDS", defaults.access_ttl)?,
            refresh_ttl: seconds("REFRESH_TOKEN_TTL_SECONDS", defaults.refresh_ttl)?,
            session_max_lifetime: seconds("SESSION_MAX_LIFETIME_SECONDS", defaults.session_max_lifetime)?,
            login_limit: limit("LOGIN_RATE_LIMIT", "LOGIN_RATE_WINDOW_SECONDS", defaults.login_limit)?,
            login_user_limit: limit(
                "LOGIN_USER_RATE_LIMIT",
                "LOGIN_RATE_WINDOW_SECONDS",
                defaults.login_user_limit,
            )?,
            register_limit: limit(
                "REGISTER_RATE_LIMIT",
                "REGISTER_RATE_WINDOW_SECONDS",
                defaults.register_limit,
            )?,
            recovery_limit: limit(
                "RECOVERY_RATE_LIMIT",
                "RECOVERY_RATE_WINDOW_SECONDS",
                defaults.recovery_limit,
            )?,
            mail_limit: limit("MAIL_RATE_LIMIT", "MAIL_RATE_WINDOW_SECONDS", defaults.mail_limit)?,
            verification_mail_limit: limit(
                "VERIFICATION_MAIL_RATE_LIMIT",
                "VERIFICATION_MAIL_RATE_WINDOW_SECONDS",
                defaults.verification_mail_limit,
            )?,
            mfa_limit: limit("MFA_RATE_LIMIT", "MFA_RATE_WINDOW_SECONDS", defaults.mfa_limit)?,
            mfa_user_limit: limit("MFA_USER_RATE_LIMIT", "MFA_RATE_WINDOW_SECONDS", defaults.mfa_user_limit)?,
            password_work_limit: limit(
                "PASSWORD_WORK_RATE_LIMIT",
                "PASSWORD_WORK_RATE_WINDOW_SECONDS",
                defaults.password_work_limit,
            )?,
            totp_issuer: optional("TOTP_ISSUER").unwrap_or(defaults.totp_issuer),
            require_verified_email: parsed_or("REQUIRE_VERIFIED_EMAIL", defaults.require_verified_email)?,
            forgot_password_floor: std::time::Duration::from_millis(parsed_or(
                "FORGOT_PASSWORD_FLOOR_MS",
                defaults.forgot_password_floor.as_millis() as u64,
            )?),
            registration: if parsed_or("PRIVATE_REGISTRATION", false)? {
                let floor = parsed_or("REGISTRATION_FLOOR_MS", REGISTRATION_FLOOR_MS)?;
                RegistrationPrivacy::Private { floor: std::time::Duration::from_millis(floor) }
            } else {
                RegistrationPrivacy::Open
            },
            oidc_issuer: public_base_url()?,
        })
    }
}
