//! The mailer on AWS: Amazon SES v2.

use async_trait::async_trait;
use stratus_core::ports::{Mail, MailError, Mailer};

/// Sends through SES v2 from one verified identity, the only one the role may send from.
pub struct SesMailer {
    sdk: aws_config::SdkConfig,
    /// Built on the first mail: forgot-password answers most requests (unknown addresses,
    /// limits) without mailing, and resend-verification some, so init does not pay for it.
    client: std::sync::OnceLock<aws_sdk_sesv2::Client>,
    sender: String,
}

impl SesMailer {
    pub fn new(sdk: aws_config::SdkConfig, sender: impl Into<String>) -> Self {
        Self { sdk, client: std::sync::OnceLock::new(), sender: sender.into() }
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
        use aws_sdk_sesv2::operation::send_email::SendEmailError;
        use aws_sdk_sesv2::types::{Body, Destination, EmailContent, Message};
        let message = Message::builder()
            .subject(content(&mail.subject))
            .body(Body::builder().text(content(&mail.text)).build())
            .build();
        let sent = self
            .client()
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(mail.to.to_string()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        let Err(error) = sent else { return Ok(()) };
        let retryable = match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
            SdkError::ServiceError(service) => {
                matches!(
                    service.err(),
                    SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_)
                ) || service.raw().status().is_server_error()
            }
            _ => false,
        };
        let text = crate::error_text(&error);
        Err(if retryable { MailError::Unavailable(text) } else { MailError::Refused(text) })
    }
}
