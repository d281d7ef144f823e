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
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The function's binary.
    pub function: &'static str,
    pub dependency: Dependency,
    /// The dependency's operation the fault meets, as AWS names it.
    pub operation: &'static str,
    pub fault: Fault,
    /// How many calls in a row meet it.
    pub times: usize,
    pub expect: Expect,
}

/// Beyond the timeout the suite gives a function for latency cases (see the suite).
pub const SLOW: Fault = Fault::Latency(2_500);

const fn case(
    function: &'static str,
    dependency: Dependency,
    operation: &'static str,
    fault: Fault,
    times: usize,
    expect: Expect,
) -> Case {
    Case { function, dependency, operation, fault, times, expect }
}

use Dependency::{DynamoDb, Kms, SecretsManager, Ses, Sqs};
use Expect::{Success, Unavailable};
use Fault::{InternalError, ResetAfterApplied, ResetBeforeForwarding, Throttle, ThroughputExceeded};

/// Two faults in a row are within the SDK's budget; one more than the budget is past it.
const PAST: usize = SDK_ATTEMPTS + 1;

/// Every fault the suite injects into the HTTP functions' requests, in the order it runs them.
pub const HTTP_CASES: &[Case] = &[
    // register: the rate limit's counter, the account's transaction, the verification code.
    case("register", DynamoDb, "TransactWriteItems", ThroughputExceeded, 2, Success),
    case("register", DynamoDb, "TransactWriteItems", Throttle, PAST, Unavailable),
    case("register", DynamoDb, "TransactWriteItems", InternalError, 2, Success),
    case("register", DynamoDb, "TransactWriteItems", Fault::Unavailable, PAST, Unavailable),
    case("register", DynamoDb, "TransactWriteItems", ResetAfterApplied, 1, Success),
    case("register", DynamoDb, "TransactWriteItems", ResetBeforeForwarding, 2, Success),
    case("register", DynamoDb, "TransactWriteItems", SLOW, 1, Unavailable),
    case("register", DynamoDb, "UpdateItem", Throttle, PAST, Unavailable),
    case("register", DynamoDb, "UpdateItem", ResetAfterApplied, 1, Success),
    // login: the account, last_login, the new refresh token, the signature.
    case("login", DynamoDb, "GetItem", ThroughputExceeded, PAST, Unavailable),
    case("login", DynamoDb, "PutItem", ResetAfterApplied, 1, Success),
    case("login", DynamoDb, "PutItem", Throttle, 2, Success),
    case("login", Kms, "Sign", Throttle, 2, Success),
    case("login", Kms, "Sign", Throttle, PAST, Unavailable),
    case("login", Kms, "Sign", InternalError, PAST, Unavailable),
    case("login", Kms, "Sign", ResetAfterApplied, 1, Success),
    case("login", Kms, "Sign", SLOW, 1, Unavailable),
    // refresh-token: spending the old token, the new one, the signature.
    case("refresh-token", DynamoDb, "UpdateItem", ResetAfterApplied, 1, Success),
    case("refresh-token", DynamoDb, "UpdateItem", Throttle, PAST, Unavailable),
    case("refresh-token", DynamoDb, "PutItem", Throttle, PAST, Unavailable),
    case("refresh-token", DynamoDb, "PutItem", ResetAfterApplied, 1, Success),
    case("refresh-token", Kms, "Sign", Fault::Unavailable, PAST, Unavailable),
    case("refresh-token", Kms, "Sign", Throttle, 2, Success),
    // me: the account.
    case("me", DynamoDb, "GetItem", Throttle, 2, Success),
    case("me", DynamoDb, "GetItem", InternalError, PAST, Unavailable),
    case("me", DynamoDb, "GetItem", SLOW, 1, Unavailable),
    // create-message and get-message.
    case("create-message", DynamoDb, "PutItem", ThroughputExceeded, 2, Success),
    case("create-message", DynamoDb, "PutItem", Throttle, PAST, Unavailable),
    case("create-message", DynamoDb, "PutItem", ResetAfterApplied, 1, Success),
    case("create-message", DynamoDb, "PutItem", SLOW, 1, Unavailable),
    case("get-message", DynamoDb, "GetItem", Fault::Unavailable, 2, Success),
    case("get-message", DynamoDb, "GetItem", Throttle, PAST, Unavailable),
    // add: the task, then the queue.
    case("add", DynamoDb, "PutItem", ResetAfterApplied, 1, Success),
    case("add", DynamoDb, "PutItem", Throttle, PAST, Unavailable),
    case("add", Sqs, "SendMessage", Throttle, 2, Success),
    case("add", Sqs, "SendMessage", InternalError, PAST, Unavailable),
    case("add", Sqs, "SendMessage", ResetAfterApplied, 1, Success),
    case("add", Sqs, "SendMessage", ResetBeforeForwarding, PAST, Unavailable),
    case("add", Sqs, "SendMessage", SLOW, 1, Unavailable),
    // result: the task.
    case("result", DynamoDb, "GetItem", ThroughputExceeded, 2, Success),
    case("result", DynamoDb, "GetItem", Throttle, PAST, Unavailable),
    // forgot-password: the mail, which the client never waits on (202 whatever happens).
    case("forgot-password", Ses, "SendEmail", Throttle, 2, Success),
    case("forgot-password", Ses, "SendEmail", Fault::Unavailable, PAST, Success),
    case("forgot-password", Ses, "SendEmail", ResetAfterApplied, 1, Success),
    // health behind the origin guard: the secret read again after its refresh interval.
    case("health", SecretsManager, "GetSecretValue", Throttle, PAST, Success),
];

/// The worker's cases: some messages' completions fault, SQS redelivers them, and every task
/// ends done exactly once.
pub const WORKER_CASES: &[Case] = &[
    case("worker", DynamoDb, "UpdateItem", Throttle, PAST, Success),
    case("worker", DynamoDb, "UpdateItem", InternalError, PAST, Success),
    case("worker", DynamoDb, "UpdateItem", ResetAfterApplied, 2, Success),
    case("worker", DynamoDb, "GetItem", Fault::Unavailable, PAST, Success),
    case("worker", DynamoDb, "UpdateItem", SLOW, 1, Success),
];

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

/// Every case, the HTTP functions' then the worker's.
pub fn cases() -> impl Iterator<Item = &'static Case> {
    HTTP_CASES.iter().chain(WORKER_CASES)
}

/// The SDK's retry configuration every client of every function gets (`stratus_aws::sdk_config`).
fn retry_budget() -> String {
    let retry = stratus_aws::retry_config();
    format!(
        "{:?} mode, {} attempts in all (the first and {} retries), backoff from {} ms with full jitter, at most {} ms between attempts",
        retry.mode(),
        retry.max_attempts(),
        retry.max_attempts().saturating_sub(1),
        retry.initial_backoff().as_millis(),
        retry.max_backoff().as_millis(),
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
         than the budget), or 503 with `Retry-After`; nothing accepted is lost or applied twice \
         (one account per registration, a stored message readable, an accepted task ends \
         `succeeded`, a refresh's family not revoked for an honest retry); the worker applies \
         every task of a partly failing batch exactly once across SQS's redeliveries.\n\n",
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
         timeout is never Lambda's timeout, which API Gateway would answer with a 500. The worker \
         reports the messages that failed (`batchItemFailures`); a worker that times out fails \
         its whole batch, which SQS delivers again.\n\n",
    );
    out.push_str("## Faults tried, by function and dependency\n\n");
    let mut counts: BTreeMap<(&str, Dependency), usize> = BTreeMap::new();
    for case in cases() {
        *counts.entry((case.function, case.dependency)).or_default() += 1;
    }
    out.push_str("| function | dependency | faults tried |\n|---|---|---:|\n");
    for ((function, dependency), count) in &counts {
        out.push_str(&format!("| {function} | {} | {count} |\n", dependency.name()));
    }
    out.push_str(&format!("| **all** | | **{}** |\n\n", cases().count()));
    out.push_str("## Every case\n\n| function | dependency | operation | fault | calls in a row | the client gets |\n|---|---|---|---|---:|---|\n");
    for case in cases() {
        let expect = match (case.expect, case.function) {
            (Expect::Success, "worker") => "every task done once, after redelivery",
            (Expect::Success, _) => "success",
            (Expect::Unavailable, _) => "503 + Retry-After",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {expect} |\n",
            case.function,
            case.dependency.name(),
            case.operation,
            case.fault.name(),
            case.times
        ));
    }
    out.push_str(
        "\n## Scenarios\n\nFaults that are not one operation's next calls, each run by \
         `tests/tests/suite/fault_scenarios.rs` against the release binaries (the signing-key switch \
         by `admin_operations.rs` against `stratus-admin`).\n\n\
         | scenario | injected | what holds |\n|---|---|---|\n",
    );
    for scenario in SCENARIOS {
        out.push_str(&format!("| {} | {} | {} |\n", scenario.name, scenario.injected, scenario.holds));
    }
    out.push_str(
        "\n## What was lost\n\nNothing: every case above asserts it, and the soak below \
         accounts for every task it had accepted and every message it had stored.\n",
    );
    out.push_str(&loads_held(std::fs::read_to_string(crate::workspace_root().join(SOAK_RECORD)).ok()));
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
