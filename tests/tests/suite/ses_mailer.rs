//! The SES v2 mailer against moto: mail from a verified identity is accepted, mail from any
//! other sender is refused and not retried (forgot-password logs that and tells no one). The
//! client is built on the first mail, not at init, through the process's one HTTPS client.

use stratus_aws::ses::SesMailer;
use stratus_core::domain::Email;
use stratus_core::ports::{Mail, MailError, Mailer};
use stratus_tests::runtime_api::LocalStack;

fn mail() -> Mail {
    Mail {
        to: Email::parse("reader@example.com").expect("a valid address"),
        subject: "Your Stratus code".into(),
        text: "Your code is 1234 5678.".into(),
        secret: "12345678".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_sender_is_accepted_and_any_other_refused() {
    let stack = LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    let sender = format!("sender-{}@example.com", uuid::Uuid::new_v4().simple());
    aws_sdk_sesv2::Client::new(stack.sdk())
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("moto verifies the identity at once");

    SesMailer::new(stack.sdk().clone(), sender)
        .send(&mail())
        .await
        .expect("mail from the identity is accepted");

    let stranger = format!("stranger-{}@example.com", uuid::Uuid::new_v4().simple());
    let refused = SesMailer::new(stack.sdk().clone(), stranger).send(&mail()).await;
    assert!(matches!(refused, Err(MailError::Refused(_))), "{refused:?}");
}
