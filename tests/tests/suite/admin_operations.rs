//! `stratus-admin`'s operations on a deployed stack, against moto with a fault at every call.
//!
//! moto's CloudFormation runs neither SAM's transform nor custom resources, so the stack here is
//! a stand-in: template.yaml's own parameters (every one, with its default), a placeholder
//! resource, and the outputs the operations read. What the parameters mean for the signing keys
//! is read from template.yaml's own conditions (`tests/src/template.rs` evaluates them), so the
//! check below is the template's, not a copy of it.
//!
//! Each operation is first run cleanly, counting its calls; then, for every call in turn, run
//! with a fault at that call (its answer lost after it was applied, expired credentials, a
//! stale ETag where CloudFront has one), and run again until it says it is done. Throttling past
//! the SDK's budget is tried once on its own. Each time the stack must end where a clean run ends it, and the proxy's
//! observer, which looks at the engines after every call that changed something, must never
//! see a moment when a token or a request would be refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::types::Parameter;
use serde_json::{Value, json};
use stratus_tests::faults::{Call, Fault, FaultProxy, Observer};
use stratus_tests::runtime_api::{Resolver, Template, binaries_dir};

/// moto: CloudFormation, Secrets Manager and CloudFront are all on its one port.
fn moto() -> String {
    std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").expect("the engines are running (make test)")
}

async fn sdk() -> aws_config::SdkConfig {
    stratus_aws::sdk_config().await
}

fn cloudformation(sdk: &aws_config::SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(sdk).endpoint_url(moto()).build(),
    )
}

/// A stand-in stack with template.yaml's parameters, and a samconfig.toml whose environment
/// `test` names it and lists every parameter, as `sam deploy --guided` saves them.
struct StandIn {
    name: String,
    dir: PathBuf,
}

impl StandIn {
    async fn create(outputs: &[(&str, &str)]) -> Self {
        let template = Template::workspace().unwrap();
        let parameters: serde_json::Map<String, Value> = template.root()["Parameters"]
            .as_object()
            .unwrap()
            .iter()
            // moto reads a CommaDelimitedList back as a Python list's text (`['']`): a String
            // stands in, which CloudFormation would hand back as it was given.
            .map(|(name, p)| (name.clone(), json!({"Type": if p["Type"] == "Number" { "Number" } else { "String" }, "Default": p["Default"]})))
            .collect();
        let body = json!({
            "Parameters": parameters,
            "Resources": {"Anchor": {"Type": "AWS::SNS::Topic"}},
            "Outputs": outputs.iter().map(|(k, v)| (k.to_string(), json!({"Value": v}))).collect::<serde_json::Map<_, _>>(),
        });
        let name = format!("admin-{}", uuid::Uuid::new_v4().simple());
        cloudformation(&sdk().await)
            .create_stack()
            .stack_name(&name)
            .template_body(body.to_string())
            .send()
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let saved = parameters
            .iter()
            .map(|(k, p)| {
                format!(
                    "{k}=\\\"{}\\\"",
                    p["Default"].as_str().map_or_else(|| p["Default"].to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(
            dir.join("samconfig.toml"),
            format!(
                "version = 0.1\n[test.global.parameters]\nstack_name = \"{name}\"\nregion = \"us-east-1\"\n\
                 [test.deploy.parameters]\ncapabilities = \"CAPABILITY_IAM\"\nparameter_overrides = \"{saved}\"\n"
            ),
        )
        .unwrap();
        Self { name, dir }
    }

    async fn parameters(&self) -> BTreeMap<String, String> {
        parameters_of(&self.name).await
    }

    /// Runs stratus-admin on this stack through `proxy`.
    fn admin(&self, proxy: &FaultProxy, args: &[&str]) -> (bool, String) {
        self.admin_with(proxy, None, args, "")
    }

    /// The same, with DynamoDB through `tables` and `input` on standard input.
    fn admin_with(
        &self,
        proxy: &FaultProxy,
        tables: Option<&FaultProxy>,
        args: &[&str],
        input: &str,
    ) -> (bool, String) {
        use std::io::Write as _;
        let mut command = std::process::Command::new(binaries_dir().join("stratus-admin"));
        command.args(args).args(["--config-env", "test"]).current_dir(&self.dir);
        for service in ["CLOUDFORMATION", "SECRETS_MANAGER", "CLOUDFRONT"] {
            command.env(format!("AWS_ENDPOINT_URL_{service}"), &proxy.url);
        }
        if let Some(tables) = tables {
            command.env("AWS_ENDPOINT_URL_DYNAMODB", &tables.url);
        }
        // The tables come from the stand-in's outputs, through `tables`, never from the environment.
        command
            .env("STRATUS_ADMIN_POLL_MS", "10")
            .env_remove("USERS_TABLE")
            .env_remove("OAUTH_CLIENTS_TABLE");
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        // A command that stops before reading its input closes the pipe: that is its answer, not ours.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        let output = child.wait_with_output().unwrap();
        let said =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), said)
    }

    fn samconfig(&self) -> String {
        std::fs::read_to_string(self.dir.join("samconfig.toml")).unwrap()
    }
}

async fn parameters_of(stack: &str) -> BTreeMap<String, String> {
    let described = cloudformation(&sdk().await).describe_stacks().stack_name(stack).send().await.unwrap();
    described.stacks()[0]
        .parameters()
        .iter()
        .map(|p: &Parameter| {
            (p.parameter_key().unwrap().to_owned(), p.parameter_value().unwrap_or_default().to_owned())
        })
        .collect()
}

/// Runs `args` until it succeeds (at most `runs` times); what each run said.
fn until_done(stand_in: &StandIn, proxy: &FaultProxy, args: &[&str], runs: usize) -> Vec<String> {
    until_done_with(stand_in, proxy, None, args, "", runs)
}

fn until_done_with(
    stand_in: &StandIn,
    proxy: &FaultProxy,
    tables: Option<&FaultProxy>,
    args: &[&str],
    input: &str,
    runs: usize,
) -> Vec<String> {
    let mut said = Vec::new();
    for _ in 0..runs {
        let (ok, output) = stand_in.admin_with(proxy, tables, args, input);
        said.push(output);
        if ok {
            return said;
        }
    }
    panic!("{args:?} never finished:\n{}", said.join("\n----\n"));
}

// ------------------------------------------------------------------ the signing key

/// The keys a stack state publishes and the one that signs, by template.yaml's conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keys {
    signs: &'static str,
    published: Vec<&'static str>,
}

fn keys(parameters: &BTreeMap<String, String>) -> Keys {
    let mut resolver = Resolver::new(Template::workspace().unwrap(), "us-east-1");
    for (k, v) in parameters {
        resolver.parameters.insert(k.clone(), Value::String(v.clone()));
    }
    let holds = |name: &str| resolver.condition(name).unwrap();
    let mut published = Vec::new();
    if holds("BlueSigningKey") {
        published.push("blue");
    }
    if holds("GreenSigningKey") {
        published.push("green");
    }
    Keys { signs: if holds("SignsWithGreen") { "green" } else { "blue" }, published }
}

/// Every moment refuses no token: the key that signs is published, a key that starts signing
/// was published the moment before (every cache has it), and one that stops signing stays
/// published the moment after (its tokens still verify). Returns what went wrong.
fn refused_tokens(states: &[BTreeMap<String, String>]) -> Vec<String> {
    let keys: Vec<Keys> = states.iter().map(keys).collect();
    let mut wrong = Vec::new();
    for (i, now) in keys.iter().enumerate() {
        if !now.published.contains(&now.signs) {
            wrong.push(format!("state {i}: {} signs unpublished ({now:?})", now.signs));
        }
        if let Some(before) = i.checked_sub(1).map(|j| &keys[j]) {
            if !before.published.contains(&now.signs) {
                wrong.push(format!(
                    "state {i}: {} signs without having been published ({before:?} -> {now:?})",
                    now.signs
                ));
            }
            if !now.published.contains(&before.signs) {
                wrong.push(format!(
                    "state {i}: {} stopped verifying at once ({before:?} -> {now:?})",
                    before.signs
                ));
            }
        }
    }
    wrong
}

/// A proxy whose observer records the stand-in's signing parameters after every change.
async fn recording_proxy(stack: &str) -> (FaultProxy, Arc<Mutex<Vec<BTreeMap<String, String>>>>) {
    let states = Arc::new(Mutex::new(Vec::new()));
    let (seen, name) = (states.clone(), stack.to_owned());
    let observer: Observer = Arc::new(move |_operation| {
        let (seen, name) = (seen.clone(), name.clone());
        Box::pin(async move {
            let now = parameters_of(&name).await;
            let mut seen = seen.lock().unwrap();
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        })
    });
    (FaultProxy::start(moto(), Some(observer)).await.unwrap(), states)
}

const ROTATE: [&str; 7] =
    ["rotate-signing-key", "--to", "green", "--publish-wait", "0", "--retire-wait", "0"];

fn slots(states: &[BTreeMap<String, String>]) -> Vec<(String, String)> {
    states.iter().map(|p| (p["SigningKeySlot"].clone(), p["OtherSigningKey"].clone())).collect()
}

/// A rotation to green run by `args` on a fresh stand-in until it finishes, with `fault` at the
/// call `index` of a clean run (`clean_calls`): it went through the three steps and no moment
/// refused a token. What the caller checks further: the stand-in, its proxy, the states, what
/// each run said, and the context for messages.
struct Rotated {
    stand_in: StandIn,
    proxy: FaultProxy,
    states: Vec<BTreeMap<String, String>>,
    said: Vec<String>,
    context: String,
}

async fn rotated_under(args: &[&str], fault: Option<(usize, Fault)>, clean_calls: &[Call]) -> Rotated {
    let stand_in = StandIn::create(&[]).await;
    let (proxy, states) = recording_proxy(&stand_in.name).await;
    let first = stand_in.parameters().await;
    states.lock().unwrap().push(first);
    if let Some((index, kind)) = fault {
        let operation = &clean_calls[index].operation;
        let earlier = clean_calls[..index].iter().filter(|c| &c.operation == operation).count();
        proxy.fail_after(operation, earlier, kind);
    }
    let said = until_done(&stand_in, &proxy, args, 4);
    let states = states.lock().unwrap().clone();
    let context = format!("fault {fault:?}:\n{}", said.join("\n----\n"));
    assert_eq!(
        slots(&states),
        [("blue", "none"), ("blue", "next"), ("green", "previous"), ("green", "none")]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{context}"
    );
    assert_eq!(refused_tokens(&states), Vec::<String>::new(), "{context}");
    Rotated { stand_in, proxy, states, said, context }
}

async fn rotation_under(fault: Option<(usize, Fault)>, clean_calls: &[Call]) -> Vec<Call> {
    let Rotated { stand_in, proxy, context, .. } = rotated_under(&ROTATE, fault, clean_calls).await;
    let samconfig = stand_in.samconfig();
    assert!(
        samconfig.contains("SigningKeySlot=\"green\"") && samconfig.contains("OtherSigningKey=\"none\""),
        "{samconfig}"
    );
    let calls = proxy.calls();
    assert_eq!(proxy.pending(), 0, "the fault was never met\n{context}");
    let (ok, status) = stand_in.admin(&proxy, &["status"]);
    assert!(ok && status.contains("a plain sam deploy keeps every parameter"), "{status}");
    calls
}

/// A switch from a KMS key to a sealed one is a rotation whose new key is sealed
/// (docs/signing.md): green is made sealed at the publish step, so no moment refuses a token;
/// a rerun finds nothing to do; another type is refused while green signs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_sealed_key_is_a_rotation() {
    let stand_in = StandIn::create(&[]).await;
    let (proxy, states) = recording_proxy(&stand_in.name).await;
    let first = stand_in.parameters().await;
    states.lock().unwrap().push(first);
    let switch = [
        "rotate-signing-key",
        "--to",
        "green",
        "--type",
        "sealed",
        "--publish-wait",
        "0",
        "--retire-wait",
        "0",
    ];
    let said = until_done(&stand_in, &proxy, &switch, 1);
    let states = states.lock().unwrap().clone();
    let context = said.join("\n----\n");
    assert_eq!(
        slots(&states),
        [("blue", "none"), ("blue", "next"), ("green", "previous"), ("green", "none")]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{context}"
    );
    let types: Vec<(String, String)> =
        states.iter().map(|p| (p["BlueSigningKeyType"].clone(), p["GreenSigningKeyType"].clone())).collect();
    assert_eq!(
        types,
        [("kms", "kms"), ("kms", "sealed"), ("kms", "sealed"), ("kms", "sealed")]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{context}"
    );
    assert_eq!(refused_tokens(&states), Vec::<String>::new(), "{context}");
    assert!(stand_in.samconfig().contains("GreenSigningKeyType=\"sealed\""), "{}", stand_in.samconfig());
    let (ok, again) = stand_in.admin(&proxy, &switch);
    assert!(ok && again.contains("nothing to do"), "{again}");
    let (ok, other) = stand_in.admin(&proxy, &["rotate-signing-key", "--to", "green", "--type", "kms"]);
    assert!(!ok && other.contains("leave out --to"), "{other}");
    let (ok, status) = stand_in.admin(&proxy, &["status"]);
    assert!(ok && status.contains("key types: blue kms, green sealed"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_rotation_survives_a_fault_at_every_call() {
    let clean = rotation_under(None, &[]).await;
    assert!(clean.iter().all(|c| c.status == 200), "{clean:?}");
    let scenarios = at_every_call(&clean, rotation_under).await;
    println!("signing-key rotation: {} calls, {scenarios} faulted runs, no token refused", clean.len());
}

/// Runs `under` once for each fault `faults_for` gives each call of a clean run, and checks that
/// every run met its fault; the number of runs.
async fn at_every_call(
    clean: &[Call],
    under: impl AsyncFn(Option<(usize, Fault)>, &[Call]) -> Vec<Call>,
) -> usize {
    let mut scenarios = 0;
    for (index, call) in clean.iter().enumerate() {
        for fault in faults_for(call) {
            let calls = under(Some((index, fault)), clean).await;
            assert!(
                calls.iter().any(|c| !c.forwarded || c.status == 500),
                "the fault at {index} ({call:?}) was not met"
            );
            scenarios += 1;
        }
    }
    scenarios
}

const SWITCH: [&str; 9] =
    ["rotate-signing-key", "--to", "green", "--type", "sealed", "--publish-wait", "0", "--retire-wait", "0"];

/// A switch to a sealed key with `fault` at the call `index` of a clean switch: the run that
/// meets it fails saying how to resume, the next resumes, and no moment refuses a token.
async fn switch_under(fault: Option<(usize, Fault)>, clean_calls: &[Call]) -> Vec<Call> {
    let Rotated { stand_in, proxy, states, said, context } = rotated_under(&SWITCH, fault, clean_calls).await;
    // A run that failed once the switch had begun changing the stack says how to resume.
    let is_read = |c: &Call| ["Describe", "Get", "List"].iter().any(|read| c.operation.starts_with(read));
    let mid_way = fault.is_some_and(|(index, _)| clean_calls[..=index].iter().any(|c| !is_read(c)));
    for failed in &said[..said.len() - 1] {
        assert!(failed.contains("stratus-admin: "), "a failed run says why\n{context}");
        if mid_way {
            assert!(
                failed.contains("rotate-signing-key --to green --type sealed` again"),
                "a failed run says how to resume\n{context}"
            );
        }
    }
    let types: Vec<(String, String)> =
        states.iter().map(|p| (p["BlueSigningKeyType"].clone(), p["GreenSigningKeyType"].clone())).collect();
    assert_eq!(types.last().map(|(b, g)| (b.as_str(), g.as_str())), Some(("kms", "sealed")), "{context}");
    assert!(stand_in.samconfig().contains("GreenSigningKeyType=\"sealed\""), "{}", stand_in.samconfig());
    assert_eq!(proxy.pending(), 0, "the fault was never met\n{context}");
    let calls = proxy.calls();
    let (ok, status) = stand_in.admin(&proxy, &["status"]);
    assert!(ok && status.contains("key types: blue kms, green sealed"), "{status}");
    calls
}

/// A switch of key kind is the rotation with a sealed key at its publish step: a fault at any
/// of its calls (credentials expired, or the answer to a change lost after it was applied)
/// fails the run cleanly, the next run resumes from where the stack is, and tokens signed
/// before, during and after all verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_of_key_kind_survives_a_fault_at_every_call() {
    let clean = switch_under(None, &[]).await;
    assert!(clean.iter().all(|c| c.status == 200), "{clean:?}");
    let scenarios = at_every_call(&clean, switch_under).await;
    println!("switch to a sealed key: {} calls, {scenarios} faulted runs, no token refused", clean.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_catches_a_switch_that_skips_publishing() {
    // The negative control: switching slots in one step (what the README's old `sam deploy`
    // did, and what a plain deploy with the parameter overridden still does) signs with a key no
    // cache has, and deletes the old one while its tokens live.
    let stand_in = StandIn::create(&[]).await;
    let (proxy, _) = recording_proxy(&stand_in.name).await;
    let first = stand_in.parameters().await;
    // set-parameter will not take that step: it names the command that does, and calls nothing.
    let (ok, said) = stand_in.admin(&proxy, &["set-parameter", "SigningKeySlot=green"]);
    assert!(!ok && said.contains("`stratus-admin rotate-signing-key`"), "{said}");
    assert!(proxy.calls().is_empty(), "{:?}", proxy.calls());
    assert_eq!(stand_in.parameters().await, first);
    // The same step straight on the stack.
    let mut switched = first.clone();
    switched.insert("SigningKeySlot".into(), "green".into());
    cloudformation(&sdk().await)
        .update_stack()
        .stack_name(&stand_in.name)
        .use_previous_template(true)
        .set_parameters(Some(
            switched
                .iter()
                .map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stand_in.parameters().await, switched);
    let wrong = refused_tokens(&[first, switched]);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_within_the_sdk_budget_and_no_further() {
    let stand_in = StandIn::create(&[]).await;
    let (proxy, _) = recording_proxy(&stand_in.name).await;
    // Two throttled answers: the third attempt (the SDK's standard budget is 3) goes through.
    proxy.fail("CreateChangeSet", 2, Fault::Throttle);
    let (ok, said) = stand_in.admin(&proxy, &["set-parameter", "LogRetentionDays=90"]);
    assert!(ok, "{said}");
    let attempts = proxy.calls().iter().filter(|c| c.operation == "CreateChangeSet").count();
    assert_eq!(attempts, 3, "{:?}", proxy.calls());
    // Three: the budget is spent and the command stops, having changed nothing.
    proxy.clear();
    proxy.fail("CreateChangeSet", 3, Fault::Throttle);
    let (ok, said) = stand_in.admin(&proxy, &["set-parameter", "LogRetentionDays=120"]);
    assert!(!ok && said.contains("Throttling"), "{said}");
    assert_eq!(proxy.calls().iter().filter(|c| c.operation == "CreateChangeSet").count(), 3);
    assert_eq!(stand_in.parameters().await["LogRetentionDays"], "90");
    // Run again, the service calm: it finishes.
    let (ok, said) = stand_in.admin(&proxy, &["set-parameter", "LogRetentionDays=120"]);
    assert!(ok, "{said}");
    assert_eq!(stand_in.parameters().await["LogRetentionDays"], "120");
}

// ------------------------------------------------------------------ parameters and the WAF

const WEB_ACL: &str = "arn:aws:wafv2:us-east-1:000000000000:global/webacl/stratus-edge/abc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_operations_survive_faults_and_a_plain_deploy_keeps_their_values() {
    let stand_in = StandIn::create(&[("CloudFrontUrl", "https://d111abcdef8.cloudfront.net")]).await;
    let (proxy, _) = recording_proxy(&stand_in.name).await;
    let operations: [(&[&str], &str, &str); 4] = [
        (&["attach-waf", "--web-acl-arn", WEB_ACL], "WebAclArn", WEB_ACL),
        (&["set-public-url"], "PublicBaseUrl", "https://d111abcdef8.cloudfront.net"),
        (&["set-parameter", "LoginRateLimit=9", "AlarmEmail=ops@example.com"], "LoginRateLimit", "9"),
        (&["detach-waf"], "WebAclArn", ""),
    ];
    for (fault, (args, key, value)) in
        [Fault::AnswerLost, Fault::ExpiredCredentials, Fault::AnswerLost, Fault::Throttle]
            .into_iter()
            .zip(operations)
    {
        let times = if fault == Fault::Throttle { 3 } else { 1 };
        proxy.fail("ExecuteChangeSet", times, fault);
        let said = until_done(&stand_in, &proxy, args, 3);
        assert_eq!(stand_in.parameters().await[key], value, "{args:?}: {said:?}");
        let (ok, status) = stand_in.admin(&proxy, &["status"]);
        assert!(ok && status.contains("a plain sam deploy keeps every parameter"), "{args:?}: {status}");
        // Done already: a rerun changes nothing and says so.
        let (ok, again) = stand_in.admin(&proxy, args);
        assert!(ok && again.contains("already"), "{args:?} again: {again}");
    }
    assert_eq!(stand_in.parameters().await["AlarmEmail"], "ops@example.com");
    let (ok, said) = stand_in
        .admin(&proxy, &["set-public-url", "--url", "https://abc.execute-api.us-east-1.amazonaws.com"]);
    assert!(!ok && said.contains("API Gateway's own endpoint"), "{said}");
    let (ok, said) = stand_in.admin(&proxy, &["set-parameter", "NoSuchParameter=1"]);
    assert!(!ok && said.contains("no parameter NoSuchParameter"), "{said}");
}

/// The `n`th (call, fault) pair of a clean run's calls, and how many calls of the same operation
/// came before that call (what `FaultProxy::fail_after` skips); None past the last.
fn nth_fault(clean: &[Call], n: usize) -> Option<(usize, Fault, usize)> {
    let (index, fault) = clean
        .iter()
        .enumerate()
        .flat_map(|(i, call)| faults_for(call).into_iter().map(move |f| (i, f)))
        .nth(n)?;
    let earlier = clean[..index].iter().filter(|c| c.operation == clean[index].operation).count();
    Some((index, fault, earlier))
}

/// The faults tried at a call: every call can meet expired credentials, which fail the step; one
/// that changes something can also be applied with its answer lost. (Throttling fails a step only
/// past the SDK's attempts, which `throttling_is_retried_within_the_sdk_budget_and_no_further`
/// shows once: it takes the same path as any other failed call.)
fn faults_for(call: &Call) -> Vec<Fault> {
    let mut faults = vec![Fault::ExpiredCredentials];
    if !["Describe", "Get", "List", "Query"].iter().any(|read| call.operation.starts_with(read)) {
        faults.push(Fault::AnswerLost);
    }
    faults
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_commands_survive_a_fault_at_every_call() {
    let cases: [(&[&str], &str, &str); 3] = [
        (&["attach-waf", "--web-acl-arn", WEB_ACL], "WebAclArn", WEB_ACL),
        (&["set-public-url"], "PublicBaseUrl", "https://d111abcdef8.cloudfront.net"),
        (&["set-parameter", "LoginRateLimit=9"], "LoginRateLimit", "9"),
    ];
    let mut runs = 0;
    for (args, key, value) in cases {
        let mut clean = Vec::new();
        for fault in std::iter::once(None).chain((0..).map(Some)) {
            let stand_in = StandIn::create(&[("CloudFrontUrl", "https://d111abcdef8.cloudfront.net")]).await;
            let (proxy, _) = recording_proxy(&stand_in.name).await;
            let (index, kind) = match fault {
                None => (usize::MAX, Fault::Throttle),
                Some(n) => {
                    let Some((index, kind, earlier)) = nth_fault(&clean, n) else { break };
                    proxy.fail_after(&clean[index].operation, earlier, kind);
                    (index, kind)
                }
            };
            let said = until_done(&stand_in, &proxy, args, 3);
            assert_eq!(
                stand_in.parameters().await[key],
                value,
                "{args:?}, fault {kind:?} at {index}: {said:?}"
            );
            assert_eq!(proxy.pending(), 0, "{args:?}: the fault at {index} was never met");
            if fault.is_none() {
                clean = proxy.calls();
            } else {
                runs += 1;
            }
            let (ok, status) = stand_in.admin(&proxy, &["status"]);
            assert!(ok && status.contains("a plain sam deploy keeps every parameter"), "{args:?}: {status}");
        }
    }
    println!(
        "parameter commands: {runs} faulted runs, each ending with the value set and samconfig.toml in step"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_survives_a_fault_at_every_call() {
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let tables_upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the engines are running");
    let mut clean: Vec<Call> = Vec::new();
    let mut runs = 0;
    for fault in std::iter::once(None).chain((0..).map(Some)) {
        let table = format!("admin-users-{}", uuid::Uuid::new_v4().simple());
        stratus_aws::dynamodb::tables::ensure_table(&dynamodb, &table, &stratus_aws::dynamodb::tables::USERS)
            .await
            .unwrap();
        let stand_in = StandIn::create(&[("UsersTableName", &table)]).await;
        let proxy = FaultProxy::start(moto(), None).await.unwrap();
        let tables = FaultProxy::start(tables_upstream.clone(), None).await.unwrap();
        if let Some(n) = fault {
            // The calls of both proxies, CloudFormation's first: the command reads the stack first.
            let Some((index, kind, earlier)) = nth_fault(&clean, n) else { break };
            let call = &clean[index];
            let through = if ["DescribeStacks", "DescribeStackEvents"].contains(&call.operation.as_str()) {
                &proxy
            } else {
                &tables
            };
            through.fail_after(&call.operation, earlier, kind);
        }
        let args = ["create-admin", "--username", "root", "--email", "root@example.com"];
        let said = until_done_with(&stand_in, &proxy, Some(&tables), &args, "a long admin passphrase\n", 3);
        let context = format!("fault {fault:?}:\n{}", said.join("\n----\n"));
        let users = stratus_aws::dynamodb::DynamoUserStore::new(dynamodb.clone(), table.clone());
        use stratus_core::ports::UserStore as _;
        let root = users.get(&stratus_core::domain::Username::parse("root").unwrap()).await.unwrap();
        assert!(root.is_some_and(|user| user.is_active_admin()), "{context}");
        assert_eq!(users.active_admins().await.unwrap(), 1, "the count is exact\n{context}");
        assert_eq!(proxy.pending() + tables.pending(), 0, "the fault was never met\n{context}");
        match fault {
            None => clean = [proxy.calls(), tables.calls()].concat(),
            Some(_) => runs += 1,
        }
        let (ok, again) = stand_in.admin_with(&proxy, Some(&tables), &args, "a long admin passphrase\n");
        assert!(ok && again.contains("admin already"), "{again}");
    }
    assert!(runs > 0);
    println!(
        "create-admin: {} calls, {runs} faulted runs, one admin and an exact count each time",
        clean.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing_and_drift_is_reported_then_synced() {
    let stand_in = StandIn::create(&[]).await;
    let (proxy, _) = recording_proxy(&stand_in.name).await;
    let before = stand_in.samconfig();
    let (ok, said) = stand_in.admin(&proxy, &["rotate-signing-key", "--dry-run"]);
    assert!(ok && said.contains("dry run") && said.contains("step 1 of 3"), "{said}");
    assert_eq!(stand_in.parameters().await["OtherSigningKey"], "none");
    assert_eq!(stand_in.samconfig(), before);
    assert!(proxy.calls().iter().all(|c| c.operation != "ExecuteChangeSet"), "{:?}", proxy.calls());
    let (ok, said) = stand_in.admin(&proxy, &["rotate-signing-key", "--to", "blue"]);
    assert!(ok && said.contains("blue already signs alone"), "{said}");

    // Someone changed the stack by hand: status tells, sync-config writes the stack's value.
    cloudformation(&sdk().await)
        .update_stack()
        .stack_name(&stand_in.name)
        .use_previous_template(true)
        .set_parameters(Some(
            stand_in
                .parameters()
                .await
                .into_iter()
                .map(|(k, v)| {
                    let v = if k == "LogRetentionDays" { "7".to_owned() } else { v };
                    Parameter::builder().parameter_key(k).parameter_value(v).build()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let (_, status) = stand_in.admin(&proxy, &["status"]);
    assert!(status.contains("would set LogRetentionDays from \"7\" to \"30\""), "{status}");
    let (ok, said) = stand_in.admin(&proxy, &["sync-config"]);
    assert!(ok, "{said}");
    let (_, status) = stand_in.admin(&proxy, &["status"]);
    assert!(status.contains("a plain sam deploy keeps every parameter"), "{status}");
}

// ------------------------------------------------------------------ OAuth clients

const CLIENT: [&str; 5] =
    ["register-client", "--client-id", "my-web-app", "--redirect-uri", "https://app.example.com/cb"];

/// A clients table on DynamoDB Local behind `tables`, and a stand-in stack naming it in its
/// `OAuthClientsTableName` output, read through `proxy`.
struct Clients {
    stand_in: StandIn,
    proxy: FaultProxy,
    tables: FaultProxy,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Clients {
    async fn create() -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk().await);
        let table = format!("admin-clients-{}", uuid::Uuid::new_v4().simple());
        let spec = &stratus_aws::dynamodb::tables::OAUTH_CLIENTS;
        stratus_aws::dynamodb::tables::ensure_table(&dynamodb, &table, spec).await.unwrap();
        let stand_in = StandIn::create(&[("OAuthClientsTableName", &table)]).await;
        let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the engines are running");
        Self {
            stand_in,
            proxy: FaultProxy::start(moto(), None).await.unwrap(),
            tables: FaultProxy::start(upstream, None).await.unwrap(),
            dynamodb,
            table,
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        self.stand_in.admin_with(&self.proxy, Some(&self.tables), args, "")
    }

    fn until_done(&self, args: &[&str]) -> Vec<String> {
        until_done_with(&self.stand_in, &self.proxy, Some(&self.tables), args, "", 3)
    }

    /// Both proxies' calls, CloudFormation's first: the command reads the stack first.
    fn calls(&self) -> Vec<Call> {
        [self.proxy.calls(), self.tables.calls()].concat()
    }

    fn writes(&self) -> usize {
        self.tables.calls().iter().filter(|c| c.operation == "PutItem").count()
    }

    /// Scripts the `n`th fault of a clean run's `clean` calls on the proxy that carries it.
    fn schedule(&self, clean: &[Call], n: usize) -> Option<(usize, Fault)> {
        let (index, kind, earlier) = nth_fault(clean, n)?;
        let operation = &clean[index].operation;
        let through = if operation.starts_with("DescribeStack") { &self.proxy } else { &self.tables };
        through.fail_after(operation, earlier, kind);
        Some((index, kind))
    }

    fn store(&self) -> stratus_aws::dynamodb::DynamoClientStore {
        stratus_aws::dynamodb::DynamoClientStore::new(self.dynamodb.clone(), self.table.clone())
    }

    async fn count(&self) -> i32 {
        let scan = self.dynamodb.scan().table_name(&self.table);
        scan.select(aws_sdk_dynamodb::types::Select::Count).send().await.unwrap().count
    }

    async fn client(&self, id: &str) -> Option<stratus_core::domain::OAuthClient> {
        use stratus_core::ports::ClientStore as _;
        let id = stratus_core::domain::ClientId::parse(id).unwrap();
        self.store().get(&id).await.unwrap()
    }

    /// Whether `secret` authenticates `id` at the token endpoint (HTTP Basic, as registered).
    async fn authenticates(&self, id: &str, secret: &str) -> bool {
        use stratus_auth::oauth::clients::{Presented, authenticate};
        let presented = Presented::Basic { id: id.to_owned(), secret: secret.to_owned() };
        authenticate(&self.store(), &presented).await.is_ok()
    }
}

/// The credentials a run printed: the one JSON line on its standard output, if there is one.
fn printed(said: &str) -> Option<Value> {
    let line = said.lines().find(|line| line.starts_with('{'))?;
    Some(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
}

fn secret_of(said: &str) -> String {
    let shown = printed(said).unwrap_or_else(|| panic!("no credentials printed:\n{said}"));
    shown["client_secret"].as_str().unwrap_or_else(|| panic!("no secret: {shown}")).to_owned()
}

/// A rerun of `CLIENT` finds the client as it is: "unchanged", and no credentials.
fn assert_unchanged(clients: &Clients, context: &str) {
    let (ok, again) = clients.run(&CLIENT);
    assert!(ok && again.contains("unchanged") && printed(&again).is_none(), "{again}\n{context}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_client_survives_a_fault_at_every_call() {
    let rotate: Vec<&str> = CLIENT.iter().copied().chain(["--rotate-secret"]).collect();
    let mut runs = 0;
    for (case, args) in [("create", &CLIENT[..]), ("rotate", &rotate[..])] {
        let mut clean: Vec<Call> = Vec::new();
        for fault in std::iter::once(None).chain((0..).map(Some)) {
            let clients = Clients::create().await;
            // Rotation starts from a client made by a clean run, whose secret is then seen.
            let first = (case == "rotate").then(|| secret_of(&clients.run(&CLIENT).1));
            clients.proxy.clear();
            clients.tables.clear();
            let scheduled = match fault {
                None => None,
                Some(n) => match clients.schedule(&clean, n) {
                    Some(at) => Some(at),
                    None => break,
                },
            };
            let said = clients.until_done(args);
            let context = format!("{case}, fault {scheduled:?}:\n{}", said.join("\n----\n"));
            assert_eq!(clients.count().await, 1, "exactly one client\n{context}");
            // The run that finished showed credentials, and they are the ones that work.
            let secret = secret_of(said.last().unwrap());
            assert!(clients.authenticates("my-web-app", &secret).await, "{context}");
            // A write applied whose answer was lost is recognised by the same run, which then
            // shows the credentials it stored: nobody is left without a secret.
            if let Some((_, Fault::AnswerLost)) = scheduled {
                assert_eq!(said.len(), 1, "{context}");
            }
            if let Some(first) = first {
                assert!(
                    !clients.authenticates("my-web-app", &first).await,
                    "the old secret works\n{context}"
                );
            }
            assert_eq!(
                clients.proxy.pending() + clients.tables.pending(),
                0,
                "the fault was never met\n{context}"
            );
            match fault {
                None => clean = clients.calls(),
                Some(_) => runs += 1,
            }
            assert_unchanged(&clients, &context);
        }
        assert!(clean.iter().any(|c| c.operation == "PutItem"), "{case}: {clean:?}");
    }
    assert!(runs > 0);
    println!(
        "register-client: {runs} faulted runs, one client each time, its printed secret the one that works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_client_creates_then_finds_replaces_and_rotates() {
    let clients = Clients::create().await;

    // Refused metadata: said why, before any call.
    let refused =
        ["register-client", "--client-id", "my-web-app", "--redirect-uri", "http://app.example.com/cb"];
    let (ok, said) = clients.run(&refused);
    assert!(!ok && said.contains("http is allowed for loopback addresses only"), "{said}");
    assert!(clients.calls().is_empty(), "{:?}", clients.calls());
    let (ok, said) = clients.run(&["register-client", "--client-id", "my web app"]);
    assert!(!ok && said.contains("--client-id"), "{said}");

    // A dry run reads, says, writes nothing.
    let dry: Vec<&str> = CLIENT.iter().copied().chain(["--dry-run"]).collect();
    let (ok, said) = clients.run(&dry);
    assert!(ok && said.contains("would create") && said.contains("nothing was changed"), "{said}");
    assert!(printed(&said).is_none(), "{said}");
    assert_eq!((clients.count().await, clients.writes()), (0, 0));

    let (ok, said) = clients.run(&CLIENT);
    assert!(ok, "{said}");
    let shown = printed(&said).unwrap();
    assert_eq!(shown["client_id"], "my-web-app", "{said}");
    assert!(shown["registration_access_token"].is_string(), "{said}");
    let secret = secret_of(&said);
    assert_eq!(clients.count().await, 1);
    assert!(clients.authenticates("my-web-app", &secret).await);
    assert!(!clients.authenticates("my-web-app", "not-the-secret").await);

    // Found as it is: no secret, and (it is new) how to get one if the answer was lost.
    let (ok, said) = clients.run(&CLIENT);
    assert!(
        ok && said.contains("unchanged") && printed(&said).is_none() && !said.contains(&secret),
        "{said}"
    );
    assert!(said.contains("if you did not see its secret, rerun with --rotate-secret"), "{said}");

    // Other metadata: replaced, credentials kept. A dry run of it first changes nothing.
    let moved = [
        "register-client",
        "--client-id",
        "my-web-app",
        "--redirect-uri",
        "https://app.example.com/callback",
    ];
    let before = clients.client("my-web-app").await;
    let writes = clients.writes();
    let dry: Vec<&str> = moved.iter().copied().chain(["--dry-run"]).collect();
    let (ok, said) = clients.run(&dry);
    assert!(
        ok && said.contains("would change redirect_uris") && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!((clients.client("my-web-app").await, clients.writes()), (before, writes));
    let (ok, said) = clients.run(&moved);
    assert!(ok && said.contains("replaced") && printed(&said).is_none(), "{said}");
    assert!(
        said.contains(
            r#"change redirect_uris: ["https://app.example.com/cb"] -> ["https://app.example.com/callback"]"#
        ),
        "{said}"
    );
    let client = clients.client("my-web-app").await.unwrap();
    assert_eq!(client.redirect_uris[0].to_string(), "https://app.example.com/callback");
    assert!(clients.authenticates("my-web-app", &secret).await, "the secret stays");
    let (ok, said) = clients.run(&moved);
    assert!(ok && said.contains("unchanged"), "{said}");

    // A new secret: the old one is refused at once, the new one works. Its dry run changes nothing.
    let rotate: Vec<&str> = moved.iter().copied().chain(["--rotate-secret"]).collect();
    let dry: Vec<&str> = rotate.iter().copied().chain(["--dry-run"]).collect();
    let (ok, said) = clients.run(&dry);
    assert!(ok && said.contains("would issue a new secret") && printed(&said).is_none(), "{said}");
    assert!(clients.authenticates("my-web-app", &secret).await);
    let (ok, said) = clients.run(&rotate);
    assert!(ok, "{said}");
    let rotated = secret_of(&said);
    assert!(!clients.authenticates("my-web-app", &secret).await);
    assert!(clients.authenticates("my-web-app", &rotated).await);
    let kept = clients.client("my-web-app").await.unwrap();
    assert_eq!(kept.created_at, client.created_at, "a rotation keeps the creation time");
    assert_eq!(clients.count().await, 1);

    // Public and confidential do not turn into each other without new credentials.
    let public = [
        "register-client",
        "--client-id",
        "my-web-app",
        "--redirect-uri",
        "https://app.example.com/callback",
        "--auth-method",
        "none",
    ];
    let writes = clients.writes();
    let (ok, said) = clients.run(&public);
    assert!(!ok && said.contains("--rotate-secret") && said.contains("public and a confidential"), "{said}");
    assert_eq!(clients.writes(), writes);
    assert!(clients.authenticates("my-web-app", &rotated).await);

    // A public client: no secret, registration token only; authenticates by its id.
    let spa = [
        "register-client",
        "--client-id",
        "my-spa",
        "--redirect-uri",
        "http://127.0.0.1:5173/cb",
        "--auth-method",
        "none",
    ];
    let (ok, said) = clients.run(&spa);
    let shown = printed(&said).unwrap_or_else(|| panic!("{said}"));
    assert!(
        ok && shown.get("client_secret").is_none() && shown["registration_access_token"].is_string(),
        "{said}"
    );
    let presented = stratus_auth::oauth::clients::Presented::IdOnly("my-spa".to_owned());
    assert!(stratus_auth::oauth::clients::authenticate(&clients.store(), &presented).await.is_ok());
    let (ok, said) = clients.run(&spa);
    assert!(ok && said.contains("unchanged") && !said.contains("did not see"), "no secret to lose: {said}");

    // A client from an hour ago was made by a run that finished: no warning.
    let metadata = stratus_auth::oauth::clients::ClientMetadata {
        redirect_uris: Some(vec!["https://old.example.com/cb".to_owned()]),
        ..Default::default()
    };
    let id = stratus_core::domain::ClientId::parse("old-app").unwrap();
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let (old, _) = stratus_auth::oauth::clients::new_client(id, metadata, an_hour_ago).unwrap();
    stratus_core::ports::ClientStore::create(&clients.store(), &old).await.unwrap();
    let (ok, said) = clients.run(&[
        "register-client",
        "--client-id",
        "old-app",
        "--redirect-uri",
        "https://old.example.com/cb",
    ]);
    assert!(ok && said.contains("unchanged") && !said.contains("did not see"), "{said}");
    assert_eq!(clients.count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_points_to_rotate_secret() {
    let clients = Clients::create().await;
    // The write applied, every attempt's answer lost (the SDK makes three), and the read that
    // would have recognised it failing too: the run ends without showing the secret.
    clients.tables.fail("PutItem", 3, Fault::AnswerLost);
    clients.tables.fail_after("GetItem", 1, Fault::ExpiredCredentials);
    let (ok, said) = clients.run(&CLIENT);
    assert!(!ok && printed(&said).is_none() && said.contains("run the command again"), "{said}");
    assert_eq!(clients.tables.pending(), 0, "{:?}", clients.tables.calls());
    assert_eq!(clients.count().await, 1, "the create applied");
    // The rerun finds it, cannot show a secret, and says what to do.
    let (ok, said) = clients.run(&CLIENT);
    assert!(ok && said.contains("unchanged") && printed(&said).is_none(), "{said}");
    assert!(said.contains("if you did not see its secret, rerun with --rotate-secret"), "{said}");
    let rotate: Vec<&str> = CLIENT.iter().copied().chain(["--rotate-secret"]).collect();
    let (ok, said) = clients.run(&rotate);
    assert!(ok, "{said}");
    assert!(clients.authenticates("my-web-app", &secret_of(&said)).await);
}

// ------------------------------------------------------------------ the origin secret

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_secret_rotation_survives_a_fault_at_every_call() {
    let clean = origin_rotation_under(None, &[]).await;
    let mut scenarios = 0;
    for (index, call) in clean.iter().enumerate() {
        let mut faults = vec![Fault::ExpiredCredentials];
        if call.operation == "UpdateDistribution" {
            faults.push(Fault::StaleEtag);
        }
        if !["Describe", "Get", "List"].iter().any(|read| call.operation.starts_with(read)) {
            faults.push(Fault::AnswerLost);
        }
        for fault in faults {
            origin_rotation_under(Some((index, fault)), &clean).await;
            scenarios += 1;
        }
    }
    println!(
        "origin-secret rotation: {} calls, {scenarios} faulted runs, none refused a request",
        clean.len()
    );
}

/// What the functions accept (the secret's current and previous values) and what CloudFront sends.
/// Secrets Manager and CloudFront on moto.
async fn origin_clients() -> (aws_sdk_secretsmanager::Client, aws_sdk_cloudfront::Client) {
    let sdk = sdk().await;
    (
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&sdk).endpoint_url(moto()).build(),
        ),
        aws_sdk_cloudfront::Client::from_conf(
            aws_sdk_cloudfront::config::Builder::from(&sdk).endpoint_url(moto()).build(),
        ),
    )
}

/// A secret whose value is `current`, a distribution sending `sent`, and a stand-in stack whose
/// outputs name them.
async fn origin_fixture(current: &str, sent: &str) -> (String, String, StandIn) {
    let (secrets, cloudfront) = origin_clients().await;
    let secret = secrets
        .create_secret()
        .name(format!("origin-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(current)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let distribution = stratus_tests::cloudfront::create_distribution(&cloudfront, sent).await;
    let stand_in =
        StandIn::create(&[("OriginVerifySecretArn", &secret), ("CloudFrontDistributionId", &distribution)])
            .await;
    (secret, distribution, stand_in)
}

async fn origin_state(secret: &str, distribution: &str) -> (Vec<String>, String) {
    let (secrets, cloudfront) = origin_clients().await;
    let mut accepted = Vec::new();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        if let Ok(value) = secrets.get_secret_value().secret_id(secret).version_stage(stage).send().await {
            accepted.extend(value.secret_string);
        }
    }
    let config = cloudfront.get_distribution_config().id(distribution).send().await.unwrap();
    let headers =
        config.distribution_config.unwrap().origins.unwrap().items[0].custom_headers.clone().unwrap();
    (accepted, headers.items()[0].header_value.clone())
}

async fn origin_rotation_under(fault: Option<(usize, Fault)>, clean_calls: &[Call]) -> Vec<Call> {
    let first = "FirstValue0123456789FirstValue0123456789abcdefgh";
    let (secret, distribution, stand_in) = origin_fixture(first, first).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, ids) = (seen.clone(), (secret.clone(), distribution.clone()));
    let observer: Observer = Arc::new(move |_| {
        let (record, ids) = (record.clone(), ids.clone());
        Box::pin(async move {
            let state = origin_state(&ids.0, &ids.1).await;
            record.lock().unwrap().push(state);
        })
    });
    let proxy = FaultProxy::start(moto(), Some(observer)).await.unwrap();
    if let Some((index, kind)) = fault {
        let operation = &clean_calls[index].operation;
        let earlier = clean_calls[..index].iter().filter(|c| &c.operation == operation).count();
        proxy.fail_after(operation, earlier, kind);
    }
    let said = until_done(&stand_in, &proxy, &["rotate-origin-secret", "--wait", "0"], 4);
    let context = format!("fault {fault:?}:\n{}", said.join("\n----\n"));
    for (accepted, sent) in seen.lock().unwrap().iter() {
        assert!(
            accepted.contains(sent),
            "CloudFront sent a refused value: {sent} not in {accepted:?}\n{context}"
        );
    }
    let (accepted, sent) = origin_state(&secret, &distribution).await;
    assert_eq!(accepted.len(), 2, "{context}");
    assert_eq!(sent, accepted[0], "CloudFront sends the current value\n{context}");
    assert_eq!(accepted[1], first, "exactly one new value was made\n{context}");
    proxy.calls()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distribution_sending_a_refused_value_is_refused_then_repaired() {
    let (secret, distribution, stand_in) =
        origin_fixture("CurrentValue0123456789CurrentValue0123456789abcd", "a value nobody accepts").await;
    let proxy = FaultProxy::start(moto(), None).await.unwrap();
    let (ok, said) = stand_in.admin(&proxy, &["rotate-origin-secret", "--wait", "0"]);
    assert!(!ok && said.contains("Nothing was changed"), "{said}");
    assert!(
        proxy
            .calls()
            .iter()
            .all(|c| !["PutSecretValue", "UpdateDistribution"].contains(&c.operation.as_str()))
    );
    let (ok, said) = stand_in.admin(&proxy, &["rotate-origin-secret", "--repair"]);
    assert!(ok, "{said}");
    let (accepted, sent) = origin_state(&secret, &distribution).await;
    assert_eq!(sent, accepted[0]);
}
