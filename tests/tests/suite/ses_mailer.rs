//! The SES v2 mailer against moto: mail from a verified identity is accepted, mail from any
//! other sender is rejected as SES rejects it (MessageRejected: undeliverable, not retried, and
//! no error for the client). The client is built on the first mail, not at init, through the
//! process's one HTTPS client. Then what the functions answer for each kind of mail failure.

use std::sync::{Arc, Mutex};

use stratus_tests::{Api, Backend, wiring};

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
    let sender = stack.verified_sender().await;

    SesMailer::new(stack.sdk().clone(), sender)
        .send(&mail())
        .await
        .expect("mail from the identity is accepted");

    let stranger = format!("stranger-{}@example.com", uuid::Uuid::new_v4().simple());
    let refused = SesMailer::new(stack.sdk().clone(), stranger).send(&mail()).await;
    assert!(matches!(refused, Err(MailError::Undeliverable(_))), "{refused:?}");
}

/// A mailer that fails as told.
struct Failing(Mutex<Option<MailError>>);

#[async_trait::async_trait]
impl Mailer for Failing {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        match self.0.lock().unwrap().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// In SES's sandbox an unverified recipient is MessageRejected: resend-verification answered 500
/// and fired the 5xx alarm for the recipient's address. Undeliverable is logged and answered
/// 202, as a sent mail; a throttled service is 503 with Retry-After; only a fault of ours is 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_failures_answer_by_whose_they_are() {
    let mut wiring = wiring(Backend::Memory).await;
    let mailer = Arc::new(Failing(Mutex::new(None)));
    wiring.mailer = mailer.clone();
    let api = Api::start_with(wiring).await;
    let token = api.user_token("sandboxed").await;
    let resend = || api.send(api.http.post(api.url("/users/me/email/verify/resend")).bearer_auth(&token));
    let fail_with = |error: MailError| *mailer.0.lock().unwrap() = Some(error);

    fail_with(MailError::Undeliverable("MessageRejected: Email address is not verified".into()));
    assert_eq!(resend().await.status, 202);
    fail_with(MailError::Unavailable("TooManyRequestsException".into()));
    let throttled = resend().await;
    throttled.problem(503);
    assert!(throttled.headers.contains_key("retry-after"), "{:?}", throttled.headers);
    fail_with(MailError::Refused("AccessDenied".into()));
    resend().await.problem(500);
    assert_eq!(resend().await.status, 202);
}
