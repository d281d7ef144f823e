//! Private registration (`PRIVATE_REGISTRATION`): when someone registers with an address that
//! already has an account, no account is created and nobody is told but the address's owner,
//! by mail. The registrant gets the same answer as for a free address.

use stratus_core::domain::{Email, User};
use stratus_core::ports::{Mail, MailError, Mailer, StoreError, UserStore};

/// Why the owner could not be told. Never shown to the registrant: that would tell them the
/// address has an account.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Mails the owner of `email` that someone tried to register with it. Nobody to tell (the
/// account went away in between) and a disabled account (a reset would not help its owner, as
/// with forgot-password) are not errors: there is simply no mail.
pub async fn tell_owner(
    users: &dyn UserStore,
    mailer: &dyn Mailer,
    email: &Email,
) -> Result<(), NoticeError> {
    let Some(owner) = users.find_by_email(email).await?.filter(|owner| !owner.disabled) else {
        return Ok(());
    };
    mailer.send(&notice(&owner)).await?;
    tracing::info!(username = %owner.username, "registration attempt notice mailed");
    Ok(())
}

/// The notice. It repeats nothing anyone chose (the registrant's username or names could put
/// words in our mail, and so could the owner's, when whoever registered the address was not its
/// owner), and it carries no code.
fn notice(owner: &User) -> Mail {
    let text = "Someone tried to register a new account with this address. It already belongs to an account here, so no account was created and nothing about the existing one changed.\n\nIf it was you: you already have an account; log in, or if you forgot the password, ask for a password reset with this address (POST /password/forgot) and a code will be mailed here.\n\nIf it was not you, ignore this mail.\n".to_owned();
    Mail {
        to: owner.email.clone(),
        subject: "Someone tried to register with your address".to_owned(),
        text,
        // Nothing in it is secret.
        secret: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_core::domain::{PasswordHash, PersonName, Role, Username};

    #[test]
    fn the_notice_suggests_a_reset_and_repeats_no_chosen_name() {
        let owner = User {
            id: uuid::Uuid::new_v4(),
            username: Username::parse("ada").unwrap(),
            email: Email::parse("Ada@example.com").unwrap(),
            first_name: PersonName::parse("Ada").unwrap(),
            last_name: PersonName::parse("Lovelace").unwrap(),
            role: Role::User,
            password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            last_login: None,
            session_generation: uuid::Uuid::new_v4(),
            disabled: false,
            email_verified: true,
            totp: None,
        };
        let mail = notice(&owner);
        assert_eq!(mail.to, owner.email);
        assert!(mail.text.contains("password reset"), "{}", mail.text);
        for chosen in ["ada", "Ada", "Lovelace"] {
            assert!(!mail.text.contains(chosen), "{chosen}: {}", mail.text);
        }
        assert!(!mail.text.contains("argon2"));
    }
}
