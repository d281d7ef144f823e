//! The faults the suite puts between the release binaries and their dependencies
//! (`tests/tests/suite/faults.rs` runs every one), and RELIABILITY.md, rendered from them.
//!
//! The table is static: what is tried is this list, whatever the machine, so the document
//! cannot drift from one run to another. Whether each case holds is the suite's assertion, not
//! the document's: a case that fails fails `make test`. A test checks that the committed
//! RELIABILITY.md is the one this list renders (`cargo run -p stratus-tests --bin stratus-reliability`
//! rewrites it).

use std::collections::BTreeMap;

use crate::faults::Fault;

/// What the SDK's standard retry mode allows: the first attempt and two retries.
pub const SDK_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    DynamoDb,
    Sqs,
    Kms,
    SecretsManager,
    Ses,
}

impl Dependency {
    pub const ALL: [Dependency; 5] = [Self::DynamoDb, Self::Sqs, Self::Kms, Self::SecretsManager, Self::Ses];

    pub fn name(self) -> &'static str {
        match self {
            Self::DynamoDb => "DynamoDB",
            Self::Sqs => "SQS",
            Self::Kms => "KMS",
            Self::SecretsManager => "Secrets Manager",
            Self::Ses => "SES v2",
        }
    }

    /// The variable that points a function's SDK client at it.
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Self::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            Self::Sqs => "AWS_ENDPOINT_URL_SQS",
            Self::Kms => "AWS_ENDPOINT_URL_KMS",
            Self::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Self::Ses => "AWS_ENDPOINT_URL_SESV2",
        }
    }
}

/// What the client must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The documented success, after the SDK's retries: the operation was tried exactly once
    /// more per scripted fault.
    Success,
    /// 503 with `Retry-After`: the fault outlasted the SDK's attempts (exactly [`SDK_ATTEMPTS`]
    /// of them were made), or the dependency did not answer within the function's time. An
    /// honest retry afterwards succeeds, or meets what the first attempt did (409, 200).
    Unavailable,
    /// The hosted sign-in pages' answer when they cannot go on once the request is trusted: the
    /// browser is sent back to the client with `error=temporarily_unavailable` (RFC 6749
    /// §4.1.2.1), after exactly [`SDK_ATTEMPTS`] attempts.
    Redirected,
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The function's binary.
    pub function: &'static str,
    pub dependency: Dependency,
    /// What the fault meets, as function.toml and template.yaml name it: a table, the queue, a
    /// KMS key, the origin secret ([`ORIGIN_SECRET`]) or the mail service ([`MAIL`]). Only the
    /// calls that name it meet the fault.
    pub resource: &'static str,
    /// The dependency's operation the fault meets, as AWS names it.
    pub operation: &'static str,
    pub fault: Fault,
    /// How many calls in a row meet it.
    pub times: usize,
    pub expect: Expect,
}

/// The timeout the suite gives the one request of a [`SLOW`] case that expects a 503 (the worker:
/// every invocation), instead of the template's: shorter than the SDK's attempt timeout
/// (`stratus_aws::ATTEMPT_TIMEOUT`) and its retry, so the function's deadline answers first, and
/// long enough for what the request does before that call (an argon2 hash on a loaded machine)
/// within its budget, the timeout less `stratus_http::http::DEADLINE_MARGIN`.
pub const SLOW_TIMEOUT_MS: u64 = 600;
/// A call slower than the SDK's attempt timeout and than [`SLOW_TIMEOUT_MS`]: the SDK gives the
/// attempt up and tries again, unless the function's deadline comes first.
pub const SLOW: Fault = Fault::Latency(SLOW_TIMEOUT_MS + 100);

/// The secret every HTTP function reads to tell CloudFront's requests from others.
pub const ORIGIN_SECRET: &str = "OriginVerifySecret";
/// SES: one service, whatever identity or configuration set a grant names.
pub const MAIL: &str = "Mail";
/// The key that signs tokens: the live slot's under the template's defaults (blue, a KMS key).
pub const SIGNING_KEY: &str = "SigningKey";

#[allow(clippy::too_many_arguments)]
const fn case(
    function: &'static str,
    dependency: Dependency,
    resource: &'static str,
    operation: &'static str,
    fault: Fault,
    times: usize,
    expect: Expect,
) -> Case {
    Case { function, dependency, resource, operation, fault, times, expect }
}

use Dependency::{DynamoDb, Kms, SecretsManager, Ses, Sqs};
use Expect::{Redirected, Success, Unavailable};
use Fault::{InternalError, ResetAfterApplied, ResetBeforeForwarding, Throttle, ThroughputExceeded};

/// Two faults in a row are within the SDK's budget; one more than the budget is past it.
const PAST: usize = SDK_ATTEMPTS + 1;

const USERS: &str = "UsersTable";
const RATE_LIMITS: &str = "RateLimitsTable";
const REFRESH_TOKENS: &str = "RefreshTokensTable";
const CODES: &str = "OneTimeCodesTable";
const MESSAGES: &str = "MessagesTable";
const TASKS: &str = "TasksTable";
const CLIENTS: &str = "OAuthClientsTable";
const AUTHORIZATIONS: &str = "AuthorizationsTable";
const QUEUE: &str = "TasksQueue";
const TOTP_KEY: &str = "TotpKey";
const ID_TOKEN_KEY: &str = "IdTokenKey";

/// The origin secret read again (its refresh interval past), throttled past the SDK's budget:
/// the function keeps the values it has and answers.
const fn origin(function: &'static str) -> Case {
    case(function, SecretsManager, ORIGIN_SECRET, "GetSecretValue", Throttle, PAST, Success)
}

/// A guard's read of an OAuth access token's grant (only OAuth tokens name one), throttled past
/// the budget: the caller cannot be told apart from a revoked one, so 503, never a 401.
const fn grant_read(function: &'static str) -> Case {
    case(function, DynamoDb, REFRESH_TOKENS, "GetItem", Throttle, PAST, Unavailable)
}

/// Every fault the suite injects into the HTTP functions' requests, in the order it runs them.
/// The order matters where a sandbox keeps what it read once: the TOTP data key is unwrapped
/// (KMS) at a sandbox's first use of it, so each function's case on `TotpKey` comes before
/// anything else of that function's that would unwrap it.
pub const HTTP_CASES: &[Case] = &[
    // register: the rate limit's counter, the account's transaction, the verification code.
    case("register", DynamoDb, USERS, "TransactWriteItems", ThroughputExceeded, 2, Success),
    case("register", DynamoDb, USERS, "TransactWriteItems", Throttle, PAST, Unavailable),
    case("register", DynamoDb, USERS, "TransactWriteItems", InternalError, 2, Success),
    case("register", DynamoDb, USERS, "TransactWriteItems", Fault::Unavailable, PAST, Unavailable),
    case("register", DynamoDb, USERS, "TransactWriteItems", ResetAfterApplied, 1, Success),
    case("register", DynamoDb, USERS, "TransactWriteItems", ResetBeforeForwarding, 2, Success),
    case("register", DynamoDb, USERS, "TransactWriteItems", SLOW, 1, Unavailable),
    case("register", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, PAST, Unavailable),
    case("register", DynamoDb, RATE_LIMITS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("register", DynamoDb, CODES, "PutItem", Throttle, 2, Success),
    case("register", DynamoDb, CODES, "PutItem", ResetAfterApplied, 1, Success),
    case("register", Ses, MAIL, "SendEmail", Throttle, 2, Success),
    case("register", Ses, MAIL, "SendEmail", Fault::Unavailable, PAST, Success),
    grant_read("register"),
    origin("register"),
    // login: the account, last_login, the new refresh token, the signature.
    case("login", DynamoDb, USERS, "GetItem", ThroughputExceeded, PAST, Unavailable),
    case("login", DynamoDb, USERS, "UpdateItem", Throttle, 2, Success),
    case("login", DynamoDb, REFRESH_TOKENS, "PutItem", ResetAfterApplied, 1, Success),
    case("login", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, 2, Success),
    case("login", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("login", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, PAST, Unavailable),
    case("login", Kms, SIGNING_KEY, "Sign", Throttle, 2, Success),
    case("login", Kms, SIGNING_KEY, "Sign", Throttle, PAST, Unavailable),
    case("login", Kms, SIGNING_KEY, "Sign", InternalError, PAST, Unavailable),
    case("login", Kms, SIGNING_KEY, "Sign", ResetAfterApplied, 1, Success),
    case("login", Kms, SIGNING_KEY, "Sign", SLOW, 1, Unavailable),
    origin("login"),
    // refresh-token: the old token, spending it, the new one, the account, the signature.
    case("refresh-token", DynamoDb, REFRESH_TOKENS, "GetItem", Throttle, 2, Success),
    case("refresh-token", DynamoDb, REFRESH_TOKENS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("refresh-token", DynamoDb, REFRESH_TOKENS, "UpdateItem", Throttle, PAST, Unavailable),
    case("refresh-token", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, PAST, Unavailable),
    case("refresh-token", DynamoDb, REFRESH_TOKENS, "PutItem", ResetAfterApplied, 1, Success),
    case("refresh-token", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("refresh-token", DynamoDb, USERS, "GetItem", InternalError, PAST, Unavailable),
    case("refresh-token", Kms, SIGNING_KEY, "Sign", Fault::Unavailable, PAST, Unavailable),
    case("refresh-token", Kms, SIGNING_KEY, "Sign", Throttle, 2, Success),
    origin("refresh-token"),
    // me: the account.
    case("me", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("me", DynamoDb, USERS, "GetItem", InternalError, PAST, Unavailable),
    case("me", DynamoDb, USERS, "GetItem", SLOW, 1, Unavailable),
    grant_read("me"),
    origin("me"),
    // get-user, list-users, update-user: an account read by its owner; admins' reads and writes.
    case("get-user", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("get-user", DynamoDb, USERS, "GetItem", Fault::Unavailable, PAST, Unavailable),
    grant_read("get-user"),
    origin("get-user"),
    case("list-users", DynamoDb, USERS, "Scan", Throttle, 2, Success),
    case("list-users", DynamoDb, USERS, "Scan", InternalError, PAST, Unavailable),
    grant_read("list-users"),
    origin("list-users"),
    case("update-user", DynamoDb, USERS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("update-user", DynamoDb, USERS, "UpdateItem", Throttle, PAST, Unavailable),
    case("update-user", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    grant_read("update-user"),
    origin("update-user"),
    // create-message and get-message.
    case("create-message", DynamoDb, MESSAGES, "PutItem", ThroughputExceeded, 2, Success),
    case("create-message", DynamoDb, MESSAGES, "PutItem", Throttle, PAST, Unavailable),
    case("create-message", DynamoDb, MESSAGES, "PutItem", ResetAfterApplied, 1, Success),
    case("create-message", DynamoDb, MESSAGES, "PutItem", SLOW, 1, Unavailable),
    case("create-message", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("create-message", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, PAST, Unavailable),
    origin("create-message"),
    case("get-message", DynamoDb, MESSAGES, "GetItem", Fault::Unavailable, 2, Success),
    case("get-message", DynamoDb, MESSAGES, "GetItem", Throttle, PAST, Unavailable),
    origin("get-message"),
    // add: the caller, the rate limit, the task, then the queue.
    case("add", DynamoDb, TASKS, "PutItem", ResetAfterApplied, 1, Success),
    case("add", DynamoDb, TASKS, "PutItem", Throttle, PAST, Unavailable),
    case("add", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("add", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("add", Sqs, QUEUE, "SendMessage", Throttle, 2, Success),
    case("add", Sqs, QUEUE, "SendMessage", InternalError, PAST, Unavailable),
    case("add", Sqs, QUEUE, "SendMessage", ResetAfterApplied, 1, Success),
    case("add", Sqs, QUEUE, "SendMessage", ResetBeforeForwarding, PAST, Unavailable),
    case("add", Sqs, QUEUE, "SendMessage", SLOW, 1, Unavailable),
    grant_read("add"),
    origin("add"),
    // result: the caller and the task.
    case("result", DynamoDb, TASKS, "GetItem", ThroughputExceeded, 2, Success),
    case("result", DynamoDb, TASKS, "GetItem", Throttle, PAST, Unavailable),
    case("result", DynamoDb, USERS, "GetItem", Throttle, PAST, Unavailable),
    grant_read("result"),
    origin("result"),
    // forgot-password: the mail, which the client never waits on (202 whatever happens).
    case("forgot-password", Ses, MAIL, "SendEmail", Throttle, 2, Success),
    case("forgot-password", Ses, MAIL, "SendEmail", Fault::Unavailable, PAST, Success),
    case("forgot-password", Ses, MAIL, "SendEmail", ResetAfterApplied, 1, Success),
    case("forgot-password", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("forgot-password", DynamoDb, CODES, "PutItem", Throttle, 2, Success),
    case("forgot-password", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    origin("forgot-password"),
    // reset-password: the code, spent; the new password; every session ended.
    case("reset-password", DynamoDb, CODES, "UpdateItem", Throttle, 2, Success),
    case("reset-password", DynamoDb, CODES, "UpdateItem", Throttle, PAST, Unavailable),
    case("reset-password", DynamoDb, USERS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("reset-password", DynamoDb, USERS, "UpdateItem", Throttle, 2, Success),
    case("reset-password", DynamoDb, USERS, "UpdateItem", Throttle, PAST, Unavailable),
    case("reset-password", DynamoDb, USERS, "GetItem", Throttle, PAST, Unavailable),
    case("reset-password", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    origin("reset-password"),
    // verify-email and resend-verification: the mailed code.
    case("verify-email", DynamoDb, CODES, "UpdateItem", Throttle, 2, Success),
    case("verify-email", DynamoDb, CODES, "UpdateItem", Throttle, PAST, Unavailable),
    case("verify-email", DynamoDb, USERS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("verify-email", DynamoDb, USERS, "UpdateItem", Throttle, 2, Success),
    case("verify-email", DynamoDb, USERS, "UpdateItem", Throttle, PAST, Unavailable),
    grant_read("verify-email"),
    origin("verify-email"),
    case("resend-verification", DynamoDb, CODES, "PutItem", Throttle, 2, Success),
    case("resend-verification", DynamoDb, USERS, "GetItem", Throttle, PAST, Unavailable),
    case("resend-verification", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("resend-verification", Ses, MAIL, "SendEmail", Throttle, 2, Success),
    case("resend-verification", Ses, MAIL, "SendEmail", Fault::Unavailable, PAST, Unavailable),
    grant_read("resend-verification"),
    origin("resend-verification"),
    // change-password and delete-account: the password checked again, then the write.
    case("change-password", DynamoDb, USERS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("change-password", DynamoDb, USERS, "UpdateItem", Throttle, PAST, Unavailable),
    case("change-password", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    grant_read("change-password"),
    origin("change-password"),
    case("delete-account", DynamoDb, USERS, "TransactWriteItems", ResetAfterApplied, 1, Success),
    case("delete-account", DynamoDb, USERS, "TransactWriteItems", Throttle, PAST, Unavailable),
    case("delete-account", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    grant_read("delete-account"),
    origin("delete-account"),
    // logout: the refresh token spent.
    case("logout", DynamoDb, REFRESH_TOKENS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("logout", DynamoDb, REFRESH_TOKENS, "UpdateItem", Throttle, PAST, Unavailable),
    case("logout", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    origin("logout"),
    // totp-mfa: the data key made (KMS, then kept in the users table) and the pending secret
    // (begin); the second factor on, a new session and its signature, a notice by mail (confirm).
    case("totp-mfa", Kms, TOTP_KEY, "GenerateDataKey", Throttle, PAST, Unavailable),
    // (The TOTP data key's own write, reset after it was applied, is not here: a stack makes that
    // key once, and the case above already made it, so no later request writes it.)
    case("totp-mfa", DynamoDb, USERS, "UpdateItem", Throttle, 2, Success),
    case("totp-mfa", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("totp-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", ResetAfterApplied, 1, Success),
    case("totp-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, 2, Success),
    case("totp-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, PAST, Unavailable),
    case("totp-mfa", Kms, SIGNING_KEY, "Sign", Throttle, 2, Success),
    case("totp-mfa", Kms, SIGNING_KEY, "Sign", Throttle, PAST, Unavailable),
    case("totp-mfa", Ses, MAIL, "SendEmail", Throttle, 2, Success),
    origin("totp-mfa"),
    // login-mfa: the data key unwrapped once per sandbox, the code checked, a session signed.
    case("login-mfa", Kms, TOTP_KEY, "Decrypt", Throttle, PAST, Unavailable),
    case("login-mfa", DynamoDb, USERS, "UpdateItem", Throttle, 2, Success),
    case("login-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", ResetAfterApplied, 1, Success),
    case("login-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, 2, Success),
    case("login-mfa", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, PAST, Unavailable),
    case("login-mfa", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    case("login-mfa", Kms, SIGNING_KEY, "Sign", Throttle, 2, Success),
    case("login-mfa", Kms, SIGNING_KEY, "Sign", Throttle, PAST, Unavailable),
    origin("login-mfa"),
    // oauth-clients: an admin registers a client.
    case("oauth-clients", DynamoDb, CLIENTS, "PutItem", Throttle, 2, Success),
    case("oauth-clients", DynamoDb, CLIENTS, "PutItem", ResetAfterApplied, 1, Success),
    case("oauth-clients", DynamoDb, CLIENTS, "PutItem", Throttle, PAST, Unavailable),
    case("oauth-clients", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    grant_read("oauth-clients"),
    origin("oauth-clients"),
    // authorize: the hosted sign-in (the client, the account, the rate limit, the browser
    // session), and the second factor's page (the TOTP data key, unwrapped once per sandbox).
    case("authorize", Kms, TOTP_KEY, "Decrypt", Throttle, PAST, Redirected),
    case("authorize", DynamoDb, CLIENTS, "GetItem", Throttle, 2, Success),
    case("authorize", DynamoDb, CLIENTS, "GetItem", Throttle, PAST, Unavailable),
    case("authorize", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("authorize", DynamoDb, AUTHORIZATIONS, "PutItem", Throttle, 2, Success),
    case("authorize", DynamoDb, AUTHORIZATIONS, "PutItem", ResetAfterApplied, 1, Success),
    case("authorize", DynamoDb, RATE_LIMITS, "UpdateItem", Throttle, 2, Success),
    origin("authorize"),
    // oauth-token: the client, the code spent, the account, the grant's refresh token, the
    // access token (the signing key) and the ID token (RS256, its own key).
    case("oauth-token", DynamoDb, AUTHORIZATIONS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("oauth-token", DynamoDb, AUTHORIZATIONS, "UpdateItem", Throttle, PAST, Unavailable),
    case("oauth-token", DynamoDb, CLIENTS, "GetItem", Throttle, PAST, Unavailable),
    case("oauth-token", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    case("oauth-token", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, 2, Success),
    case("oauth-token", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, PAST, Unavailable),
    case("oauth-token", Kms, SIGNING_KEY, "Sign", Throttle, 2, Success),
    case("oauth-token", Kms, ID_TOKEN_KEY, "Sign", Throttle, PAST, Unavailable),
    origin("oauth-token"),
    // userinfo, introspection and revocation.
    case("userinfo", DynamoDb, USERS, "GetItem", Throttle, PAST, Unavailable),
    case("userinfo", DynamoDb, REFRESH_TOKENS, "GetItem", Throttle, 2, Success),
    origin("userinfo"),
    case("oauth-introspect", DynamoDb, CLIENTS, "GetItem", Throttle, PAST, Unavailable),
    case("oauth-introspect", DynamoDb, USERS, "GetItem", Throttle, PAST, Unavailable),
    case("oauth-introspect", DynamoDb, REFRESH_TOKENS, "GetItem", Throttle, 2, Success),
    origin("oauth-introspect"),
    case("oauth-revoke", DynamoDb, REFRESH_TOKENS, "PutItem", Throttle, 2, Success),
    case("oauth-revoke", DynamoDb, REFRESH_TOKENS, "PutItem", ResetAfterApplied, 1, Success),
    case("oauth-revoke", DynamoDb, CLIENTS, "GetItem", Throttle, PAST, Unavailable),
    case("oauth-revoke", DynamoDb, USERS, "GetItem", Throttle, 2, Success),
    origin("oauth-revoke"),
    // end-session: the client named by the ID token hint, the browser session ended.
    case("end-session", DynamoDb, AUTHORIZATIONS, "DeleteItem", Throttle, 2, Success),
    case("end-session", DynamoDb, AUTHORIZATIONS, "DeleteItem", ResetAfterApplied, 1, Success),
    case("end-session", DynamoDb, CLIENTS, "GetItem", Throttle, PAST, Unavailable),
    origin("end-session"),
    // What reads nothing but the origin secret.
    origin("health"),
    origin("jwks"),
    origin("docs"),
    origin("fallback"),
];

/// The worker's cases: some messages' completions fault, SQS redelivers them, and every task
/// ends done exactly once.
pub const WORKER_CASES: &[Case] = &[
    case("worker", DynamoDb, TASKS, "UpdateItem", Throttle, PAST, Success),
    case("worker", DynamoDb, TASKS, "UpdateItem", InternalError, PAST, Success),
    case("worker", DynamoDb, TASKS, "UpdateItem", ResetAfterApplied, 2, Success),
    case("worker", DynamoDb, TASKS, "GetItem", Fault::Unavailable, PAST, Success),
    // Slow on every attempt the SDK makes: the invocation outlives the worker's timeout, and the
    // whole batch comes back from SQS.
    case("worker", DynamoDb, TASKS, "UpdateItem", SLOW, SDK_ATTEMPTS, Success),
];

/// The functions that are not endpoints, run with their own events: the sweeper (a schedule)
/// queues stale tasks again, the signing-keys custom resource reads the keys' public halves.
/// Success: the sweep left no stale task behind for good (the next sweep takes what a fault
/// stopped), and the custom resource answered CloudFormation `SUCCESS`.
pub const EVENT_CASES: &[Case] = &[
    case("sweeper", DynamoDb, TASKS, "Query", Throttle, 2, Success),
    case("sweeper", DynamoDb, TASKS, "UpdateItem", Throttle, PAST, Success),
    case("sweeper", DynamoDb, TASKS, "UpdateItem", ResetAfterApplied, 1, Success),
    case("sweeper", Sqs, QUEUE, "SendMessage", Throttle, 2, Success),
    case("sweeper", Sqs, QUEUE, "SendMessage", InternalError, PAST, Success),
    case("signing-keys", Kms, SIGNING_KEY, "GetPublicKey", Throttle, 2, Success),
    case("signing-keys", Kms, SIGNING_KEY, "GetPublicKey", Fault::Unavailable, PAST, Success),
    case("signing-keys", Kms, ID_TOKEN_KEY, "GetPublicKey", Throttle, PAST, Success),
    case("sweeper", DynamoDb, TASKS, "Query", InternalError, PAST, Success),
    case("sweeper", DynamoDb, TASKS, "Query", SLOW, 1, Success),
    case("sweeper", Sqs, QUEUE, "SendMessage", SLOW, 1, Success),
    case("sweeper", Sqs, QUEUE, "SendMessage", ResetAfterApplied, 1, Success),
    case("signing-keys", Kms, SIGNING_KEY, "GetPublicKey", SLOW, 1, Success),
    case("signing-keys", Kms, SIGNING_KEY, "GetPublicKey", ResetAfterApplied, 1, Success),
    case("signing-keys", Kms, ID_TOKEN_KEY, "GetPublicKey", InternalError, PAST, Success),
    case("signing-keys", Kms, ID_TOKEN_KEY, "GetPublicKey", SLOW, 1, Success),
    case("signing-keys", Kms, ID_TOKEN_KEY, "GetPublicKey", ResetAfterApplied, 1, Success),
];

/// Cases the suite ran and the code does not yet answer as it should, with what happens
/// instead: listed on RELIABILITY.md and left out of the run until fixed (each fails today).
pub const FOUND_NOT_FIXED: &[(Case, &str)] = &[];

/// A fault the per-function table cannot script as "the next N calls of X get Y", run by
/// `tests/tests/suite/fault_scenarios.rs` (the signing-key switch by `admin_operations.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    /// What is injected, and where.
    pub injected: &'static str,
    /// What the suite asserts.
    pub holds: &'static str,
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "a one-time code spent, its answer lost",
        injected: "reset-password's and verify-email's spend of the mailed code (the codes table's UpdateItem \
                   that ends it) reset after DynamoDB applied it; the SDK sends it again",
        holds: "the retry meets its own spend (its token), and the password is reset or the address \
                verified: 204, where the caller was once told the code was wrong, with the code gone",
    },
    Scenario {
        name: "every change a request makes, its answer lost",
        injected: "for each function, the writes its request makes (as the proxies see them in a run \
                   without faults) that no case above loses the answer of, one at a time, reset after \
                   they were applied",
        holds: "the same as a reset-after-applied case: the function's success, nothing done twice",
    },
    Scenario {
        name: "a 5xx the adapters do not know",
        injected: "DynamoDB `GetItem` (me) and KMS `Sign` (login) answer, past the SDK's budget, a 500 with \
                   an error code no adapter lists (`InternalFailure`), then a 502 with an HTML body and no code",
        holds: "503 with `Retry-After` after exactly the SDK's attempts (a dependency's 5xx is its fault, \
                whatever its code: the adapters read the HTTP status), then 200 on an honest retry",
    },
    Scenario {
        name: "Secrets Manager down at cold start",
        injected: "every `GetSecretValue` fails (503) past the SDK's budget while health and create-message \
                   start, then the fault clears",
        holds: "the sandboxes start (no init failure, so no API Gateway 500); requests presenting a value get \
                503 with `Retry-After`, one without gets 403, nothing is written or counted; the secret is \
                read again at most once a second, and once read, 200 and 201",
    },
    Scenario {
        name: "the rate limiter's count applied, its answer lost",
        injected: "the limiter's `UpdateItem` is reset after it was applied, for each of N requests under a \
                   limit of N (create-message); the SDK sends the count again",
        holds: "each request is counted once (the retry recognises its own token): all N get 201, the next 429",
    },
    Scenario {
        name: "SQS delivering a task late, and twice at once",
        injected: "a task's message held back past `STALE_TASK_SECONDS`, the sweeper queues it again, the \
                   second message is done first and the first delivered after the task completed; then a \
                   task's two messages in one batch",
        holds: "one completion applied per task (the proxy counts the writes), the late message acknowledged \
                without a write, the result unchanged, the done task not queued again",
    },
    Scenario {
        name: "a switch of signing-key kind, faulted mid-way",
        injected: "`stratus-admin rotate-signing-key --type sealed` with, at each of its CloudFormation calls in \
                   turn, expired credentials or (for a change) the answer lost after it was applied \
                   (`tests/tests/suite/admin_operations.rs`)",
        holds: "the run that meets it fails saying why, and once the stack has changed how to resume; the next \
                run resumes and completes (green sealed, signing alone); no moment refuses a token signed \
                before, during or after",
    },
];

/// The operations that change something, where a reset after the call was applied matters: the
/// SDK sends the call again, and the retry must meet its own first attempt as its own.
pub const CHANGES: &[&str] =
    &["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem", "SendMessage"];

/// For every (function, resource, operation) of [`HTTP_CASES`] that changes something and has no
/// reset-after-applied case of its own, one: its first call's answer lost after it was applied,
/// then success, with nothing done twice (what the function's checks assert for a success).
/// Then, for every (function, dependency, resource) still without one (the origin secret's aside,
/// which run apart), the same on the call of the pair's first case: a read, a signature or a
/// mail, which the SDK sends again (a mail so reset goes out twice: SES has no idempotency key).
pub fn derived_reset_cases() -> &'static [Case] {
    static DERIVED: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    DERIVED.get_or_init(derive_reset_cases)
}

fn derive_reset_cases() -> Vec<Case> {
    let mut derived: Vec<Case> = Vec::new();
    for case in HTTP_CASES.iter().filter(|c| CHANGES.contains(&c.operation)) {
        let reset = Case { fault: Fault::ResetAfterApplied, times: 1, expect: Expect::Success, ..*case };
        let same = |other: &&Case| {
            (other.function, other.resource, other.operation, other.fault)
                == (reset.function, reset.resource, reset.operation, reset.fault)
        };
        if !HTTP_CASES.iter().chain(&derived).any(|other| same(&other)) {
            derived.push(reset);
        }
    }
    for case in HTTP_CASES.iter().filter(|c| c.resource != ORIGIN_SECRET) {
        let pair = |other: &Case| {
            (other.function, other.dependency, other.resource)
                == (case.function, case.dependency, case.resource)
        };
        let covered = |other: &&Case| pair(other) && other.fault == Fault::ResetAfterApplied;
        if !HTTP_CASES.iter().chain(&derived).any(|other| covered(&other)) {
            derived.push(Case {
                fault: Fault::ResetAfterApplied,
                times: 1,
                expect: Expect::Success,
                ..*case
            });
        }
    }
    // The TOTP data key first, as in the table: the stack makes it once, at its first TOTP
    // set-up, and a sandbox unwraps it once, at its first use.
    derived.sort_by_key(|c| (c.resource != TOTP_KEY, c.operation != "GenerateDataKey"));
    derived
}

/// For every throttling case of [`HTTP_CASES`] (the origin secret's aside, which run apart) whose
/// call has no 5xx case of its own, its twin with the service's 500 instead, the same number of
/// times, expecting the same: the SDK retries a 5xx as it retries throttling, within the same
/// budget, and past it the adapters answer both as the dependency's fault (503), so a call that
/// rides out the one rides out the other, or is refused the same way.
pub fn derived_5xx_cases() -> &'static [Case] {
    static DERIVED: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    DERIVED.get_or_init(|| {
        let five_xx = |fault: Fault| matches!(fault, Fault::InternalError | Fault::Unavailable);
        let mut derived: Vec<Case> = Vec::new();
        for case in HTTP_CASES.iter().filter(|c| {
            matches!(c.fault, Fault::Throttle | Fault::ThroughputExceeded) && c.resource != ORIGIN_SECRET
        }) {
            let twin = Case { fault: Fault::InternalError, ..*case };
            let same = |other: &&Case| {
                (other.function, other.resource, other.operation)
                    == (twin.function, twin.resource, twin.operation)
                    && five_xx(other.fault)
            };
            if !HTTP_CASES.iter().chain(&derived).any(|other| same(&other)) {
                derived.push(twin);
            }
        }
        derived
    })
}

/// For every (function, dependency, resource) of [`HTTP_CASES`] (the origin secret's aside, which
/// run apart) with no latency case of its own, one: the call a case of the pair meets (a
/// throttling case's, else its first case's), once slower than the SDK's attempt timeout
/// ([`SLOW`]). The SDK gives that attempt up and sends the call again, and the function answers
/// as if nothing had happened; the late attempt lands afterwards, and nothing is done twice.
pub fn derived_latency_cases() -> &'static [Case] {
    static DERIVED: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    DERIVED.get_or_init(|| {
        let throttled = |c: &Case| matches!(c.fault, Fault::Throttle | Fault::ThroughputExceeded);
        let mut derived: Vec<Case> = Vec::new();
        for case in HTTP_CASES.iter().filter(|c| c.resource != ORIGIN_SECRET) {
            let pair = |other: &Case| {
                (other.function, other.dependency, other.resource)
                    == (case.function, case.dependency, case.resource)
            };
            let covered = |other: &&Case| pair(other) && matches!(other.fault, Fault::Latency(_));
            if HTTP_CASES.iter().chain(&derived).any(|other| covered(&other)) {
                continue;
            }
            let base = HTTP_CASES.iter().find(|c| pair(c) && throttled(c)).unwrap_or(case);
            derived.push(Case { fault: SLOW, times: 1, expect: Expect::Success, ..*base });
        }
        derived
    })
}

/// The origin secret's read again (its refresh interval past) meets each fault kind besides
/// throttling in turn, one kind per function: a 500 past the SDK's budget, a [`SLOW`] attempt, a
/// reset after the read was answered. Every function reads the secret through the same guard
/// (`stratus_http::guard`), which keeps the values it has and answers: one round of the secret's
/// refresh (one wait) covers every kind across the functions, where a kind for every function
/// would take a round each.
pub fn derived_origin_cases() -> &'static [Case] {
    static DERIVED: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    DERIVED.get_or_init(|| {
        let kinds = [(Fault::InternalError, PAST), (SLOW, 1), (Fault::ResetAfterApplied, 1)];
        HTTP_CASES
            .iter()
            .filter(|c| c.resource == ORIGIN_SECRET)
            .zip(kinds.iter().cycle())
            .map(|(case, &(fault, times))| Case { fault, times, ..*case })
            .collect()
    })
}

/// The four kinds of fault the matrix asks of every (function, dependency) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Throttling,
    ServerError,
    Latency,
    ResetAfterApplied,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] =
        [Self::Throttling, Self::ServerError, Self::Latency, Self::ResetAfterApplied];

    pub fn name(self) -> &'static str {
        match self {
            Self::Throttling => "throttling",
            Self::ServerError => "5xx",
            Self::Latency => "latency",
            Self::ResetAfterApplied => "reset after applied",
        }
    }

    /// The kind a fault is of, if one of the four.
    pub fn of(fault: Fault) -> Option<Self> {
        match fault {
            Fault::Throttle | Fault::ThroughputExceeded => Some(Self::Throttling),
            Fault::InternalError
            | Fault::Unavailable
            | Fault::UnknownServerError
            | Fault::GarbledServerError => Some(Self::ServerError),
            Fault::Latency(_) => Some(Self::Latency),
            Fault::ResetAfterApplied => Some(Self::ResetAfterApplied),
            _ => None,
        }
    }
}

/// The kinds of fault the cases inject into a (function, dependency, resource).
pub fn kinds_tried(function: &str, dependency: Dependency, resource: &str) -> Vec<FaultKind> {
    FaultKind::ALL
        .into_iter()
        .filter(|&kind| {
            cases().any(|c| {
                (c.function, c.dependency, c.resource) == (function, dependency, resource)
                    && FaultKind::of(c.fault) == Some(kind)
            })
        })
        .collect()
}

/// Every case: the HTTP functions', the worker's, the event functions'.
pub fn cases() -> impl Iterator<Item = &'static Case> {
    HTTP_CASES
        .iter()
        .chain(derived_reset_cases())
        .chain(derived_5xx_cases())
        .chain(derived_latency_cases())
        .chain(derived_origin_cases())
        .chain(WORKER_CASES)
        .chain(EVENT_CASES)
}

/// A function's dependency: the service and what of it the function calls.
pub type Pair = (String, Dependency, String);

/// Every (function, dependency, resource) a function calls, from its description
/// (`functions/*/function.toml`, read by the generator's own reader) and the template's
/// resources:
/// - each table and queue its grants name, and the grant read every guard makes (an OAuth
///   access token's grant, `Spec::implied_grants_read`), but not a queue it is fed from: Lambda's
///   poller receives and deletes, the function calls none of it;
/// - SES for a grant of `ses:` actions;
/// - the signing key for `tokens` that sign, and each KMS key a grant or a variable names (a key
///   the template's defaults leave out, the idle signing-key slot, is called by nothing);
/// - the origin secret for a function with routes.
///
/// A function that calls nothing (the docs' assets are in the binary) has no pair.
pub fn dependencies(root: &std::path::Path) -> Result<Vec<Pair>, String> {
    use stratus_gen::Tokens;
    let functions = stratus_gen::load_functions(root)?;
    let template = crate::template::Template::load(&root.join("template.yaml"))?;
    let defaults = crate::template::Resolver::new(template.clone(), "us-east-1");
    let kms_keys = |text: &str| -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        for (at, _) in text.match_indices("!GetAtt ") {
            let id: String =
                text[at + "!GetAtt ".len()..].chars().take_while(char::is_ascii_alphanumeric).collect();
            let Some(resource) = template.resource(&id) else { continue };
            if resource["Type"] != "AWS::KMS::Key" {
                continue;
            }
            if let Some(condition) = resource["Condition"].as_str()
                && !defaults.condition(condition)?
            {
                continue;
            }
            keys.push(id);
        }
        Ok(keys)
    };
    let mut pairs = std::collections::BTreeSet::new();
    for function in &functions {
        let spec = &function.spec;
        let mut add = |dependency: Dependency, resource: &str| {
            pairs.insert((function.name.clone(), dependency, resource.to_owned()));
        };
        let fed_from_queue = !spec.queues.is_empty();
        for grant in spec.grants.iter().chain(spec.implied_grants_read().as_ref()) {
            for action in &grant.actions {
                let (service, name) = action.split_once(':').unwrap_or_default();
                let resource = grant.resource.as_deref();
                match (service, resource) {
                    ("dynamodb", Some(table)) => add(DynamoDb, table),
                    ("sqs", Some(queue)) => {
                        let pollers = [
                            "ReceiveMessage",
                            "DeleteMessage",
                            "GetQueueAttributes",
                            "ChangeMessageVisibility",
                        ];
                        if !(fed_from_queue && pollers.contains(&name)) {
                            add(Sqs, queue)
                        }
                    }
                    ("ses", _) => add(Ses, MAIL),
                    ("kms", Some(key)) => add(Kms, key),
                    ("kms", None) => {
                        for key in kms_keys(grant.resource_arn.as_deref().unwrap_or_default())? {
                            add(Kms, &key);
                        }
                    }
                    ("secretsmanager", Some(secret)) => add(SecretsManager, secret),
                    _ => return Err(format!("{}: no dependency known for {action}", function.name)),
                }
            }
        }
        if matches!(spec.tokens, Some(Tokens::Sign | Tokens::VerifyAndSign)) {
            add(Kms, SIGNING_KEY);
        }
        for value in spec.environment.values() {
            for key in kms_keys(value)? {
                add(Kms, &key);
            }
        }
        if !spec.routes.is_empty() {
            add(SecretsManager, ORIGIN_SECRET);
        }
    }
    Ok(pairs.into_iter().collect())
}

/// The SDK's retry configuration every client of every function gets (`stratus_aws::sdk_config`).
fn retry_budget() -> String {
    let retry = stratus_aws::retry_config();
    format!(
        "{:?} mode, {} attempts in all (the first and {} retries), backoff from {} ms with full jitter, at most {} ms between attempts; an attempt not answered within {} ms is given up and tried again",
        retry.mode(),
        retry.max_attempts(),
        retry.max_attempts().saturating_sub(1),
        retry.initial_backoff().as_millis(),
        retry.max_backoff().as_millis(),
        stratus_aws::ATTEMPT_TIMEOUT.as_millis(),
    )
}

/// RELIABILITY.md.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str(
        "# Reliability\n\n\
         Generated from `tests/src/reliability.rs` by `cargo run -p stratus-tests --bin stratus-reliability`; \
         a test fails when this file is stale. Every case below is run by `make test` \
         (`tests/tests/suite/faults.rs`) against the release binaries under the Lambda Runtime API \
         emulator, with a fault-injecting proxy (`tests/src/faults.rs`) between them and DynamoDB \
         Local and moto: a case that does not hold fails the suite, so this page lists what holds.\n\n\
         What each case asserts: the client gets the documented answer, never a 500: success \
         after the SDK's retries (the proxy counts the attempts: one more per fault, never more \
         than the budget; one attempt slower than the attempt timeout is given up and sent again), or \
         503 with `Retry-After` (the hosted sign-in pages, once they trust \
         the request, send the browser back to the client with `error=temporarily_unavailable` \
         instead, as RFC 6749 asks); nothing accepted is lost or applied twice, and the honest \
         retry of a 503 succeeds (one account per registration, a stored message readable, an \
         accepted task ends `succeeded`, a refresh's family or an authorization code's grant not \
         revoked for an honest retry, a new password in force, a revoked grant revoked); the \
         worker applies every task of a partly failing batch exactly once across SQS's \
         redeliveries; the sweeper queues every stale task again and the signing-keys custom \
         resource answers CloudFormation `SUCCESS`, whatever fault met their first try. A fault \
         meets only the calls that name its resource (a table, the queue, a key, the secret).\n\n",
    );
    out.push_str("## Retry budget per SDK client\n\n| client | budget |\n|---|---|\n");
    for dependency in Dependency::ALL {
        out.push_str(&format!("| {} | {} |\n", dependency.name(), retry_budget()));
    }
    out.push_str(
        "\nBeyond the SDK's attempts the adapters retry only races they lost: a DynamoDB transaction \
         cancelled by a conflict (up to 6 times, `stratus_aws::dynamodb::transact`) and a \
         conditional write that met a concurrent one; none retries a fault the SDK gave up on. An \
         HTTP function that has not answered 250 ms before its deadline answers 503 with \
         `Retry-After` (`stratus_http::http::run`), so a dependency slower than the function's \
         timeout is never Lambda's timeout, which API Gateway would answer with a 500. A call \
         slower than the attempt timeout is sent again with the same request, so a write that \
         carries its call's token is applied once whichever attempt lands; the function's \
         deadline is the last resort, when it answers 503 while a write may still be on its way \
         (the residual risk, below). The worker \
         reports the messages that failed (`batchItemFailures`); a worker that times out fails \
         its whole batch, which SQS delivers again.\n\n",
    );
    out.push_str("## Faults tried, by function and dependency\n\n");
    let mut counts: BTreeMap<(&str, Dependency, &str), usize> = BTreeMap::new();
    for case in cases() {
        *counts.entry((case.function, case.dependency, case.resource)).or_default() += 1;
    }
    out.push_str(&format!(
        "Every function's dependencies are read from its `function.toml`; a test fails when one of \
         them has no case. {} functions, {} (function, dependency) pairs.\n\n",
        counts.keys().map(|(f, _, _)| *f).collect::<std::collections::BTreeSet<_>>().len(),
        counts.len()
    ));
    out.push_str(
        "Each of the four kinds the matrix asks for is run on every pair, except the origin \
         secret's read: its throttling on every function, and one other kind per function in \
         turn (`derived_origin_cases`), since every function reads it through the same guard.\n\n\
         | function | dependency | resource | throttling | 5xx | latency | reset after applied | faults tried |\n\
         |---|---|---|:-:|:-:|:-:|:-:|---:|\n",
    );
    for ((function, dependency, resource), count) in &counts {
        let tried = kinds_tried(function, *dependency, resource);
        let marks: Vec<&str> =
            FaultKind::ALL.iter().map(|k| if tried.contains(k) { "✓" } else { "–" }).collect();
        out.push_str(&format!(
            "| {function} | {} | {resource} | {} | {count} |\n",
            dependency.name(),
            marks.join(" | ")
        ));
    }
    out.push_str(&format!("| **all** | | | | | | | **{}** |\n\n", cases().count()));
    out.push_str("## Every case\n\n| function | dependency | resource | operation | fault | calls in a row | the client gets |\n|---|---|---|---|---|---:|---|\n");
    for case in cases() {
        let expect = match (case.expect, case.function) {
            (Expect::Success, "worker") => "every task done once, after redelivery",
            (Expect::Success, "sweeper") => "every stale task queued again and done once",
            (Expect::Success, "signing-keys") => "CloudFormation told `SUCCESS`, every key published",
            (Expect::Success, _) => "success",
            (Expect::Unavailable, _) => "503 + Retry-After",
            (Expect::Redirected, _) => "303 to the client, `error=temporarily_unavailable`",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {expect} |\n",
            case.function,
            case.dependency.name(),
            case.resource,
            case.operation,
            case.fault.name(),
            case.times
        ));
    }
    out.push_str(
        "\n## Scenarios\n\nFaults that are not one operation's next calls, each run by \
         `tests/tests/suite/fault_scenarios.rs` against the release binaries (the signing-key switch \
         by `admin_operations.rs` against `stratus-admin`; the two lost answers that name a code's \
         spend and every change a request makes by `faults.rs`).\n\n\
         | scenario | injected | what holds |\n|---|---|---|\n",
    );
    for scenario in SCENARIOS {
        out.push_str(&format!("| {} | {} | {} |\n", scenario.name, scenario.injected, scenario.holds));
    }
    out.push_str("\n## Found by the suite, not yet fixed\n\n");
    if FOUND_NOT_FIXED.is_empty() {
        out.push_str("Nothing: every case above is run, and answered as it says.\n");
    } else {
        out.push_str(
            "These cases failed when they were run; until the code is fixed they are listed here and \
             left out of the run.\n\n\
             | function | dependency | operation | fault | calls in a row | what happens |\n|---|---|---|---|---:|---|\n",
        );
    }
    for (case, happens) in FOUND_NOT_FIXED {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {happens} |\n",
            case.function,
            case.dependency.name(),
            case.operation,
            case.fault.name(),
            case.times
        ));
    }
    out.push_str(
        "\n## What was lost\n\nNothing in the cases above, which assert it, and nothing in the soak \
         below, which accounts for every task it had accepted and every message it had stored.\n",
    );
    out.push_str(&loads_held(std::fs::read_to_string(crate::workspace_root().join(SOAK_RECORD)).ok()));
    out.push_str(&residual());
    out
}

/// A request whose honest retry is refused when its write lands after the function answered 503.
pub struct Residual {
    pub function: &'static str,
    pub resource: &'static str,
    pub operation: &'static str,
    pub late_write: &'static str,
    pub retry_gets: &'static str,
    pub why: &'static str,
}

/// The requests of [`past_budget_latency_cases`] whose retry is refused, and why that stands.
/// `faults::the_residual_risk_is_what_reliability_md_says` (ignored: three minutes) asserts that
/// these and only these are.
pub const RESIDUAL: &[Residual] = &[
    Residual {
        function: "change-password",
        resource: USERS,
        operation: "UpdateItem",
        late_write: "the new password, and a new session generation",
        retry_gets: "401, the session ended",
        why: "the password the client asked for is in force; the client logs in with it",
    },
    Residual {
        function: "delete-account",
        resource: USERS,
        operation: "TransactWriteItems",
        late_write: "the deletion",
        retry_gets: "401, no such account",
        why: "the account the client asked to delete is gone",
    },
    Residual {
        function: "login-mfa",
        resource: RATE_LIMITS,
        operation: "UpdateItem",
        late_write: "the claim on the `mfa_token`",
        retry_gets: "401, log in again",
        why: "the claim is what lets an `mfa_token` complete one login, and it belongs to the call that \
              made it: a claim that knew the retry (the same token and code) would also let two \
              identical requests in at once, and the loser's clean-up could not tell its twin's \
              success from its own failure. The person gives the password and a new code again",
    },
    Residual {
        function: "oauth-token",
        resource: AUTHORIZATIONS,
        operation: "UpdateItem",
        late_write: "the authorization code's spend",
        retry_gets: "`invalid_grant`",
        why: "RFC 6749 lets a code be used once: the client starts the authorization again, and the \
              tokens of the attempt that answered 503 were never delivered",
    },
];

/// [`derived_latency_cases`] with the call slow on every attempt the SDK makes: the function
/// answers as past the budget with the attempts still on their way (503, the sign-in pages'
/// redirect, or success where it answers without the call; the suite takes the answer it gets).
pub fn past_budget_latency_cases() -> Vec<Case> {
    derived_latency_cases().iter().map(|case| Case { times: SDK_ATTEMPTS, ..*case }).collect()
}

fn residual() -> String {
    let mut out = format!(
        "\n## The residual risk: a 503 while a write is on its way\n\n\
         A call slower than the attempt timeout on every one of the SDK's attempts is given up \
         three times, and the function answers 503 with up to three attempts still on their way. \
         One of them may land after the answer, and the client's retry then meets the change as \
         made. Nothing is lost, and no change is made twice (a late write finds the retry's work \
         and its condition refuses it; a rate limiter may count the request once more), but the \
         retry of {} requests is refused. Measured by running every derived latency case with its \
         call slow on all three attempts ({} cases; `cargo test --release -p stratus-tests --test \
         suite -- --ignored the_residual_risk`, about three minutes): these and only these are.\n\n\
         | request | resource | operation | the late write | the retry gets | why it stands |\n\
         |---|---|---|---|---|---|\n",
        RESIDUAL.len(),
        past_budget_latency_cases().len()
    );
    for r in RESIDUAL {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.function, r.resource, r.operation, r.late_write, r.retry_gets, r.why
        ));
    }
    out.push_str(
        "\nThree attempts slow past the attempt timeout is an outage of the dependency, not a \
         spike: a spike meets one attempt, which the SDK gives up and sends again (the latency \
         cases above).\n",
    );
    out
}

/// Where `make soak` writes its table, committed: the load this page says was held is the one a
/// run measured, not a figure typed in.
pub const SOAK_RECORD: &str = "docs/soak.md";

/// The soak's own table, one heading level down, or how to make one.
fn loads_held(record: Option<String>) -> String {
    let mut out = String::from("\n## Loads held\n\n");
    let Some(record) = record else {
        out.push_str(&format!(
            "No soak is recorded: `make soak` writes `{SOAK_RECORD}`, and this page shows it.\n"
        ));
        return out;
    };
    out.push_str(&format!(
        "The last `make soak` (not part of `make test`: it runs for minutes), as it wrote `{SOAK_RECORD}`:\n"
    ));
    for line in record.lines().skip_while(|line| line.starts_with("# ") || line.is_empty()) {
        out.push('\n');
        if line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
    }
    out.push('\n');
    out
}
