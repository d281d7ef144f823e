use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Email, PersonName, Role, Username};

/// An argon2id PHC string. Opaque to everything but `stratus_auth::password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub role: Role,
    pub password_hash: PasswordHash,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_login: Option<OffsetDateTime>,
    /// Every refresh token carries the generation it was issued under; a new generation (a
    /// password change) ends every session at once. Random, so an account created again under a
    /// deleted one's name never continues its sessions. Accounts stored before it have the nil one.
    #[serde(default)]
    pub session_generation: Uuid,
    /// Set by an admin: a disabled user cannot log in, refresh or act as an admin.
    #[serde(default)]
    pub disabled: bool,
    /// Whether the user typed back a code mailed to `email` (or reset their password by one).
    #[serde(default)]
    pub email_verified: bool,
    /// The user's authenticator app, once they began to set one up (`stratus_auth::totp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpEnrollment>,
}

/// A TOTP authenticator (RFC 6238) of a user: pending until a first code confirms it, then asked
/// for at every login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrollment {
    /// The shared secret, sealed with AES-256-GCM under the stack's data key, bound to the user's
    /// id (`stratus_auth::sealing`). Never stored, logged or answered in the clear after enrolment.
    pub sealed_secret: String,
    pub confirmed: bool,
    /// The last time step a code was accepted for: a code is good once, and never before it.
    pub last_step: i64,
    /// SHA-256 (hex) of each unused recovery code; one is removed when it is spent.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .field("recovery_codes_left", &self.recovery_codes.len())
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether a login needs a TOTP code after the password.
    pub fn mfa_enabled(&self) -> bool {
        self.totp.as_ref().is_some_and(|totp| totp.confirmed)
    }

    /// Whether a session issued under `generation` may go on.
    pub fn continues(&self, generation: Uuid) -> bool {
        !self.disabled && generation == self.session_generation
    }

    /// An admin who may act as one now.
    pub fn is_active_admin(&self) -> bool {
        self.role == super::Role::Admin && !self.disabled
    }
}

/// A user's profile.
// Has no field for the password hash, so no answer can leak one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Profile {
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = super::schema::Timestamp)]
    pub created_at: OffsetDateTime,
    /// When the user last logged in; null until the first login.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<super::schema::Timestamp>)]
    pub last_login: Option<OffsetDateTime>,
    /// Whether an admin has disabled the account (it cannot log in).
    pub disabled: bool,
    /// Whether the user has shown they receive mail at `email`.
    pub email_verified: bool,
    /// Whether a login asks for a code from the user's authenticator app.
    pub mfa_enabled: bool,
}

impl From<&User> for Profile {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            role: user.role,
            created_at: user.created_at,
            last_login: user.last_login,
            disabled: user.disabled,
            email_verified: user.email_verified,
            mfa_enabled: user.mfa_enabled(),
        }
    }
}
