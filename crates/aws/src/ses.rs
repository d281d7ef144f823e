//! The mailer on AWS: Amazon SES v2.

use async_trait::async_trait;
use stratus_core::ports::{Mail, MailError, Mailer};

/// Sends through SES v2 from one verified identity, the only one the role may send from, with
/// the stack's configuration set (bounces and complaints suppressed and counted).
pub struct SesMailer {
    sdk: aws_config::SdkConfig,
    /// Built on the first mail: forgot-password answers most requests (unknown addresses,
    /// limits) without mailing, and resend-verification some, so init does not pay for it.
    client: std::sync::OnceLock<aws_sdk_sesv2::Client>,
    sender: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(sdk: aws_config::SdkConfig, sender: impl Into<String>) -> Self {
        Self { sdk, client: std::sync::OnceLock::new(), sender: sender.into(), configuration_set: None }
    }

    /// Every mail names this configuration set (the role's grant must cover it too).
    pub fn with_configuration_set(mut self, name: impl Into<String>) -> Self {
        self.configuration_set = Some(name.into());
        self
    }

    fn client(&self) -> &aws_sdk_sesv2::Client {
        self.client.get_or_init(|| aws_sdk_sesv2::Client::new(&self.sdk))
    }
}

fn content(text: &str) -> aws_sdk_sesv2::types::Content {
    aws_sdk_sesv2::types::Content::builder().data(text).charset("UTF-8").build().expect("data is set")
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        use aws_sdk_sesv2::error::SdkError;
        use aws_sdk_sesv2::types::{Body, Destination, EmailContent, Message};
        let message = Message::builder()
            .subject(content(&mail.subject))
            .body(Body::builder().text(content(&mail.text)).build())
            .build();
        let sent = self
            .client()
            .send_email()
            .from_email_address(&self.sender)
            .set_configuration_set_name(self.configuration_set.clone())
            .destination(Destination::builder().to_addresses(mail.to.to_string()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        let Err(error) = sent else { return Ok(()) };
        let class = match &error {
            // Any 5xx, even one whose body could not be read, is SES's side.
            _ if crate::is_transient(&error) => Class::Unavailable,
            SdkError::ServiceError(service) => classify(service.err()),
            _ => Class::Refused,
        };
        let text = crate::error_text(&error);
        Err(match class {
            Class::Unavailable => MailError::Unavailable(text),
            Class::Undeliverable => MailError::Undeliverable(text),
            Class::Refused => MailError::Refused(text),
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Unavailable,
    Undeliverable,
    Refused,
}

/// SES v2's SendEmail errors, by what the caller should do about them.
fn classify(error: &aws_sdk_sesv2::operation::send_email::SendEmailError) -> Class {
    use aws_sdk_sesv2::operation::send_email::SendEmailError as E;
    match error {
        // The account's sending rate or quota, or sending paused: later, it goes.
        E::TooManyRequestsException(_) | E::LimitExceededException(_) | E::SendingPausedException(_) => {
            Class::Unavailable
        }
        // This message will never go, and it is nobody's fault to retry: in the sandbox an
        // unverified recipient, otherwise a rejected message or an unverified MAIL FROM domain.
        E::MessageRejected(_) | E::MailFromDomainNotVerifiedException(_) => Class::Undeliverable,
        // Ours: a grant, the configuration set, the request, a suspended account.
        _ => Class::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::operation::send_email::SendEmailError as E;
    use aws_sdk_sesv2::types::error as errors;

    #[test]
    fn ses_errors_are_classified_by_what_the_caller_can_do() {
        let cases = [
            (
                E::TooManyRequestsException(errors::TooManyRequestsException::builder().build()),
                Class::Unavailable,
            ),
            (
                E::LimitExceededException(errors::LimitExceededException::builder().build()),
                Class::Unavailable,
            ),
            (
                E::SendingPausedException(errors::SendingPausedException::builder().build()),
                Class::Unavailable,
            ),
            (E::MessageRejected(errors::MessageRejected::builder().build()), Class::Undeliverable),
            (
                E::MailFromDomainNotVerifiedException(
                    errors::MailFromDomainNotVerifiedException::builder().build(),
                ),
                Class::Undeliverable,
            ),
            (E::NotFoundException(errors::NotFoundException::builder().build()), Class::Refused),
            (E::BadRequestException(errors::BadRequestException::builder().build()), Class::Refused),
            (
                E::AccountSuspendedException(errors::AccountSuspendedException::builder().build()),
                Class::Refused,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(classify(&error), class, "{error:?}");
        }
    }
}
