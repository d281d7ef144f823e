//! Cold and warm cost of every function's release binary, run as Lambda runs it (see
//! `stratus_tests::runtime_api`), beside a hello-world `lambda_runtime` binary built with the same
//! profile. Each function is started `--cold` times; every start is timed to its first `/next`
//! (init) and through its first invocation, and one of them then serves `--warm` more. Every
//! invocation must succeed with the status its scenario expects, so what is timed is the path
//! users take, not an error.
//!
//! `make bench` runs it (engines up, binaries built) and turns its JSON into BENCHMARKS.md:
//! `target/release/examples/lambda_bench --out target/bench/lambda.json [--cold 10] [--warm 50]`
//! `[--var NAME=VALUE ...] [--only NAME,...]`; `--var` adds to every function's environment, e.g.
//! to see what the trust store costs at init (`--var SSL_CERT_DIR=/nonexistent`); `--only` measures
//! just the functions named (and the baseline), e.g. `--only totp-mfa,login-mfa`.
//! `--tls DIR` puts every engine behind an HTTPS endpoint signed by a certificate authority made in
//! DIR (`stratus_tests::wire`), which the functions trust through `SSL_CERT_FILE` (the bundle a
//! `--var SSL_CERT_FILE=` names, else Debian's, with the authority's root appended), as every AWS
//! endpoint is HTTPS; `--page-cache drop` empties the kernel's page cache before every cold start
//! (as root), so that a function reads its binary from disk as a new sandbox does.
//!
//! `--cgroup PARENT --sizes 128,256,...` (`make tune`, infra/bench/tune.py) measures every
//! function at each Lambda memory size instead of its template's: size N runs the function
//! process, from before its first instruction, in cgroup `PARENT/N` of the cgroup v1 `cpu` and
//! `memory` controllers, which tune.py gives N/1769 of a core and an N MiB limit. Only the function
//! is confined: the harness, the engines and the unmeasured functions that make a scenario's
//! fixtures run as before. The sizes take turns, start by start, and every start serves `--warm`
//! invocations. A size the function cannot serve is an outcome in the JSON, not a failure of the
//! run: `oom` when the kernel killed it at its memory limit, `timeout` when an init or an
//! invocation took longer than Lambda allows.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use serde_json::{Value, json};
use stratus_auth::bootstrap::{AdminSeed, create_admin};
use stratus_auth::totp::TotpSecret;
use stratus_aws::dynamodb::{DynamoUserStore, tables};
use stratus_routes::ROUTES;
use stratus_tests::oauth::{self, Browser, PUBLIC_BASE_URL};
use stratus_tests::runtime_api::{
    Function, Gateway, InvokeError, LaunchError, LaunchSpec, LocalStack, Outcome, binaries_dir, request,
    sqs_event,
};
use stratus_tests::wire::{LocalCa, TlsFront, endpoint_address};
use stratus_tests::{PASSWORD, registration};

/// The baseline: a `lambda_runtime` function that does nothing (infra/bench/hello-runtime).
const BASELINE: &str = "hello-runtime";
/// High enough that no rate limit answers 429 during a run; the limits are not what is timed.
const UNLIMITED: &str = "1000000";
/// Where cgroup v1 mounts its controllers, one directory each.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Lambda's limit on a function's init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// Run by `/bin/sh` in place of the function: moves itself (`$$`) into the cgroup's `cpu` and
/// `memory` groups (`$1`, `$2`), then becomes the function, keeping its pid. So the function's
/// init runs under the quota and limit too, as on Lambda, and the emulator's pid (the peak RSS
/// it reads) is the function's.
const JOIN_CGROUP: &str = r#"echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@""#;

struct Options {
    out: PathBuf,
    cold: usize,
    warm: usize,
    vars: Vec<(String, String)>,
    /// When set, the functions to measure (the baseline always is).
    only: Option<Vec<String>>,
    /// With `sizes`: the cgroup (under both controllers) that holds one group per size.
    cgroup: Option<String>,
    /// Memory sizes (MB) to measure every function at, each in its own cgroup.
    sizes: Vec<u32>,
    /// Where to make the certificate authority of the engines' HTTPS fronts, if they have any.
    tls: Option<PathBuf>,
    /// Whether to drop the page cache before every cold start.
    drop_page_cache: bool,
}

fn options() -> Options {
    let mut options = Options {
        out: PathBuf::from("target/bench/lambda.json"),
        cold: 10,
        warm: 50,
        vars: Vec::new(),
        only: None,
        cgroup: None,
        sizes: Vec::new(),
        tls: None,
        drop_page_cache: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => options.out = PathBuf::from(value),
            "--cold" => options.cold = value.parse().expect("--cold takes a count"),
            "--warm" => options.warm = value.parse().expect("--warm takes a count"),
            "--var" => {
                let (name, value) = value.split_once('=').expect("--var takes NAME=VALUE");
                options.vars.push((name.to_owned(), value.to_owned()));
            }
            "--only" => options.only = Some(value.split(',').map(str::to_owned).collect()),
            "--cgroup" => options.cgroup = Some(value),
            "--tls" => options.tls = Some(PathBuf::from(value)),
            "--page-cache" => {
                options.drop_page_cache = match value.as_str() {
                    "drop" => true,
                    "keep" => false,
                    other => panic!("--page-cache takes drop or keep, not {other}"),
                }
            }
            "--sizes" => {
                options.sizes =
                    value.split(',').map(|mb| mb.trim().parse().expect("--sizes takes MB,MB,...")).collect()
            }
            other => panic!("unknown option {other}; see the header of tests/examples/lambda_bench.rs"),
        }
    }
    assert!(options.cold > 0, "--cold must be at least 1");
    assert_eq!(
        options.cgroup.is_some(),
        !options.sizes.is_empty(),
        "--cgroup and --sizes go together: each size runs in the cgroup PARENT/SIZE"
    );
    options
}

/// What the scenarios share: users, their tokens, a stored message, tasks.
struct Fixtures {
    user_token: String,
    admin_token: String,
    digest: String,
    task_id: String,
    refresh_token: String,
    queued: Vec<Message>,
    sequence: usize,
    /// A user whose password every change-password call changes, and what it is now.
    changer_password: String,
    /// A user who never verifies, for resend-verification.
    resender_token: String,
    /// The RS256 ID-token key, which the custom resource publishes too.
    id_token_key_arn: String,
    /// Where the custom resource answers CloudFormation.
    cloudformation: std::sync::Arc<stratus_tests::cfn_response::ResponseUrl>,
    /// A user whom every totp-mfa call gives a new pending secret (never confirmed).
    enroller_token: String,
    /// The OpenID Provider's: a confidential client, and a browser signed in as `OAUTH_USER`
    /// who consented to `OAUTH_SCOPE` for it.
    oauth: OAuthFixtures,
}

/// The account the OAuth scenarios sign in as, and the scope its client asks for.
const OAUTH_USER: &str = "oauth_bench";
const OAUTH_SCOPE: &str = "openid profile email offline_access api";

struct OAuthFixtures {
    client: oauth::Client,
    browser: Browser,
    /// The last token answer of the code flow, and when it came: its access token lives 15
    /// minutes, so the scenarios take a new one after 5.
    tokens: Value,
    minted: std::time::Instant,
}

impl OAuthFixtures {
    async fn new(gateway: &Gateway, admin_token: &str) -> Self {
        let registered = gateway
            .post_json("/register", &registration(OAUTH_USER, &format!("{OAUTH_USER}@example.com")))
            .await;
        assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
        let client = oauth::register_client(gateway, admin_token, &oauth::confidential_metadata("bench"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut browser = Browser::new(PUBLIC_BASE_URL);
        let (authorized, tokens) =
            oauth::code_flow(gateway, &mut browser, &client, OAUTH_SCOPE, OAUTH_USER, PASSWORD)
                .await
                .unwrap_or_else(|e| panic!("the first code flow: {e}"));
        assert_eq!(authorized.pages, ["login", "consent"], "{authorized:?}");
        Self { client, browser, tokens, minted: std::time::Instant::now() }
    }

    /// A code flow's tokens, through the (unmeasured) authorize and oauth-token functions: the
    /// browser's session and consent make it two invocations.
    async fn code_flow(&mut self, gateway: &Gateway) -> Value {
        let (_, tokens) =
            oauth::code_flow(gateway, &mut self.browser, &self.client, OAUTH_SCOPE, OAUTH_USER, PASSWORD)
                .await
                .unwrap_or_else(|e| panic!("a code flow: {e}"));
        tokens
    }

    /// An access token minted less than 5 minutes ago.
    async fn access_token(&mut self, gateway: &Gateway) -> String {
        if self.minted.elapsed() > Duration::from_secs(300) {
            self.tokens = self.code_flow(gateway).await;
            self.minted = std::time::Instant::now();
        }
        self.tokens["access_token"].as_str().expect("an access token").to_owned()
    }
}

/// Where the functions' mails go (no SES here): the codes the scenarios type back.
fn outbox() -> PathBuf {
    std::env::temp_dir().join(format!("stratus-bench-outbox-{}.jsonl", std::process::id()))
}

/// One invocation's input and the status (or, for the worker, outcome) that counts as success.
struct Call {
    event: Value,
    expect_status: Option<u16>,
}

/// A function with no scenario of its own (a new one, say): its first route, with a user's token
/// and `bench` for each path parameter. It is measured all the same; any answer but a 5xx counts.
fn first_route_call(gateway: &Gateway, binary: &str, fixtures: &Fixtures) -> Call {
    let Some(route) = ROUTES.iter().find(|route| route.function == binary) else {
        panic!(
            "no benchmark scenario for {binary}, and no route to call; add one to tests/examples/lambda_bench.rs"
        )
    };
    let path: Vec<&str> = route
        .path
        .split('/')
        .map(|segment| if segment.starts_with('{') { "bench" } else { segment })
        .collect();
    let event =
        gateway.routed(request(route.method, &path.join("/"), Some(&fixtures.user_token), None), true).1;
    Call { event, expect_status: None }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let stack = LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    let gateway = Gateway::new(stack)
        .with_var("LOGIN_RATE_LIMIT", UNLIMITED)
        .with_var("REGISTER_RATE_LIMIT", UNLIMITED)
        .with_var("ADD_RATE_LIMIT", UNLIMITED)
        .with_var("RECOVERY_RATE_LIMIT", UNLIMITED)
        .with_var("MAIL_RATE_LIMIT", UNLIMITED)
        .with_var("MESSAGE_RATE_LIMIT", UNLIMITED)
        .with_var("MFA_RATE_LIMIT", UNLIMITED)
        .with_var("MFA_USER_RATE_LIMIT", UNLIMITED)
        .with_var("VERIFICATION_MAIL_RATE_LIMIT", UNLIMITED)
        .with_var("PASSWORD_WORK_RATE_LIMIT", UNLIMITED)
        .with_var(stratus_memory::mail::MAIL_OUTBOX, outbox().display().to_string());
    let gateway =
        options.vars.iter().fold(gateway, |gateway, (name, value)| gateway.with_var(name, value.clone()));
    let (gateway, _fronts) = match &options.tls {
        Some(dir) => behind_tls(gateway, dir, &options.vars).await,
        None => (gateway, Vec::new()),
    };
    let sandboxes: Vec<Option<Sandbox>> = match &options.cgroup {
        None => vec![None],
        Some(parent) => options.sizes.iter().map(|&mb| Some(Sandbox::new(parent, mb))).collect(),
    };
    // The worker takes one queued task per invocation: with sizes, every start serves `--warm`.
    let invocations = match options.cgroup {
        None => options.cold + options.warm,
        Some(_) => options.cold * (1 + options.warm) * sandboxes.len(),
    };
    let mut fixtures = fixtures(&gateway, invocations).await;

    let mut binaries: Vec<(String, u32)> = gateway
        .stack()
        .resolver()
        .template()
        .functions()
        .into_iter()
        .map(|f| (f.binary, f.memory_mb))
        .collect();
    binaries.sort();
    binaries.dedup();
    if let Some(only) = &options.only {
        for name in only {
            assert!(
                binaries.iter().any(|(binary, _)| binary == name),
                "--only {name}: template.yaml has no such function"
            );
        }
        binaries.retain(|(binary, _)| only.contains(binary));
    }
    binaries.insert(0, (BASELINE.to_owned(), 128));

    let mut results = Vec::new();
    for (binary, template_mb) in &binaries {
        let spec = launch_spec(&gateway, binary);
        let size = std::fs::metadata(&spec.binary).map(|m| m.len()).unwrap_or_else(|e| {
            panic!("{}: {e}; build with `cargo build --release --workspace --bins`", spec.binary.display())
        });
        let specs: Vec<LaunchSpec> = sandboxes
            .iter()
            .map(|sandbox| sandbox.as_ref().map_or_else(|| spec.clone(), |s| s.confine(spec.clone())))
            .collect();
        // With sizes, the sizes take turns start by start, and every start serves `--warm`: each
        // size's figures then come from across the function's whole measurement, so what else the
        // (shared) machine does meanwhile weighs on every size alike. Without, as ever: the first
        // start serves them all.
        let mut measured: Vec<Measured> = sandboxes.iter().map(|_| Measured::default()).collect();
        for start in 0..options.cold {
            for ((sandbox, spec), measured) in sandboxes.iter().zip(&specs).zip(&mut measured) {
                let warm = if sandbox.is_some() || start == 0 { options.warm } else { 0 };
                if measured.failure.is_none() {
                    if options.drop_page_cache {
                        drop_page_cache();
                    }
                    measure_start(&gateway, spec, binary, &mut fixtures, warm, sandbox.as_ref(), measured)
                        .await;
                }
            }
        }
        for ((sandbox, spec), mut measured) in sandboxes.iter().zip(&specs).zip(measured) {
            if let Some(sandbox) = sandbox {
                sandbox.check_limits(&mut measured, spec.timeout);
            }
            let memory_mb = sandbox.as_ref().map_or(*template_mb, |s| s.mb);
            eprintln!(
                "bench: {binary:<15} {}init p50 {:>6.1} ms  first p50 {:>6.1} ms  warm p50 {:>6.1} ms  peak RSS {:>5.1} MiB{}",
                sandbox.as_ref().map_or(String::new(), |s| format!("{:>4} MB  ", s.mb)),
                millis(median(&measured.inits)),
                millis(median(&measured.firsts)),
                millis(median(&measured.warms)),
                measured.peak_rss.iter().max().copied().unwrap_or_default() as f64 / 1048576.0,
                measured.failure.as_ref().map_or(String::new(), |f| format!("  {}", f.outcome())),
            );
            let mut entry = json!({
                "function": binary,
                "memory_mb": memory_mb,
                "binary_bytes": size,
                "init_ms": measured.inits.iter().map(|d| millis(*d)).collect::<Vec<_>>(),
                "first_invoke_ms": measured.firsts.iter().map(|d| millis(*d)).collect::<Vec<_>>(),
                "warm_invoke_ms": measured.warms.iter().map(|d| millis(*d)).collect::<Vec<_>>(),
                "peak_rss_bytes": measured.peak_rss,
                "init_steps": measured.init_steps,
            });
            if let Some(sandbox) = sandbox {
                let extra = json!({
                    "template_memory_mb": template_mb,
                    "timeout_ms": millis(spec.timeout),
                    "cgroup": sandbox.settings(),
                    "outcome": measured.failure.as_ref().map_or("ok", Failure::outcome),
                    "failure": measured.failure.as_ref().map(Failure::message),
                    "cgroup_peak_bytes": measured.cgroup_peak,
                });
                entry
                    .as_object_mut()
                    .expect("an object")
                    .extend(extra.as_object().expect("an object").clone());
            }
            results.push(entry);
        }
    }

    // Tuning runs many sizes in cgroups; the engines' answer is the same at every size.
    let engine_calls = match options.cgroup {
        None => engine_round_trips(gateway.stack()).await,
        Some(_) => Vec::new(),
    };

    let mut report = json!({
        "engine_calls": engine_calls,
        "cold_starts": options.cold,
        "warm_invocations": options.warm,
        "vars": options.vars,
        "tls": options.tls.is_some(),
        "page_cache": if options.drop_page_cache { "dropped" } else { "kept" },
        "functions": results,
    });
    if let Some(parent) = &options.cgroup {
        report["cgroup"] = json!(parent);
        report["sizes"] = json!(options.sizes);
    }
    if let Some(dir) = options.out.parent() {
        std::fs::create_dir_all(dir).expect("the output directory");
    }
    std::fs::write(&options.out, serde_json::to_vec_pretty(&report).expect("JSON"))
        .expect("writing the report");
    eprintln!("bench: wrote {}", options.out.display());
}

/// How long the engines themselves take to answer the calls a cold path makes, from this process
/// on a warm connection over plain HTTP: the part of a function's cold request that no change to
/// the function can remove on this machine (moto is Python, DynamoDB Local is Java, and both share
/// its cores with the functions). Each call is made 5 times to warm up, then timed 50 times.
async fn engine_round_trips(stack: &LocalStack) -> Vec<Value> {
    const WARM_UP: usize = 5;
    const TIMED: usize = 50;
    async fn timed<F, Fut, T, E>(call: &str, engine: &str, mut once: F) -> Value
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Debug,
    {
        let mut durations = Vec::with_capacity(TIMED);
        for round in 0..WARM_UP + TIMED {
            let started = std::time::Instant::now();
            once().await.unwrap_or_else(|e| panic!("{call} on {engine}: {e:?}"));
            if round >= WARM_UP {
                durations.push(started.elapsed());
            }
        }
        durations.sort();
        json!({
            "call": call,
            "engine": engine,
            "p50_ms": millis(durations[TIMED / 2]),
            "p90_ms": millis(durations[TIMED * 9 / 10]),
        })
    }
    let sdk = stack.sdk();
    let mut calls = Vec::new();
    if let Some(arn) = stack.resolver().secrets.keys().next() {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        calls.push(
            timed("secretsmanager:GetSecretValue (the origin secret)", "moto", || {
                secrets.get_secret_value().secret_id(arn).send()
            })
            .await,
        );
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let users = stack.table(&tables::USERS);
    let absent = aws_sdk_dynamodb::types::AttributeValue::S("USER#engine-probe".into());
    calls.push(
        timed("dynamodb:GetItem (a user, absent)", "DynamoDB Local", || {
            dynamodb.get_item().table_name(&users).key(tables::USERS.partition_key, absent.clone()).send()
        })
        .await,
    );
    let messages = stack.table(&tables::MESSAGES);
    let mut written = 0u32;
    calls.push(
        timed("dynamodb:PutItem (a message)", "DynamoDB Local", || {
            written += 1;
            let digest = aws_sdk_dynamodb::types::AttributeValue::S(format!("engine-probe-{written}"));
            dynamodb.put_item().table_name(&messages).item(tables::MESSAGES.partition_key, digest).send()
        })
        .await,
    );
    let key = stack.signing_key_arn();
    if !key.is_empty() {
        let kms = aws_sdk_kms::Client::new(sdk);
        let digest = aws_sdk_kms::primitives::Blob::new([7u8; 32]);
        calls.push(
            timed("kms:Sign (ECDSA P-256, a token)", "moto", || {
                kms.sign()
                    .key_id(key)
                    .message(digest.clone())
                    .message_type(aws_sdk_kms::types::MessageType::Digest)
                    .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
                    .send()
            })
            .await,
        );
    }
    for call in &calls {
        eprintln!(
            "bench: engine {:<52} p50 {:>5.2} ms  p90 {:>5.2} ms",
            call["call"].as_str().unwrap_or_default(),
            call["p50_ms"].as_f64().unwrap_or_default(),
            call["p90_ms"].as_f64().unwrap_or_default()
        );
    }
    calls
}

/// One function's starts at one size: each start's init, first invocation and peak RSS, the warm
/// invocations, and, if the size could not serve the scenario, why.
#[derive(Default)]
struct Measured {
    inits: Vec<Duration>,
    firsts: Vec<Duration>,
    warms: Vec<Duration>,
    peak_rss: Vec<u64>,
    /// Each start's init steps, as its `initialised` log line names them.
    init_steps: Vec<Value>,
    /// The memory cgroup's peak (the process's pages and the page cache it brought in).
    cgroup_peak: u64,
    failure: Option<Failure>,
}

/// Why a size could not serve its scenario, as Lambda would have ended that sandbox.
enum Failure {
    OutOfMemory(String),
    TimedOut(String),
}

impl Failure {
    fn outcome(&self) -> &'static str {
        match self {
            Self::OutOfMemory(_) => "oom",
            Self::TimedOut(_) => "timeout",
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::OutOfMemory(message) | Self::TimedOut(message) => message,
        }
    }
}

/// One Lambda memory size: cgroup `PARENT/MB` of the cpu and memory controllers, which tune.py
/// made and set (CPU quota MB/1769 of a core, memory limit MB MiB) before this run.
struct Sandbox {
    mb: u32,
    name: String,
    cpu: PathBuf,
    memory: PathBuf,
}

impl Sandbox {
    fn new(parent: &str, mb: u32) -> Self {
        let name = format!("{parent}/{mb}");
        let sandbox = Self {
            mb,
            cpu: PathBuf::from(CGROUP_ROOT).join("cpu").join(&name),
            memory: PathBuf::from(CGROUP_ROOT).join("memory").join(&name),
            name,
        };
        for dir in [&sandbox.cpu, &sandbox.memory] {
            assert!(dir.is_dir(), "{} is no cgroup; infra/bench/tune.py makes them", dir.display());
        }
        sandbox
    }

    fn read(dir: &std::path::Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
            .trim()
            .to_owned()
    }

    fn number(dir: &std::path::Path, file: &str) -> i64 {
        Self::read(dir, file).parse().unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
    }

    /// How many processes the kernel has killed at this group's limit, ever (`oom_kill`).
    fn oom_kills(&self) -> u64 {
        let control = Self::read(&self.memory, "memory.oom_control");
        control
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: no oom_kill count in {control:?}", self.memory.display()))
    }

    /// Starts the group's peak usage afresh, for one process (the previous one has ended).
    fn reset_peak(&self) {
        let file = self.memory.join("memory.max_usage_in_bytes");
        std::fs::write(&file, "0").unwrap_or_else(|e| panic!("{}: {e} (tune runs as root)", file.display()));
    }

    fn peak(&self) -> u64 {
        Self::number(&self.memory, "memory.max_usage_in_bytes").try_into().unwrap_or_default()
    }

    /// What the group was set to, as the report records it.
    fn settings(&self) -> Value {
        json!({
            "name": self.name,
            "cpu_period_us": Self::number(&self.cpu, "cpu.cfs_period_us"),
            "cpu_quota_us": Self::number(&self.cpu, "cpu.cfs_quota_us"),
            "memory_limit_bytes": Self::number(&self.memory, "memory.limit_in_bytes"),
        })
    }

    /// The spec, started inside this group, with the size Lambda would tell the function.
    fn confine(&self, spec: LaunchSpec) -> LaunchSpec {
        let mut arguments = vec![
            "-c".to_owned(),
            JOIN_CGROUP.to_owned(),
            "stratus-cgroup".to_owned(),
            self.cpu.join("cgroup.procs").display().to_string(),
            self.memory.join("cgroup.procs").display().to_string(),
        ];
        if let Some((runner, runner_arguments)) = &spec.runner {
            arguments.push(runner.display().to_string());
            arguments.extend(runner_arguments.iter().cloned());
        }
        let spec = spec.with_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.mb.to_string());
        LaunchSpec { runner: Some((PathBuf::from("/bin/sh"), arguments)), ..spec }
    }

    /// Lambda would have ended what the emulator only timed: an init over its limit, an
    /// invocation over the function's timeout.
    fn check_limits(&self, measured: &mut Measured, timeout: Duration) {
        if measured.failure.is_some() {
            return;
        }
        let longest = measured.firsts.iter().chain(&measured.warms).max().copied().unwrap_or_default();
        let longest_init = measured.inits.iter().max().copied().unwrap_or_default();
        if longest_init > INIT_LIMIT {
            measured.failure = Some(Failure::TimedOut(format!(
                "an init took {:.0} ms, over Lambda's {} s limit at {} MB",
                millis(longest_init),
                INIT_LIMIT.as_secs(),
                self.mb
            )));
        } else if longest > timeout {
            measured.failure = Some(Failure::TimedOut(format!(
                "an invocation took {:.0} ms, over the function's {} s timeout at {} MB",
                millis(longest),
                timeout.as_secs(),
                self.mb
            )));
        }
    }

    /// What ended a process that failed at this size: out of memory when the kernel killed it at
    /// the limit (or anything SIGKILLed it but our own timeout), a timeout when we gave up on it.
    fn classify(
        &self,
        oom_kills_before: u64,
        status: Option<ExitStatus>,
        timed_out: bool,
        error: String,
    ) -> Failure {
        // The error carries the process's whole output; the first lines say what happened.
        let message: String =
            error.lines().take(3).collect::<Vec<_>>().join(" / ").chars().take(400).collect();
        let killed = status.and_then(|s| s.signal()) == Some(9);
        if self.oom_kills() > oom_kills_before || (killed && !timed_out) {
            Failure::OutOfMemory(message)
        } else if timed_out {
            Failure::TimedOut(message)
        } else {
            panic!("{error}")
        }
    }
}

/// Starts `binary` once, times its init and first invocation, then `warm` more invocations, into
/// `measured`. Under a sandbox, a start that runs out of memory or time records that outcome (the
/// size is then done); without one, any failure is the run's.
async fn measure_start(
    gateway: &Gateway,
    spec: &LaunchSpec,
    binary: &str,
    fixtures: &mut Fixtures,
    warm: usize,
    sandbox: Option<&Sandbox>,
    measured: &mut Measured,
) {
    if let Some(sandbox) = sandbox {
        sandbox.reset_peak();
    }
    let oom_kills = sandbox.map_or(0, Sandbox::oom_kills);
    let fail = |status, timed_out, error: String| match sandbox {
        Some(sandbox) => sandbox.classify(oom_kills, status, timed_out, error),
        None => panic!("{error}"),
    };
    let mut function = match Function::spawn(spec.clone()).await {
        Ok(function) => function,
        Err(error) => {
            let (status, timed_out) = match &error {
                LaunchError::Exited { status, .. } => (*status, false),
                LaunchError::Timeout { .. } => (None, true),
                _ => (None, false),
            };
            measured.failure = Some(fail(status, timed_out, format!("starting {binary}: {error}")));
            return;
        }
    };
    if let Some(report) = function.init_error() {
        panic!("{binary} failed its init: {}\n{}", report.body, function.output());
    }
    measured.inits.push(function.init_duration().expect("an init that succeeded has a duration"));
    measured.init_steps.push(initialised(&function.output()));
    // The first invocation, then the warm ones; a process that fails one serves no more.
    let mut durations = Vec::new();
    let mut error = None;
    for _ in 0..1 + warm {
        match invoke(gateway, &mut function, binary, fixtures).await {
            Ok(duration) => durations.push(duration),
            Err(failed) => {
                error = Some(failed);
                break;
            }
        }
    }
    let (_, rss) = function.shutdown().await;
    measured.peak_rss.push(rss.unwrap_or_default());
    if let Some(sandbox) = sandbox {
        measured.cgroup_peak = measured.cgroup_peak.max(sandbox.peak());
    }
    if let Some(error) = error {
        let (status, timed_out) = match &error {
            InvokeError::Exited { status, .. } => (*status, false),
            InvokeError::Timeout { .. } => (None, true),
            _ => (None, false),
        };
        measured.failure = Some(fail(status, timed_out, format!("{binary}: {error}")));
    }
    let mut durations = durations.into_iter();
    measured.firsts.extend(durations.next());
    measured.warms.extend(durations);
}

/// Every engine endpoint the functions get, behind an HTTPS front of its own; the fronts live as
/// long as what this returns.
async fn behind_tls(gateway: Gateway, dir: &Path, vars: &[(String, String)]) -> (Gateway, Vec<TlsFront>) {
    let ca = LocalCa::create(dir).unwrap_or_else(|e| panic!("the bench's certificate authority: {e}"));
    let bundle = vars.iter().find(|(name, _)| name == "SSL_CERT_FILE").map_or_else(
        || PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        |(_, value)| PathBuf::from(value),
    );
    let trust_store = ca.trust_store(&bundle).unwrap_or_else(|e| panic!("{e}"));
    let mut gateway = gateway.with_var("SSL_CERT_FILE", trust_store.display().to_string());
    let mut fronts = Vec::new();
    let endpoints = gateway.stack().endpoints().clone();
    for (name, url) in endpoints {
        let upstream = endpoint_address(&url).unwrap_or_else(|e| panic!("{name}: {e}"));
        let front = TlsFront::start(&ca, upstream).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        gateway = gateway.with_var(&name, front.url.clone());
        fronts.push(front);
    }
    (gateway, fronts)
}

/// Empties the kernel's page cache (clean pages only, after writing dirty ones out).
fn drop_page_cache() {
    let synced = std::process::Command::new("sync").status().expect("sync");
    assert!(synced.success(), "sync failed");
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .unwrap_or_else(|e| panic!("--page-cache drop needs root: /proc/sys/vm/drop_caches: {e}"));
}

/// The steps init took, as the function's `initialised` log line gives them (`{}` for a
/// function without the line: the baseline).
fn initialised(output: &str) -> Value {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "initialised")
        .map(|line| {
            let mut steps: Value = line["steps"]
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_else(|| json!({}));
            steps["in_main"] = line["total_ms"].clone();
            steps
        })
        .unwrap_or_else(|| json!({}))
}

fn launch_spec(gateway: &Gateway, binary: &str) -> LaunchSpec {
    if binary == BASELINE {
        // The smallest function's environment, the baseline's binary.
        let spec = gateway.launch_spec("health").unwrap_or_else(|e| panic!("{e}"));
        return LaunchSpec {
            binary: binaries_dir().join(BASELINE),
            function_name: BASELINE.to_owned(),
            ..spec
        };
    }
    gateway.launch_spec(binary).unwrap_or_else(|e| panic!("{e}"))
}

/// Invokes once with the scenario's next call, checks the outcome, returns the duration. The
/// process failing (killed, hung) is the caller's to judge; a wrong answer fails the run.
async fn invoke(
    gateway: &Gateway,
    function: &mut Function,
    binary: &str,
    fixtures: &mut Fixtures,
) -> Result<Duration, InvokeError> {
    let call = next_call(gateway, binary, fixtures).await;
    let invocation = function.invoke_raw(call.event.to_string().into()).await?;
    let body = match invocation.outcome {
        Outcome::Response(body) => body,
        Outcome::Error(error) => panic!("{binary} answered with an error: {}", error.body),
    };
    let response: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{binary}: {e}"));
    match call.expect_status {
        Some(expected) => {
            let reply = stratus_tests::runtime_api::decode_response(&response)
                .unwrap_or_else(|e| panic!("{binary} answered {response}: {e}"));
            assert_eq!(reply.status, expected, "{binary}: {}", String::from_utf8_lossy(&reply.body));
            if binary == "refresh-token" {
                fixtures.refresh_token =
                    reply.json()["refresh_token"].as_str().expect("a rotated refresh token").to_owned();
            }
        }
        // The worker answers its failed messages, the custom resource what it told CloudFormation,
        // the sweeper what it swept.
        None if binary == "worker" => assert_eq!(response["batchItemFailures"], json!([]), "{response}"),
        None if binary == "signing-keys" => assert_eq!(response["Status"], "SUCCESS", "{response}"),
        None if ROUTES.iter().any(|route| route.function == binary) => {
            let reply = stratus_tests::runtime_api::decode_response(&response)
                .unwrap_or_else(|e| panic!("{binary} answered {response}: {e}"));
            assert!(
                reply.status < 500,
                "{binary}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        None => assert!(response.is_object(), "{binary}: {response}"),
    }
    if binary == "change-password" {
        fixtures.changer_password = format!("bench passphrase {}", fixtures.sequence);
    }

    Ok(invocation.duration)
}

async fn next_call(gateway: &Gateway, binary: &str, fixtures: &mut Fixtures) -> Call {
    fixtures.sequence += 1;
    let n = fixtures.sequence;
    let http = |method: &str, path: &str, token: Option<&str>, body: Option<Value>, status: u16| Call {
        event: gateway.routed(request(method, path, token, body.as_ref()), true).1,
        expect_status: Some(status),
    };
    match binary {
        BASELINE => Call { event: json!({}), expect_status: Some(200) },
        "health" => http("GET", "/health", None, None, 200),
        "docs" => http("GET", "/openapi.json", None, None, 200),
        "fallback" => http("GET", "/no-such-route", None, None, 404),
        "create-message" => {
            http("POST", "/messages", None, Some(json!({"message": format!("bench {n}")})), 201)
        }
        "get-message" => http("GET", &format!("/messages/{}", fixtures.digest), None, None, 200),
        "register" => {
            let username = format!("bench_{n}");
            http(
                "POST",
                "/register",
                None,
                Some(registration(&username, &format!("{username}@example.com"))),
                201,
            )
        }
        "login" => {
            http("POST", "/login", None, Some(json!({"username": "bench", "password": PASSWORD})), 200)
        }
        "refresh-token" => {
            http("POST", "/token/refresh", None, Some(json!({"refresh_token": fixtures.refresh_token})), 200)
        }
        "logout" => {
            // Every logout spends a session of its own, opened by the (unmeasured) login function.
            let session = login(gateway, "bench").await;
            let token = session["access_token"].as_str().expect("an access token");
            http(
                "POST",
                "/logout",
                Some(token),
                Some(json!({"refresh_token": session["refresh_token"]})),
                204,
            )
        }
        "me" => http("GET", "/users/me", Some(&fixtures.user_token), None, 200),
        "list-users" => http("GET", "/users", Some(&fixtures.admin_token), None, 200),
        "get-user" => http("GET", "/users/bench", Some(&fixtures.admin_token), None, 200),
        "add" => http("POST", "/add", Some(&fixtures.user_token), Some(json!({"a": n, "b": 1})), 202),
        "result" => {
            http("GET", &format!("/result/{}", fixtures.task_id), Some(&fixtures.user_token), None, 200)
        }
        "jwks" => http("GET", "/.well-known/jwks.json", None, None, 200),
        // Toggles a user that nothing else uses: disabling ends its sessions.
        "update-user" => {
            let change = json!({"disabled": n % 2 == 0});
            http("PATCH", "/users/toggled", Some(&fixtures.admin_token), Some(change), 200)
        }
        "change-password" => {
            // A change ends every session of the account (its session generation moves): each
            // call comes from a session of its own, opened by the (unmeasured) login function.
            let credentials = json!({"username": "changer", "password": fixtures.changer_password});
            let session = gateway.post_json("/login", &credentials).await;
            assert_eq!(session.status, 200, "login changer: {}", String::from_utf8_lossy(&session.body));
            let token = session.json()["access_token"].as_str().expect("an access token").to_owned();
            let change = json!({
                "current_password": fixtures.changer_password,
                "new_password": format!("bench passphrase {n}"),
            });
            http("POST", "/users/me/password", Some(&token), Some(change), 204)
        }
        "delete-account" => {
            // Every deletion takes an account of its own, made by the (unmeasured) register and
            // login functions.
            let username = format!("leaver_{n}");
            let registered = gateway
                .post_json("/register", &registration(&username, &format!("{username}@example.com")))
                .await;
            assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
            let session = login(gateway, &username).await;
            let token = session["access_token"].as_str().expect("an access token");
            http("DELETE", "/users/me", Some(token), Some(json!({"password": PASSWORD})), 204)
        }
        // Same answer, same floor, whether or not the address has an account: alternate them.
        "forgot-password" => {
            let email = if n % 2 == 0 { "bench@example.com" } else { "nobody@example.com" };
            http("POST", "/password/forgot", None, Some(json!({"email": email})), 202)
        }
        "reset-password" => {
            // Each reset spends a code of its own, asked for through the (unmeasured) forgot function.
            let forgot =
                gateway.post_json("/password/forgot", &json!({"email": "resetter@example.com"})).await;
            assert_eq!(forgot.status, 202, "{}", String::from_utf8_lossy(&forgot.body));
            let reset = json!({
                "email": "resetter@example.com",
                "code": stratus_tests::outbox_code(&outbox(), "resetter@example.com", "reset"),
                "new_password": format!("bench passphrase {n}"),
            });
            http("POST", "/password/reset", None, Some(reset), 204)
        }
        "verify-email" => {
            // Each verification takes an account of its own, made by the (unmeasured) register
            // and login functions.
            let username = format!("verifier_{n}");
            let email = format!("{username}@example.com");
            let registered = gateway.post_json("/register", &registration(&username, &email)).await;
            assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
            let session = login(gateway, &username).await;
            let token = session["access_token"].as_str().expect("an access token");
            let code = json!({"code": stratus_tests::outbox_code(&outbox(), &email, "Verify")});
            http("POST", "/users/me/email/verify", Some(token), Some(code), 204)
        }
        "resend-verification" => {
            http("POST", "/users/me/email/verify/resend", Some(&fixtures.resender_token), None, 202)
        }
        // Set-up's first step, repeatable: each call checks the password (argon2, as login) and
        // replaces the enroller's pending secret. A
        // sandbox's first call also reads the wrapped data key and unwraps it (one kms:Decrypt),
        // as on AWS; the stack's first ever call makes it (kms:GenerateDataKey).
        "totp-mfa" => http(
            "POST",
            "/users/me/mfa/totp",
            Some(&fixtures.enroller_token),
            Some(json!({"password": PASSWORD})),
            200,
        ),
        "login-mfa" => {
            // The success path with a TOTP code (not a recovery code, which skips the secret and
            // so a sandbox's data-key unwrap). A code is good once and spends every earlier step,
            // so each second step takes an account of its own, with TOTP turned on and the
            // password step done by the (unmeasured) register, login and totp-mfa functions; its
            // code is the one for the step after the confirmation's (the window is one step).
            let username = format!("mfa_{n}");
            let (secret, confirmed_at) = totp_user(gateway, &username).await;
            let challenge = login(gateway, &username).await;
            assert_eq!(challenge["mfa_required"], true, "login with TOTP on: {challenge}");
            let second = json!({
                "mfa_token": challenge["mfa_token"],
                "code": secret.code(confirmed_at + time::Duration::seconds(30)),
            });
            http("POST", "/login/mfa", None, Some(second), 200)
        }
        // The OpenID Provider. Registration: a new client each call.
        "oauth-clients" => {
            let metadata = oauth::confidential_metadata(&format!("bench client {n}"));
            http("POST", "/oauth/clients", Some(&fixtures.admin_token), Some(metadata), 201)
        }
        // The hosted login page's sign-in post (argon2, as POST /login): a new browser each call,
        // its login page fetched by the (unmeasured) authorize function; the user consented
        // before, so the answer is the 303 to the client with a code.
        "authorize" => {
            let mut browser = Browser::new(PUBLIC_BASE_URL);
            let pkce = oauth::Pkce::new();
            let query =
                oauth::authorization_query(&fixtures.oauth.client.id, OAUTH_SCOPE, &pkce, "bench", "n");
            let sign_in = browser
                .sign_in_request(gateway, &query, OAUTH_USER, PASSWORD)
                .await
                .unwrap_or_else(|e| panic!("the login page: {e}"));
            Call { event: gateway.routed(sign_in, true).1, expect_status: Some(303) }
        }
        // The authorization-code grant: a code of its own each call, issued by the (unmeasured)
        // authorize function to the signed-in browser; an access, a refresh and an RS256 ID token.
        "oauth-token" => {
            let pkce = oauth::Pkce::new();
            let query =
                oauth::authorization_query(&fixtures.oauth.client.id, OAUTH_SCOPE, &pkce, "bench", "n");
            let authorized = fixtures
                .oauth
                .browser
                .authorize(gateway, &query, OAUTH_USER, PASSWORD)
                .await
                .unwrap_or_else(|e| panic!("a code: {e}"));
            let pairs = [
                ("grant_type", "authorization_code"),
                ("code", authorized.code()),
                ("redirect_uri", oauth::REDIRECT_URI),
                ("code_verifier", &pkce.verifier),
            ];
            let form = oauth::client_form("/oauth/token", &fixtures.oauth.client, &pairs);
            Call { event: gateway.routed(form, true).1, expect_status: Some(200) }
        }
        "userinfo" => {
            let token = fixtures.oauth.access_token(gateway).await;
            http("GET", "/oauth/userinfo", Some(&token), None, 200)
        }
        "oauth-introspect" => {
            let token = fixtures.oauth.access_token(gateway).await;
            let form = oauth::client_form("/oauth/introspect", &fixtures.oauth.client, &[("token", &token)]);
            Call { event: gateway.routed(form, true).1, expect_status: Some(200) }
        }
        // Revoking a refresh token ends its grant: each call revokes a grant of its own, made by
        // the (unmeasured) authorize and oauth-token functions.
        "oauth-revoke" => {
            let tokens = fixtures.oauth.code_flow(gateway).await;
            let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
            let pairs = [("token", refresh), ("token_type_hint", "refresh_token")];
            let form = oauth::client_form("/oauth/revoke", &fixtures.oauth.client, &pairs);
            Call { event: gateway.routed(form, true).1, expect_status: Some(200) }
        }
        // RP-initiated logout with the ID token as hint: it ends the browser's session and sends
        // it to the client. Each call ends a session of its own, begun by the (unmeasured)
        // authorize function's sign-in.
        "end-session" => {
            let mut browser = Browser::new(PUBLIC_BASE_URL);
            let pkce = oauth::Pkce::new();
            let query =
                oauth::authorization_query(&fixtures.oauth.client.id, OAUTH_SCOPE, &pkce, "bench", "n");
            let signed_in = browser.authorize(gateway, &query, OAUTH_USER, PASSWORD).await;
            signed_in.unwrap_or_else(|e| panic!("a sign-in: {e}"));
            let hint = fixtures.oauth.tokens["id_token"].as_str().expect("an ID token");
            let logout = oauth::form_encode(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", oauth::POST_LOGOUT_URI),
                ("state", "bench"),
            ]);
            let request = request("GET", &format!("/oauth/logout?{logout}"), None, None);
            Call { event: gateway.routed(browser.with_cookies(request), true).1, expect_status: Some(303) }
        }
        "sweeper" => Call {
            event: json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            expect_status: None,
        },
        // It answers CloudFormation at the response URL (a local listener), and fails if it cannot.
        "signing-keys" => {
            // As the template gives it: the signing key and the RS256 ID-token key.
            let properties = json!({
                "KeyArn": gateway.stack().signing_key_arn(),
                "OtherKeyArn": "",
                "IdTokenKeyArn": fixtures.id_token_key_arn,
            });
            Call {
                event: json!({
                    "RequestType": "Update",
                    "ResponseURL": fixtures.cloudformation.url,
                    "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/stratus-bench/1",
                    "RequestId": format!("bench-{n}"),
                    "ResourceType": "Custom::SigningKeys",
                    "LogicalResourceId": "SigningKeys",
                    "PhysicalResourceId": "signing-keys",
                    "ResourceProperties": properties,
                    "OldResourceProperties": properties,
                }),
                expect_status: None,
            }
        }
        "worker" => {
            let message = fixtures.queued.pop().expect("enough queued tasks for every worker invocation");
            Call { event: sqs_event(&[message], gateway.stack().queue_arn()), expect_status: None }
        }
        other => first_route_call(gateway, other, fixtures),
    }
}

/// A new account with TOTP on: its secret and when its first code (that step) was spent.
async fn totp_user(gateway: &Gateway, username: &str) -> (TotpSecret, time::OffsetDateTime) {
    let registered =
        gateway.post_json("/register", &registration(username, &format!("{username}@example.com"))).await;
    assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    let session = login(gateway, username).await;
    let token = session["access_token"].as_str().expect("an access token");
    let begun = gateway.post_with_token("/users/me/mfa/totp", token, &json!({"password": PASSWORD})).await;
    assert_eq!(begun.status, 200, "{}", String::from_utf8_lossy(&begun.body));
    let secret = TotpSecret::from_base32(begun.json()["secret"].as_str().expect("a secret"))
        .unwrap_or_else(|e| panic!("the set-up's secret: {e}"));
    let confirmed_at = time::OffsetDateTime::now_utc();
    let confirmed = gateway
        .post_with_token("/users/me/mfa/totp/confirm", token, &json!({"code": secret.code(confirmed_at)}))
        .await;
    assert_eq!(confirmed.status, 200, "{}", String::from_utf8_lossy(&confirmed.body));
    (secret, confirmed_at)
}

async fn login(gateway: &Gateway, username: &str) -> Value {
    let reply = gateway.post_json("/login", &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(reply.status, 200, "login {username}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// A user and an admin with tokens, a stored message, a finished task, and `tasks` queued tasks
/// for the worker, all made through the functions themselves (those starts are not measured).
async fn fixtures(gateway: &Gateway, tasks: usize) -> Fixtures {
    let registered = gateway.post_json("/register", &registration("bench", "bench@example.com")).await;
    assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    let users = DynamoUserStore::new(
        aws_sdk_dynamodb::Client::new(gateway.stack().sdk()),
        gateway.stack().table(&tables::USERS),
    );
    let seed = AdminSeed::parse("root", "root@example.com", PASSWORD.to_owned()).expect("a valid seed");
    create_admin(&users, seed, time::OffsetDateTime::now_utc()).await.expect("admin bootstrapped");

    let session = login(gateway, "bench").await;
    let user_token = session["access_token"].as_str().expect("an access token").to_owned();
    let refresh_token = session["refresh_token"].as_str().expect("a refresh token").to_owned();
    let admin_token =
        login(gateway, "root").await["access_token"].as_str().expect("an access token").to_owned();

    let stored = gateway.post_json("/messages", &json!({"message": "foo"})).await;
    let digest = stored.json()["digest"].as_str().expect("a digest").to_owned();

    let added = gateway.post_with_token("/add", &user_token, &json!({"a": 5, "b": 10})).await;
    assert_eq!(added.status, 202, "{}", String::from_utf8_lossy(&added.body));
    let task_id = added.json()["task_id"].as_str().expect("a task id").to_owned();
    let delivery = gateway.deliver_queue().await;
    assert!(
        delivery.received == 1 && delivery.failed.is_empty(),
        "the first task runs: {}",
        delivery.response
    );

    for n in 0..tasks {
        let added = gateway.post_with_token("/add", &user_token, &json!({"a": n, "b": 2})).await;
        assert_eq!(added.status, 202, "{}", String::from_utf8_lossy(&added.body));
    }
    let queued = receive(gateway, tasks).await;
    for name in ["changer", "toggled", "resetter", "resender"] {
        let registered =
            gateway.post_json("/register", &registration(name, &format!("{name}@example.com"))).await;
        assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    }
    let resender_token =
        login(gateway, "resender").await["access_token"].as_str().expect("an access token").to_owned();
    let registered = gateway.post_json("/register", &registration("enroller", "enroller@example.com")).await;
    assert_eq!(registered.status, 201, "{}", String::from_utf8_lossy(&registered.body));
    let enroller_token =
        login(gateway, "enroller").await["access_token"].as_str().expect("an access token").to_owned();
    let oauth = OAuthFixtures::new(gateway, &admin_token).await;
    Fixtures {
        resender_token,
        enroller_token,
        user_token,
        admin_token,
        digest,
        task_id,
        refresh_token,
        queued,
        sequence: 0,
        changer_password: PASSWORD.to_owned(),
        oauth,
        id_token_key_arn: gateway.launch_spec("oauth-token").expect("oauth-token's launch spec").env
            [stratus_wiring::aws::ID_TOKEN_KEY_ARN]
            .clone(),
        cloudformation: std::sync::Arc::new(stratus_tests::cfn_response::ResponseUrl::start().await),
    }
}

/// Takes `count` messages off the task queue, to hand to the worker one event at a time.
async fn receive(gateway: &Gateway, count: usize) -> Vec<Message> {
    let sqs = aws_sdk_sqs::Client::new(gateway.stack().sdk());
    let mut messages = Vec::new();
    for _ in 0..count * 2 {
        if messages.len() >= count {
            break;
        }
        let received = sqs
            .receive_message()
            .queue_url(gateway.stack().queue_url())
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive: {}", aws_sdk_sqs::error::DisplayErrorContext(e)));
        messages.extend(received.messages.unwrap_or_default());
    }
    assert!(messages.len() >= count, "only {} of {count} task messages arrived", messages.len());
    messages
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn median(durations: &[Duration]) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
