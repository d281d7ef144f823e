//! The first admin. Public registration can never create one, so an operator creates or
//! promotes one directly in the store: `stratus-admin` against DynamoDB, or local-api's
//! `STRATUS_ADMIN_*` variables on the embedded backend.

use time::OffsetDateTime;

use super::{Password, password};
use crate::domain::{Email, PersonName, Role, User, Username};
use crate::ports::{CreateUserError, UserStore};
use crate::problem::FieldErrors;

pub struct AdminSeed {
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub password: Password,
}

impl AdminSeed {
    pub fn parse(username: &str, email: &str, password: String) -> Result<Self, String> {
        let mut errors = FieldErrors::default();
        let seed = (
            errors.check("username", Username::parse(username)),
            errors.check("email", Email::parse(email)),
            errors.check("password", Password::parse(password, &[username, email])),
        );
        match seed {
            (Some(username), Some(email), Some(password)) => Ok(Self {
                username,
                email,
                first_name: PersonName::parse("Admin").expect("constant is valid"),
                last_name: PersonName::parse("Stratus").expect("constant is valid"),
                password,
            }),
            _ => Err(format!("{:?}", errors.into_problem("invalid admin").errors())),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrapped {
    Created,
    /// The user existed: now an admin, password unchanged.
    Promoted,
}

pub async fn create_or_promote(
    users: &dyn UserStore,
    seed: AdminSeed,
    now: OffsetDateTime,
) -> Result<Bootstrapped, String> {
    if users.set_role(&seed.username, Role::Admin).await.map_err(|e| e.to_string())? {
        return Ok(Bootstrapped::Promoted);
    }
    let user = User {
        id: uuid::Uuid::new_v4(),
        username: seed.username,
        email: seed.email,
        first_name: seed.first_name,
        last_name: seed.last_name,
        role: Role::Admin,
        password_hash: password::hash(&seed.password)?,
        created_at: now,
        last_login: None,
    };
    match users.create(&user).await {
        Ok(()) => Ok(Bootstrapped::Created),
        Err(CreateUserError::EmailTaken) => Err(format!("another account already uses {}", user.email)),
        // Created by someone else between the two calls: promote that one.
        Err(CreateUserError::UsernameTaken) => users
            .set_role(&user.username, Role::Admin)
            .await
            .map(|_| Bootstrapped::Promoted)
            .map_err(|e| e.to_string()),
        Err(CreateUserError::Store(error)) => Err(error.to_string()),
    }
}
