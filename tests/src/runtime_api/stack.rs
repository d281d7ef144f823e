//! The template's resources, created for one test on the local engines (DynamoDB Local and
//! moto, which serves SQS and KMS), and bound to the template's logical ids so that every
//! `!Ref` and `!GetAtt` a function's environment uses resolves to them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use stratus_aws::dynamodb::tables::{self, TableSpec};

use super::emulator::{DEFAULT_INIT_WAIT, Function, LaunchSpec};
use crate::template::{Bound, Resolver, Template};

/// The engines every function must reach, and nothing else.
pub const ENGINE_ENDPOINTS: [&str; 5] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SESV2",
];

/// The stack's public URL (template parameter `PublicBaseUrl`), as `stratus-admin
/// set-public-url` gives a deployed stack: the OpenID Provider's issuer. Nothing listens there;
/// the gateway answers for it.
pub const PUBLIC_BASE_URL: &str = "https://stratus.example";

/// Template parameters for every stack this process provisions, `NAME=VALUE,…` (say,
/// `BlueSigningKeyType=sealed`): how a harness that provisions its own stack (lambda_bench) runs
/// on another configuration. A test passes its own with `provision_on_with`.
pub const STACK_PARAMETERS: &str = "STRATUS_STACK_PARAMETERS";

/// The command that builds what these tests run.
pub const BUILD_COMMAND: &str = "cargo build --release --workspace --bins";

/// Where a stack lives: the endpoint variables its functions get, and the SDK configuration the
/// test itself provisions and inspects with.
pub struct Engines {
    pub endpoints: BTreeMap<String, String>,
    pub sdk: SdkConfig,
}

impl Engines {
    /// The engines `make test` started: DynamoDB Local for tables, moto for the rest.
    pub async fn from_env() -> Result<Self, String> {
        Ok(Self { endpoints: engine_endpoints()?, sdk: stratus_aws::sdk_config().await })
    }
}

struct Arm64 {
    build_dir: PathBuf,
    qemu: PathBuf,
    sysroot: PathBuf,
}

/// Temporary credentials, as Lambda hands a function its role's.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

pub struct LocalStack {
    resolver: Resolver,
    sdk: SdkConfig,
    endpoints: BTreeMap<String, String>,
    /// By binary: the credentials of the function's own role, where the stack has roles.
    credentials: BTreeMap<String, RoleCredentials>,
    /// Set when the functions are the arm64 bootstraps `sam build` made, run under qemu-user.
    arm64: Option<Arm64>,
    /// What must live as long as the stack (an engine of the stack's own).
    kept: Vec<Box<dyn std::any::Any + Send + Sync>>,
    /// By binary: endpoints of its own (a proxy in front of the engines).
    routed: BTreeMap<String, BTreeMap<String, String>>,
    prefix: String,
    queue_url: String,
    queue_arn: String,
    dead_letter_queue_url: String,
    /// The live slot's KMS key; empty when the live slot holds a sealed key.
    signing_key_arn: String,
    binaries: PathBuf,
}

impl LocalStack {
    /// Creates every table, the task queue with its dead-letter queue, the signing key and the
    /// origin secret that template.yaml declares, under names unique to this stack.
    pub async fn provision() -> Result<Self, String> {
        let mut stack = Self::provision_on(Engines::from_env().await?).await?;
        stack.create_custom_resources().await?;
        Ok(stack)
    }

    /// The same, on the given engines, but for the custom resources: the caller creates them
    /// (`create_custom_resources`) once their functions can run as they should.
    pub async fn provision_on(engines: Engines) -> Result<Self, String> {
        Self::provision_on_with(engines, &[]).await
    }

    /// The same, with template parameters set (`STRATUS_STACK_PARAMETERS`'s first, then these).
    pub async fn provision_on_with(engines: Engines, parameters: &[(&str, &str)]) -> Result<Self, String> {
        let Engines { endpoints, sdk } = engines;
        let template = Template::workspace()?;
        let region = sdk.region().map_or("us-east-1".to_owned(), |r| r.to_string());
        let mut resolver = Resolver::new(template, &region);
        resolver.parameters.insert("PublicBaseUrl".into(), Value::String(PUBLIC_BASE_URL.into()));
        let from_env = std::env::var(STACK_PARAMETERS).unwrap_or_default();
        let from_env = from_env
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                pair.split_once('=').ok_or_else(|| format!("{STACK_PARAMETERS}: {pair:?} is not NAME=VALUE"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (name, value) in from_env.into_iter().chain(parameters.iter().copied()) {
            if resolver.template().root()["Parameters"].get(name.trim()).is_none() {
                return Err(format!("the template has no parameter {name}"));
            }
            resolver.parameters.insert(name.trim().to_owned(), Value::String(value.trim().to_owned()));
        }
        let prefix = crate::unique_prefix();
        let account = resolver.account_id().to_owned();

        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        for spec in tables::ALL {
            let name = format!("{prefix}{}", spec.local_name);
            tables::ensure_table(&dynamodb, &name, spec).await.map_err(|e| format!("table {name}: {e}"))?;
            let arn = format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
            for id in referenced_by(resolver.template(), spec.env_var) {
                resolver.resources.insert(id, bound(&name, [("Arn", arn.as_str())]));
            }
        }

        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_ids = referenced_by(resolver.template(), stratus_wiring::aws::TASKS_QUEUE_URL);
        let [queue_id] = queue_ids.as_slice() else {
            return Err(format!(
                "expected one queue behind {}, found {queue_ids:?}",
                stratus_wiring::aws::TASKS_QUEUE_URL
            ));
        };
        let queue = resolver.template().resource(queue_id).cloned().unwrap_or_default();
        let visibility = queue["Properties"]["VisibilityTimeout"].as_u64().unwrap_or(30);
        let queue_name = format!("{prefix}tasks");
        let queue_url = stratus_aws::sqs::create_queues(&sqs, &queue_name, Duration::from_secs(visibility))
            .await
            .map_err(|e| format!("queue {queue_name}: {e}"))?;
        let dead_letter_queue_url = sqs
            .get_queue_url()
            .queue_name(format!("{queue_name}-dlq"))
            .send()
            .await
            .map_err(|e| format!("dead-letter queue: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or("no dead-letter queue URL")?;
        let queue_arn = queue_attribute(&sqs, &queue_url, QueueAttributeName::QueueArn).await?;
        let dead_letter_arn =
            queue_attribute(&sqs, &dead_letter_queue_url, QueueAttributeName::QueueArn).await?;
        resolver.resources.insert(
            queue_id.clone(),
            bound(&queue_url, [("Arn", queue_arn.as_str()), ("QueueName", queue_name.as_str())]),
        );
        let dead_letter_name = format!("{queue_name}-dlq");
        for id in Template::refs_in(&queue["Properties"]["RedrivePolicy"]) {
            resolver.resources.insert(
                id,
                bound(
                    &dead_letter_queue_url,
                    [("Arn", dead_letter_arn.as_str()), ("QueueName", &dead_letter_name)],
                ),
            );
        }

        let kms = aws_sdk_kms::Client::new(&sdk);
        let keys: Vec<(String, Value)> = resolver
            .template()
            .resources()
            .filter(|(_, r)| r["Type"] == "AWS::KMS::Key")
            .map(|(id, r)| (id.to_owned(), r["Properties"].clone()))
            .collect();
        for (id, properties) in keys {
            // A key the parameters leave out (the idle signing-key slot) is not created.
            let condition = resolver.template().resource(&id).and_then(|r| r["Condition"].as_str());
            if let Some(condition) = condition.map(str::to_owned)
                && !resolver.condition(&condition)?
            {
                continue;
            }
            let (key_id, arn) =
                create_key(&kms, &properties).await.map_err(|e| format!("KMS key {id}: {e}"))?;
            resolver.resources.insert(id, bound(&key_id, [("Arn", arn.as_str())]));
        }
        // What a signer's SIGNING_KEY_ARN resolves to: nothing when the live slot is sealed.
        let signer = resolver
            .template()
            .functions()
            .into_iter()
            .find(|f| f.variables.contains_key(stratus_wiring::aws::TOKEN_SEALING_KEY_ARN))
            .ok_or("no function signs")?;
        let signing_key_arn = resolver
            .resolve(&signer.variables[stratus_wiring::aws::SIGNING_KEY_ARN])?
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();

        let secrets: Vec<String> = resolver
            .template()
            .resources()
            .filter(|(_, r)| r["Type"] == "AWS::SecretsManager::Secret")
            .map(|(id, _)| id.to_owned())
            .collect();
        let secretsmanager = aws_sdk_secretsmanager::Client::new(&sdk);
        for id in secrets {
            // The value is generated at deploy time on AWS too; nobody chooses it.
            let value = uuid::Uuid::new_v4().simple().to_string();
            let created = secretsmanager
                .create_secret()
                .name(format!("{prefix}{id}"))
                .secret_string(&value)
                .send()
                .await
                .map_err(|e| {
                    format!("secret {id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                })?;
            let arn = created.arn.ok_or_else(|| format!("secret {id} has no ARN"))?;
            resolver.secrets.insert(arn.clone(), value);
            resolver.resources.insert(id, bound(&arn, []));
        }
        // SES configuration sets are named, not created: no binary here mails through SES (mail
        // goes to the outbox, or nowhere), so the name is all a function's variables need.
        let configuration_sets: Vec<String> = resolver
            .template()
            .resources()
            .filter(|(_, r)| r["Type"] == "AWS::SES::ConfigurationSet")
            .map(|(id, _)| id.to_owned())
            .collect();
        for id in configuration_sets {
            let name = format!("{prefix}{id}");
            resolver.resources.insert(id, bound(&name, []));
        }

        Ok(Self {
            resolver,
            sdk,
            endpoints,
            credentials: BTreeMap::new(),
            arm64: None,
            kept: Vec::new(),
            routed: BTreeMap::new(),
            prefix,
            queue_url,
            queue_arn,
            dead_letter_queue_url,
            signing_key_arn,
            binaries: binaries_dir(),
        })
    }

    /// A fresh sender address that SES (moto) has verified, as a deployment's mail identity is.
    pub async fn verified_sender(&self) -> String {
        let sender = format!("sender-{}@example.com", uuid::Uuid::new_v4().simple());
        aws_sdk_sesv2::Client::new(self.sdk())
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .expect("moto verifies the identity at once");
        sender
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// Creates the template's custom resources as CloudFormation does: runs the function behind
    /// each one's `ServiceToken` (the release binary under the Runtime API emulator, with the
    /// role given to it, if any) with a `Create` request, takes the answer it PUTs to the
    /// response URL, and binds the resource's attributes to the answer's `Data`. A resource
    /// whose function answers `FAILED`, or nothing, fails the stack, as it would a deploy.
    pub async fn create_custom_resources(&mut self) -> Result<(), String> {
        let customs: Vec<(String, Value)> = self
            .resolver
            .template()
            .resources()
            .filter(|(_, r)| r["Type"].as_str().is_some_and(|t| t.starts_with("Custom::")))
            .map(|(id, r)| (id.to_owned(), r.clone()))
            .collect();
        for (id, resource) in customs {
            // One the parameters leave out (a slot's sealed key, while the slot holds none).
            if let Some(condition) = resource["Condition"].as_str()
                && !self.resolver.condition(condition)?
            {
                continue;
            }
            let token = Template::refs_in(&resource["Properties"]["ServiceToken"]);
            let [function_id] = token.as_slice() else {
                return Err(format!("{id}: ServiceToken must name one function, names {token:?}"));
            };
            let binary = self
                .resolver
                .template()
                .functions()
                .into_iter()
                .find(|f| &f.logical_id == function_id)
                .ok_or_else(|| format!("{id}: {function_id} is not a function"))?
                .binary;
            let mut properties = serde_json::Map::new();
            for (name, value) in resource["Properties"].as_object().into_iter().flatten() {
                if name != "ServiceToken"
                    && let Some(value) = self.resolver.resolve(value)?
                {
                    properties.insert(name.clone(), value);
                }
            }
            let (url, answer) = response_url_server().await?;
            let event = serde_json::json!({
                "RequestType": "Create",
                "ServiceToken": format!("arn:aws:lambda:{}:000000000000:function:{binary}", self.resolver.region()),
                "ResponseURL": url,
                "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/stratus-e2e/1",
                "RequestId": uuid::Uuid::new_v4().to_string(),
                "ResourceType": resource["Type"],
                "LogicalResourceId": id,
                "ResourceProperties": properties,
            });
            let mut function =
                Function::spawn(self.launch_spec(&binary)?).await.map_err(|e| format!("{id}: {e}"))?;
            let invoked = function.invoke(&event).await;
            let output = function.output();
            function.shutdown().await;
            invoked.map_err(|e| format!("{id}: {e}"))?;
            let answer = tokio::time::timeout(Duration::from_secs(5), answer)
                .await
                .map_err(|_| format!("{id}: {binary} never answered CloudFormation\n{output}"))?
                .map_err(|_| format!("{id}: the response server stopped"))?;
            let answer: Value = serde_json::from_slice(&answer).map_err(|e| format!("{id}: answer: {e}"))?;
            if answer["Status"] != "SUCCESS" {
                return Err(format!("{id}: {binary} answered {answer}\n{output}"));
            }
            let attributes: Vec<(String, String)> = answer["Data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let reference = answer["PhysicalResourceId"].as_str().unwrap_or_default().to_owned();
            self.resolver
                .resources
                .insert(id, Bound { reference, attributes: attributes.into_iter().collect() });
        }
        Ok(())
    }

    /// From now on the test acts with `sdk`'s credentials (an emulator that enforces IAM no
    /// longer takes the ones the stack was provisioned with).
    pub fn act_as(&mut self, sdk: SdkConfig) {
        self.sdk = sdk;
    }

    /// From now on, starts the arm64 `bootstrap` `sam build` wrote under `build_dir` for each
    /// function (`<build_dir>/<LogicalId>/bootstrap`), under qemu-user with `sysroot`'s libraries:
    /// the very artefacts Lambda would run.
    pub fn run_arm64_bootstraps(&mut self, build_dir: PathBuf, qemu: PathBuf, sysroot: PathBuf) {
        self.arm64 = Some(Arm64 { build_dir, qemu, sysroot });
    }

    /// Gives `binary` endpoints of its own instead of the engines'.
    pub fn route_endpoints(&mut self, binary: &str, endpoints: BTreeMap<String, String>) {
        self.routed.insert(binary.to_owned(), endpoints);
    }

    /// Keeps `thing` alive as long as the stack: the engine the stack lives on.
    pub fn keep(&mut self, thing: impl std::any::Any + Send + Sync) {
        self.kept.push(Box::new(thing));
    }

    /// Starts `binary` with its own role's credentials instead of the engines' test ones.
    pub fn give_role(&mut self, binary: &str, credentials: RoleCredentials) {
        self.credentials.insert(binary.to_owned(), credentials);
    }

    /// The logical ids and ARNs the template's references resolve to in this stack.
    pub fn resolver_mut(&mut self) -> &mut Resolver {
        &mut self.resolver
    }

    pub fn endpoints(&self) -> &BTreeMap<String, String> {
        &self.endpoints
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    pub fn table(&self, spec: &TableSpec) -> String {
        format!("{}{}", self.prefix, spec.local_name)
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn queue_arn(&self) -> &str {
        &self.queue_arn
    }

    pub fn dead_letter_queue_url(&self) -> &str {
        &self.dead_letter_queue_url
    }

    /// The live slot's KMS key: empty when the live slot holds a sealed key.
    pub fn signing_key_arn(&self) -> &str {
        &self.signing_key_arn
    }

    /// The `x-origin-verify` value CloudFront sends (template: `OriginVerifySecret`), if the
    /// template gives the functions one.
    pub fn origin_secret(&self) -> Option<&str> {
        self.resolver.secrets.values().next().map(String::as_str)
    }

    /// How Lambda would start the function whose binary is `binary`: the template's variables
    /// resolved against this stack, the engines' endpoints, and what Lambda itself sets.
    pub fn launch_spec(&self, binary: &str) -> Result<LaunchSpec, String> {
        let function = self.resolver.template().function(binary)?;
        let (path, runner) = match &self.arm64 {
            None => (self.binaries.join(binary), None),
            Some(arm64) => (
                arm64.build_dir.join(&function.logical_id).join("bootstrap"),
                Some((arm64.qemu.clone(), vec!["-L".to_owned(), arm64.sysroot.display().to_string()])),
            ),
        };
        check_binary(&path, binary)?;
        let mut env = self.resolver.environment(&function)?;
        env.extend(self.routed.get(binary).unwrap_or(&self.endpoints).clone());
        let name = format!("stratus-e2e-{}", function.logical_id);
        let region = self.resolver.region().to_owned();
        let task_root = path.parent().unwrap_or(Path::new("/")).display().to_string();
        let lambda = [
            ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", format!("2026/01/01/[$LATEST]{}", uuid::Uuid::new_v4().simple())),
            ("AWS_REGION", region.clone()),
            ("AWS_DEFAULT_REGION", region),
            ("_HANDLER", function.handler.clone()),
            ("LAMBDA_TASK_ROOT", task_root),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            // Lambda hands every function its role's temporary credentials.
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_SESSION_TOKEN", "test".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("TZ", ":UTC".into()),
            // Not a Lambda variable: with credentials in the environment the SDK never asks the
            // instance metadata service, and this guarantees it never tries off this machine.
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ];
        env.extend(lambda.into_iter().map(|(k, v)| (k.to_owned(), v)));
        if let Some(role) = self.credentials.get(binary) {
            env.insert("AWS_ACCESS_KEY_ID".into(), role.access_key_id.clone());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), role.secret_access_key.clone());
            env.insert("AWS_SESSION_TOKEN".into(), role.session_token.clone());
        }
        if let Some(format) = &function.log_format {
            env.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.clone());
        }
        if let Some(level) = &function.log_level {
            env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.clone());
        }
        Ok(LaunchSpec {
            function_name: name,
            binary: path,
            runner,
            env,
            timeout: Duration::from_secs(function.timeout_seconds.into()),
            init_wait: DEFAULT_INIT_WAIT,
        })
    }
}

/// A one-shot server standing in for CloudFormation's presigned S3 URL: its URL, and the body
/// of the first PUT it receives.
async fn response_url_server() -> Result<(String, tokio::sync::oneshot::Receiver<Vec<u8>>), String> {
    use axum::routing::put;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sender = std::sync::Arc::new(std::sync::Mutex::new(Some(sender)));
    let app = axum::Router::new().route(
        "/{*path}",
        put(move |body: axum::body::Bytes| async move {
            if let Some(sender) = sender.lock().expect("not poisoned").take() {
                let _ = sender.send(body.to_vec());
            }
            ""
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}/cloudformation-response?X-Amz-Signature=test"), receiver))
}

fn bound<'a>(reference: &str, attributes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Bound {
    Bound {
        reference: reference.to_owned(),
        attributes: attributes.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    }
}

/// The logical ids that any function's variable `name` refers to.
fn referenced_by(template: &Template, name: &str) -> Vec<String> {
    let mut ids: Vec<String> = template
        .functions()
        .iter()
        .filter_map(|f| f.variables.get(name))
        .flat_map(Template::refs_in)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(|e| format!("queue attributes of {url}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|mut a| a.remove(&name))
        .ok_or_else(|| format!("{url} has no {name:?}"))
}

/// The key the template declares, with its spec and usage (moto implements
/// ECC_NIST_P256/SIGN_VERIFY with ECDSA_SHA_256 signing).
async fn create_key(kms: &aws_sdk_kms::Client, properties: &Value) -> Result<(String, String), String> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let spec = properties["KeySpec"].as_str().unwrap_or("SYMMETRIC_DEFAULT");
    let usage = properties["KeyUsage"].as_str().unwrap_or("ENCRYPT_DECRYPT");
    let created = kms
        .create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .description("stratus end-to-end test key")
        .send()
        .await
        .map_err(|e| aws_sdk_kms::error::DisplayErrorContext(e).to_string())?;
    let metadata = created.key_metadata.ok_or("KMS returned no key metadata")?;
    let arn = metadata.arn.clone().ok_or("KMS returned no key ARN")?;
    Ok((metadata.key_id, arn))
}

/// The engines' endpoints from this process's environment; every one must be on loopback.
fn engine_endpoints() -> Result<BTreeMap<String, String>, String> {
    ENGINE_ENDPOINTS
        .iter()
        .map(|name| {
            let value = std::env::var(name).unwrap_or_default();
            if crate::is_loopback_url(&value) {
                Ok(((*name).to_owned(), value))
            } else {
                Err(format!(
                    "{name} must point at a local engine on loopback (got {value:?}); run the suite with \
                     `make test`, or `bash infra/local/engines.sh run -- cargo test -p stratus-tests`"
                ))
            }
        })
        .collect()
}

/// Where the release binaries are: `STRATUS_BINARIES_DIR`, else `<target>/release` of the
/// target directory this test binary was built into.
pub fn binaries_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRATUS_BINARIES_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("release");
    }
    // <target>/debug/deps/<test binary>
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| crate::workspace_root().join("target"))
        .join("release")
}

/// A missing binary, or one older than the code it is built from, fails: testing a stale build
/// would prove nothing about the code under review. The code it is built from is what cargo
/// listed beside it (`<binary>.d`, workspace files relative to the workspace: .cargo/config.toml),
/// so a change to a crate the binary does not use does not count; without the list, every crate
/// counts.
fn check_binary(path: &Path, binary: &str) -> Result<(), String> {
    let built = std::fs::metadata(path).and_then(|m| m.modified()).map_err(|e| {
        format!("{}: {e}; build the functions first: {BUILD_COMMAND} (make test does)", path.display())
    })?;
    let root = crate::workspace_root();
    let listed = std::fs::read_to_string(path.with_extension("d")).unwrap_or_default();
    let sources: Vec<PathBuf> = listed_sources(&listed).map(|source| root.join(source)).collect();
    let newest = if sources.is_empty() {
        // No list, or one written with absolute paths (a build that did not read
        // .cargo/config.toml): every crate counts.
        [root.join("crates"), root.join("functions").join(binary).join("src")]
            .iter()
            .filter_map(|dir| newest_rust_file(dir))
            .max_by_key(|(_, t)| *t)
    } else {
        let mut newest: Option<(PathBuf, SystemTime)> = None;
        for file in sources {
            // A source this clone lacks means the binary was built from other code.
            let Ok(when) = std::fs::metadata(&file).and_then(|m| m.modified()) else {
                return Err(format!(
                    "{} was built from {}, which this clone lacks; rebuild the functions: {BUILD_COMMAND}",
                    path.display(),
                    file.display()
                ));
            };
            if newest.as_ref().is_none_or(|(_, t)| when > *t) {
                newest = Some((file, when));
            }
        }
        newest
    };
    if let Some((newest, when)) = newest
        && when > built
    {
        return Err(format!(
            "{} is older than {}; rebuild the functions: {BUILD_COMMAND}",
            path.display(),
            newest.display()
        ));
    }
    Ok(())
}

/// The workspace's files in a Makefile-style dependency list (`target: a b c`): the relative
/// paths, since dependencies outside the workspace (the registry's) stay absolute.
fn listed_sources(listed: &str) -> impl Iterator<Item = &str> {
    let sources = listed.lines().next().and_then(|line| line.split_once(": ")).map_or("", |(_, s)| s);
    sources.split_whitespace().filter(|source| !source.starts_with('/'))
}

fn newest_rust_file(dir: &Path) -> Option<(PathBuf, SystemTime)> {
    let mut newest: Option<(PathBuf, SystemTime)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_rust_file(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            entry.metadata().and_then(|m| m.modified()).ok().map(|t| (path, t))
        } else {
            None
        };
        if let Some(candidate) = candidate
            && newest.as_ref().is_none_or(|(_, t)| candidate.1 > *t)
        {
            newest = Some(candidate);
        }
    }
    newest
}
