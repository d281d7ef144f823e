//! The first admin. Public registration can never create one, so an operator creates one directly
//! in the store: `stratus-admin create-admin` against DynamoDB, or local-api's `STRATUS_ADMIN_*`
//! variables. Bootstrap only ever creates: registration is open from the moment of deploy, so
//! an account that already bears the admin's name may be anyone's. Promoting an existing account
//! is a separate, explicit step that also needs the account's email, and proof that the account
//! is the operator's: a verified email (its owner read mail at the operator's address) or the
//! account's password. The email alone proves nothing: anyone may register with any address.

use time::OffsetDateTime;

use super::{Password, password};
use stratus_core::domain::{Email, PersonName, Role, User, Username};
use stratus_core::ports::{AccessChange, AccessChanged, CreateUserError, StoreError, UserStore};

pub struct AdminSeed {
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub password: Password,
}

impl AdminSeed {
    pub fn parse(username: &str, email: &str, password: String) -> Result<Self, String> {
        let mut errors = Vec::new();
        let seed = (
            check(&mut errors, "username", Username::parse(username)),
            check(&mut errors, "email", Email::parse(email)),
            check(&mut errors, "password", Password::parse(password, &[username, email])),
        );
        match seed {
            (Some(username), Some(email), Some(password)) => Ok(Self {
                username,
                email,
                first_name: PersonName::parse("Admin").expect("constant is valid"),
                last_name: PersonName::parse("Stratus").expect("constant is valid"),
                password,
            }),
            _ => Err(format!("{errors:?}")),
        }
    }
}

/// One invalid field of a seed, printed as the API would name it.
#[derive(Debug)]
#[allow(dead_code)] // Read through Debug only.
struct FieldError {
    field: &'static str,
    message: String,
}

fn check<T, E: std::fmt::Display>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    result: Result<T, E>,
) -> Option<T> {
    result.map_err(|error| errors.push(FieldError { field, message: error.to_string() })).ok()
}

/// What bootstrap did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrapped {
    Created,
    /// The account was an admin already, with this email: nothing changed (its password included).
    AlreadyAdmin,
    /// The existing account, asked for by name and email, is now an admin.
    Promoted {
        email: Email,
        created_at: OffsetDateTime,
    },
}

impl std::fmt::Display for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Created => f.write_str("created a new admin account"),
            Self::AlreadyAdmin => {
                f.write_str("the account is an admin already; nothing changed, its password included")
            }
            Self::Promoted { email, created_at } => {
                write!(f, "promoted the existing account ({email}, registered {created_at}) to admin")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "an account named {0} already exists and is not an admin; bootstrap never promotes an \
         account it did not create. If that account is yours, promote it explicitly \
         (--promote-existing) with its email and its password on standard input"
    )]
    Exists(Username),
    #[error(
        "the account named {0} has your email, but the email is not verified and the password given \
         is not the account's; nothing was changed. Anyone can register any address, so this \
         account may not be yours. If it is: give its own password on standard input, or verify its \
         email first (log in, POST /users/me/email/verify with the mailed code) and run this again. \
         If it is not: disable or delete it, or bootstrap an admin with another name"
    )]
    Unproven(Username),
    #[error("the account named {0} has another email; nothing was changed")]
    EmailMismatch(Username),
    #[error("no account is named {0}")]
    NoSuchUser(Username),
    #[error("another account already uses {0}")]
    EmailTaken(Email),
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the admin, or finds it already there; never touches an account that is not an admin.
pub async fn create_admin(
    users: &dyn UserStore,
    seed: AdminSeed,
    now: OffsetDateTime,
) -> Result<Bootstrapped, BootstrapError> {
    if let Some(existing) = users.get(&seed.username).await? {
        return already_there(existing, &seed.email);
    }
    let user = User {
        id: uuid::Uuid::new_v4(),
        username: seed.username,
        email: seed.email,
        first_name: seed.first_name,
        last_name: seed.last_name,
        role: Role::Admin,
        password_hash: password::hash(&seed.password).map_err(BootstrapError::Hash)?,
        created_at: now,
        last_login: None,
        session_generation: uuid::Uuid::new_v4(),
        disabled: false,
        email_verified: false,
        totp: None,
    };
    match users.create(&user).await {
        Ok(()) => Ok(Bootstrapped::Created),
        Err(CreateUserError::EmailTaken) => Err(BootstrapError::EmailTaken(user.email)),
        // Registered by someone else between the two calls.
        Err(CreateUserError::UsernameTaken) => match users.get(&user.username).await? {
            Some(existing) => already_there(existing, &user.email),
            None => Err(BootstrapError::Exists(user.username)),
        },
        Err(CreateUserError::Store(error)) => Err(error.into()),
    }
}

fn already_there(existing: User, email: &Email) -> Result<Bootstrapped, BootstrapError> {
    match (existing.role, existing.email.key() == email.key()) {
        (Role::Admin, true) => Ok(Bootstrapped::AlreadyAdmin),
        (Role::Admin, false) => Err(BootstrapError::EmailMismatch(existing.username)),
        (Role::User, _) => Err(BootstrapError::Exists(existing.username)),
    }
}

/// Makes an existing account an admin, if its stored email is `email` and the account is
/// shown to be the operator's: its email is verified, or `password` is its password. Whoever
/// registered the admin's name with the operator's address first (unverified, with a password
/// of their own) is refused.
pub async fn promote_existing(
    users: &dyn UserStore,
    username: &Username,
    email: &Email,
    password: &str,
) -> Result<Bootstrapped, BootstrapError> {
    let Some(existing) = users.get(username).await? else {
        return Err(BootstrapError::NoSuchUser(username.clone()));
    };
    if existing.email.key() != email.key() {
        return Err(BootstrapError::EmailMismatch(existing.username));
    }
    if existing.role == Role::Admin {
        return Ok(Bootstrapped::AlreadyAdmin);
    }
    let proven = existing.email_verified
        || matches!(
            password::verify(password, Some(&existing.password_hash)),
            password::Verified::Yes { .. }
        );
    if !proven {
        return Err(BootstrapError::Unproven(existing.username));
    }
    // With the count of active admins, in one write (an enabled account becomes an active admin).
    let promotion = AccessChange { role: Some(Role::Admin), disabled: None };
    match users.change_access(&existing, promotion, uuid::Uuid::new_v4()).await? {
        AccessChanged::Changed(_) => {}
        AccessChanged::NoSuchUser => return Err(BootstrapError::NoSuchUser(username.clone())),
        AccessChanged::LastActiveAdmin => {
            return Err(StoreError::Internal("a promotion was refused as leaving no admin".into()).into());
        }
    }
    Ok(Bootstrapped::Promoted { email: existing.email, created_at: existing.created_at })
}
