//! The local mailers (SES is `stratus_aws::ses`): an outbox file a developer (or a test)
//! reads, or the log with the secret masked.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use stratus_core::ports::{Mail, MailError, Mailer};

/// Names the file local runs append each mail to.
pub const MAIL_OUTBOX: &str = "STRATUS_MAIL_OUTBOX";

/// Appends each mail as one JSON line `{"to","subject","text"}`: how a developer reads the mails
/// of a local run (`STRATUS_MAIL_OUTBOX`).
pub struct OutboxMailer {
    path: PathBuf,
    /// Lines from concurrent requests must not interleave.
    lock: Mutex<()>,
}

impl OutboxMailer {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let mut line =
            serde_json::json!({"to": mail.to, "subject": mail.subject, "text": mail.text}).to_string();
        line.push('\n');
        let _guard = self.lock.lock().expect("no panic while holding the lock");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(|error| MailError::Unavailable(format!("outbox {}: {error}", self.path.display())))
    }
}

/// With no outbox configured: the mail goes to the log, its secret masked, so a local run shows
/// that a mail went out without a log ever holding a code.
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let text = mask(&mail.text, &mail.secret);
        tracing::info!(to = %mail.to, subject = %mail.subject, text = %text,
            "mail not sent: set STRATUS_MAIL_OUTBOX to read mails in full");
        Ok(())
    }
}

fn mask(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, &"*".repeat(secret.chars().count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_every_occurrence_of_the_secret() {
        assert_eq!(mask("code 12345678, again 12345678.", "12345678"), "code ********, again ********.");
        assert_eq!(mask("nothing secret", ""), "nothing secret");
    }
}
