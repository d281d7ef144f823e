//! The stack as IAM would run it: every function with its own role's rights and nothing more,
//! against a moto server of the suite's own that enforces IAM (DynamoDB, SQS, KMS and Secrets
//! Manager all live in it here).
//!
//! moto checks the *actions* an assumed role may call; it does not check resources or
//! conditions (the template checks do that, statically). Three of its habits shape the roles:
//! - it matches a statement's resource against `*` for DynamoDB, KMS, Secrets Manager and SES,
//!   so those statements get `Resource: "*"` here (SQS resources are matched, and kept);
//! - it asks for `dynamodb:TransactWriteItems` where AWS authorizes each item's own action, so a
//!   role that may write items gets that action too (never in template.yaml: AWS has none);
//! - it knows nothing of key policies: what a key's policy grants a role (the signing key's
//!   kms:Sign, the sealing key's kms:Decrypt for the functions that sign) is added to that role.
//!
//! moto's actions-only check would miss a grant given on the wrong resource (an UpdateItem on
//! one table standing in for the one on another). So each function reaches moto through a
//! proxy of its own that makes IAM's resource check, as AWS does: it reads the action and the
//! resource from each request (a transaction authorizes each item's own action on its own
//! table) and answers AccessDeniedException, as AWS words it, unless a statement of the role's
//! policy, resolved against the stack, allows exactly that. The proxy also evaluates the
//! conditions the template uses (a KMS encryption context, DynamoDB's leading keys), from what
//! the request carries; a condition it cannot evaluate denies, so a new one fails loudly.
//!
//! On AWS the worker's event source mapping polls the queue with the worker's own role (its
//! statement on TasksQueue); here the harness plays the mapping with the provisioning user's
//! rights.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::runtime_api::{Engines, LocalStack, RoleCredentials};
use crate::template::Template;
use stratus_aws::dynamodb::tables;

const REGION: &str = "us-east-1";
/// Services whose requests moto authorizes against `*` whatever the statement names.
const UNRESOLVED_RESOURCES: [&str; 4] = ["dynamodb:", "kms:", "secretsmanager:", "ses:"];
const ITEM_WRITES: [&str; 3] = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"];

/// A moto server on a free loopback port, stopped (by its PID) when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub async fn start() -> Result<Self, String> {
        let binary = moto_binary();
        if !binary.exists() {
            return Err(format!(
                "{} is missing: `bash infra/local/engines.sh install` (make test does)",
                binary.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        for _ in 0..300 {
            if http.get(format!("{}/moto-api/", moto.endpoint)).send().await.is_ok() {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("moto did not answer within 30 s".into())
    }

    /// Every request from now on must be signed by a known identity allowed to make it.
    async fn enforce_iam(&self) -> Result<(), String> {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .header("content-type", "text/plain")
            .body("0")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("reset-auth: {}", response.status()))
        }
    }

    fn engines(&self, sdk: SdkConfig) -> Engines {
        let endpoints = ["DYNAMODB", "SQS", "KMS", "SECRETS_MANAGER", "SESV2"]
            .into_iter()
            .map(|service| (format!("AWS_ENDPOINT_URL_{service}"), self.endpoint.clone()))
            .collect();
        Engines { endpoints, sdk }
    }

    async fn sdk(&self, credentials: Credentials) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    crate::tools_dir().join("venv-moto/bin/moto_server")
}

/// A change to one function's policy, for a negative control.
#[derive(Debug, Clone)]
pub struct WithoutAction {
    pub binary: &'static str,
    pub action: &'static str,
}

/// A stack whose every function runs with its own role's rights, on a server enforcing them
/// (which the stack keeps alive).
pub struct IamStack {
    pub stack: LocalStack,
    /// The policy each function's role was given, by binary: what this suite proves enough.
    pub policies: BTreeMap<String, Value>,
    /// By binary: the role's credentials and the function's own proxy, to act as the function.
    roles: BTreeMap<String, (RoleCredentials, String)>,
}

impl IamStack {
    pub async fn provision() -> Result<Self, String> {
        Self::provision_with(&[]).await
    }

    /// The stack, with each `WithoutAction` taken out of its function's role.
    pub async fn provision_with(changes: &[WithoutAction]) -> Result<Self, String> {
        Self::provision_with_parameters(changes, &[]).await
    }

    /// The same, with template parameters set (say, a slot's `…SigningKeyType`).
    pub async fn provision_with_parameters(
        changes: &[WithoutAction],
        parameters: &[(&str, &str)],
    ) -> Result<Self, String> {
        let moto = Moto::start().await?;
        let setup = moto.sdk(Credentials::new("setup", "setup", None, None, "setup")).await;
        let mut stack = LocalStack::provision_on_with(moto.engines(setup), parameters).await?;

        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        let iam = Iam { http, endpoint: moto.endpoint.clone() };
        let (key, secret) = iam.provisioning_user().await?;
        let template = Template::workspace()?;
        let mut policies = BTreeMap::new();
        for function in template.functions() {
            let mut policy = role_policy(&template, &stack, &function.logical_id)?;
            for change in changes.iter().filter(|c| c.binary == function.binary) {
                remove_action(&mut policy, change.action);
            }
            iam.create_role(&role_name(&function.binary), &policy).await?;
            policies.insert(function.binary.clone(), policy);
        }

        // Each function reaches moto through its own resource-checking proxy.
        let partition_keys: BTreeMap<String, String> =
            tables::ALL.iter().map(|spec| (stack.table(spec), spec.partition_key.to_owned())).collect();
        let mut proxies = BTreeMap::new();
        for function in template.functions() {
            let grants =
                resolved_grants(&template, &stack, &function.logical_id, &policies[&function.binary])?;
            let proxy = PolicyProxy::start(
                moto.endpoint.clone(),
                role_name(&function.binary),
                grants,
                partition_keys.clone(),
            )
            .await?;
            proxies.insert(function.binary.clone(), proxy.url.clone());
            let endpoints = moto
                .engines(stack.sdk().clone())
                .endpoints
                .keys()
                .map(|k| (k.clone(), proxy.url.clone()))
                .collect();
            stack.route_endpoints(&function.binary, endpoints);
            stack.keep(proxy);
        }

        moto.enforce_iam().await?;
        let admin = moto.sdk(Credentials::new(key, secret, None, None, "provisioning-user")).await;
        let sts = aws_sdk_sts::Client::new(&admin);
        let mut roles = BTreeMap::new();
        for binary in policies.keys() {
            let assumed = sts
                .assume_role()
                .role_arn(format!("arn:aws:iam::123456789012:role/{}", role_name(binary)))
                .role_session_name(format!("lambda-{binary}"))
                .send()
                .await
                .map_err(|e| {
                    format!("assume the role of {binary}: {}", aws_sdk_sts::error::DisplayErrorContext(e))
                })?;
            let credentials = assumed.credentials.ok_or("STS returned no credentials")?;
            let credentials = RoleCredentials {
                access_key_id: credentials.access_key_id,
                secret_access_key: credentials.secret_access_key,
                session_token: credentials.session_token,
            };
            stack.give_role(binary, credentials.clone());
            roles.insert(binary.clone(), (credentials, proxies[binary].clone()));
        }
        stack.act_as(admin);
        stack.keep(moto);
        // As CloudFormation would: with every role in place, so the custom resource's function
        // runs with its own role's rights too.
        stack.create_custom_resources().await?;
        Ok(Self { stack, policies, roles })
    }

    /// An SDK configuration that acts as `binary` does: its role's credentials, through its own
    /// proxy. For probing what a role may not do, beyond what its code happens to call.
    pub async fn sdk_as(&self, binary: &str) -> Result<SdkConfig, String> {
        let (role, proxy) = self.roles.get(binary).ok_or_else(|| format!("no role for {binary}"))?;
        let credentials = Credentials::new(
            role.access_key_id.clone(),
            role.secret_access_key.clone(),
            Some(role.session_token.clone()),
            None,
            "function-role",
        );
        Ok(aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(proxy)
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .load()
            .await)
    }
}

fn role_name(binary: &str) -> String {
    format!("stratus-e2e-{binary}")
}

/// The function's statements as IAM would hold them after deploy, resolved against the stack,
/// and adjusted for moto as the module's documentation says.
fn role_policy(template: &Template, stack: &LocalStack, logical_id: &str) -> Result<Value, String> {
    let function = template.resource(logical_id).ok_or_else(|| format!("no {logical_id}"))?;
    let mut statements = Vec::new();
    for policy in function["Properties"]["Policies"].as_array().into_iter().flatten() {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            // The logs fence guards against SAM's own grant, which this suite does not model.
            if statement["Effect"] == "Deny" {
                continue;
            }
            let actions = strings(&statement["Action"]);
            let resolved = stack
                .resolver()
                .resolve(&statement["Resource"])?
                .ok_or_else(|| format!("{logical_id}: a statement's resource resolves to nothing"))?;
            let mut resources = strings(&resolved);
            if actions.iter().any(|a| UNRESOLVED_RESOURCES.iter().any(|s| a.starts_with(s))) {
                resources = vec!["*".to_owned()];
            }
            statements.push(json!({ "Effect": "Allow", "Action": actions, "Resource": resources }));
        }
    }
    let actions: Vec<String> = statements.iter().flat_map(|s| strings(&s["Action"])).collect();
    if actions.iter().any(|a| ITEM_WRITES.contains(&a.as_str())) {
        statements
            .push(json!({ "Effect": "Allow", "Action": ["dynamodb:TransactWriteItems"], "Resource": ["*"] }));
    }
    // What the key policies grant this function's role.
    let role = format!("{logical_id}Role.Arn");
    for (_, key) in template.resources().filter(|(_, r)| r["Type"] == "AWS::KMS::Key" && exists(stack, r)) {
        for statement in key["Properties"]["KeyPolicy"]["Statement"].as_array().into_iter().flatten() {
            if strings(&statement["Principal"]).contains(&role) {
                statements.push(
                    json!({ "Effect": "Allow", "Action": strings(&statement["Action"]), "Resource": ["*"] }),
                );
            }
        }
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

/// Whether the parameters create `resource` (its `Condition`, if any, holds).
fn exists(stack: &LocalStack, resource: &Value) -> bool {
    resource["Condition"].as_str().is_none_or(|name| stack.resolver().condition(name).unwrap_or(false))
}

/// A statement of a role as IAM evaluates it: actions on resource patterns, under conditions.
#[derive(Debug, Clone)]
struct Grant {
    actions: Vec<String>,
    resources: Vec<String>,
    /// `(operator, key, values)`, resolved: every one must hold.
    conditions: Vec<(String, String, Vec<String>)>,
}

/// A statement's `Condition` block, resolved against the stack, as `(operator, key, values)`.
fn conditions(stack: &LocalStack, statement: &Value) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let resolved = stack.resolver().resolve(&statement["Condition"])?.unwrap_or_default();
    let mut out = Vec::new();
    for (operator, keys) in resolved.as_object().into_iter().flatten() {
        let keys = keys.as_object().ok_or_else(|| format!("condition {operator}: {keys} is not a block"))?;
        for (key, values) in keys {
            out.push((operator.clone(), key.clone(), strings(values)));
        }
    }
    Ok(out)
}

/// The role's statements with their real resources (not moto's `*`): the function's policy as
/// the template gives it, less the negative control's removals, plus what the key policies grant.
fn resolved_grants(
    template: &Template,
    stack: &LocalStack,
    logical_id: &str,
    moto_policy: &Value,
) -> Result<Vec<Grant>, String> {
    let allowed: Vec<String> = moto_policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    let function = template.resource(logical_id).ok_or_else(|| format!("no {logical_id}"))?;
    let mut grants = Vec::new();
    for statement in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
    {
        if statement["Effect"] != "Allow" {
            continue;
        }
        let actions: Vec<String> =
            strings(&statement["Action"]).into_iter().filter(|a| allowed.contains(a)).collect();
        let resources = strings(&stack.resolver().resolve(&statement["Resource"])?.unwrap_or_default());
        grants.push(Grant { actions, resources, conditions: conditions(stack, &statement)? });
    }
    let role = format!("{logical_id}Role.Arn");
    for (id, key) in template.resources().filter(|(_, r)| r["Type"] == "AWS::KMS::Key" && exists(stack, r)) {
        let arn = stack.resolver().resolve(&json!({"Fn::GetAtt": format!("{id}.Arn")}))?.unwrap_or_default();
        for statement in key["Properties"]["KeyPolicy"]["Statement"].as_array().into_iter().flatten() {
            if strings(&statement["Principal"]).contains(&role) {
                let actions =
                    strings(&statement["Action"]).into_iter().filter(|a| allowed.contains(a)).collect();
                let conditions = conditions(stack, statement)?;
                grants.push(Grant { actions, resources: strings(&arn), conditions });
            }
        }
    }
    Ok(grants)
}

/// IAM's glob: `*` any run of characters, `?` any one.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A function's way to moto: every request is checked as IAM would, action and resource.
struct PolicyProxy {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PolicyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Checked {
    upstream: String,
    role: String,
    grants: Vec<Grant>,
    /// By table name: the partition key's attribute (`dynamodb:LeadingKeys` is its value).
    partition_keys: BTreeMap<String, String>,
    http: reqwest::Client,
}

impl PolicyProxy {
    async fn start(
        upstream: String,
        role: String,
        grants: Vec<Grant>,
        partition_keys: BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        let state = std::sync::Arc::new(Checked { upstream, role, grants, partition_keys, http });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, task })
    }
}

/// One authorization a request needs: an action on a resource, with the condition keys the
/// request carries (each a list: some keys are multivalued).
#[derive(Debug)]
struct Asked {
    action: String,
    resource: String,
    context: BTreeMap<String, Vec<String>>,
}

/// The actions and resources a request asks for, as AWS authorizes them (JSON protocols only:
/// DynamoDB, SQS, KMS and Secrets Manager as the SDK speaks them), with the condition keys the
/// template's conditions read.
fn asked(target: &str, body: &Value, partition_keys: &BTreeMap<String, String>) -> Vec<Asked> {
    let (service, operation) = match target.split_once('.') {
        Some(("DynamoDB_20120810", op)) => ("dynamodb", op),
        Some(("AmazonSQS", op)) => ("sqs", op),
        Some(("TrentService", op)) => ("kms", op),
        Some(("secretsmanager", op)) => ("secretsmanager", op),
        _ => return Vec::new(),
    };
    let table = |name: &Value| {
        format!("arn:aws:dynamodb:{REGION}:000000000000:table/{}", name.as_str().unwrap_or_default())
    };
    let plain = |action: String, resource: String| Asked { action, resource, context: BTreeMap::new() };
    // The partition key value of the item an item operation names (`Key`, or a put's `Item`).
    let leading_keys = |request: &Value| {
        let name = partition_keys.get(request["TableName"].as_str().unwrap_or_default());
        let item = if request["Key"].is_object() { &request["Key"] } else { &request["Item"] };
        let value = name.and_then(|name| item[name].as_object()).and_then(|v| v.values().next());
        let context = value.map(|v| vec![v.as_str().map_or_else(|| v.to_string(), str::to_owned)]);
        BTreeMap::from_iter(context.map(|c| ("dynamodb:LeadingKeys".to_owned(), c)))
    };
    match service {
        "dynamodb" if operation == "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, action) = [
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ]
                .into_iter()
                .find(|(kind, _)| item.get(*kind).is_some())?;
                Some(Asked {
                    action: format!("dynamodb:{action}"),
                    resource: table(&item[kind]["TableName"]),
                    context: leading_keys(&item[kind]),
                })
            })
            .collect(),
        "dynamodb" => {
            let mut resource = table(&body["TableName"]);
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            let context = match operation {
                "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" => leading_keys(body),
                _ => BTreeMap::new(),
            };
            vec![Asked { action: format!("dynamodb:{operation}"), resource, context }]
        }
        "sqs" => {
            let url = body["QueueUrl"].as_str().unwrap_or_default();
            let mut parts = url.rsplit('/');
            let (name, account) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            vec![plain(format!("sqs:{operation}"), format!("arn:aws:sqs:{REGION}:{account}:{name}"))]
        }
        "kms" => {
            let context = body["EncryptionContext"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), strings(v)))
                .collect();
            let resource = body["KeyId"].as_str().unwrap_or_default().to_owned();
            vec![Asked { action: format!("kms:{operation}"), resource, context }]
        }
        _ => vec![plain(
            format!("secretsmanager:{operation}"),
            body["SecretId"].as_str().unwrap_or_default().to_owned(),
        )],
    }
}

/// Whether a grant's conditions hold for what the request carries, as IAM evaluates the
/// operators the template uses. Any other operator does not hold.
fn conditions_hold(grant: &Grant, context: &BTreeMap<String, Vec<String>>) -> bool {
    grant.conditions.iter().all(|(operator, key, values)| {
        let present = context.get(key);
        match operator.as_str() {
            // A single-valued key: present, and one of the values.
            "StringEquals" => present.is_some_and(|p| p.len() == 1 && values.contains(&p[0])),
            // Every value the request carries is allowed (none carried: holds, as in IAM).
            "ForAllValues:StringEquals" => present.is_none_or(|p| p.iter().all(|v| values.contains(v))),
            _ => false,
        }
    })
}

async fn forward(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<Checked>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    for Asked { action, resource, context } in asked(target, &json, &state.partition_keys) {
        let allowed = state.grants.iter().any(|grant| {
            grant.actions.iter().any(|a| matches(a, &action))
                && grant.resources.iter().any(|r| matches(r, &resource))
                && conditions_hold(grant, &context)
        });
        if !allowed {
            let message = format!(
                "User: arn:aws:sts::123456789012:assumed-role/{}/lambda is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
                state.role
            );
            return axum::response::Response::builder()
                .status(400)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amzn-errortype", "AccessDeniedException")
                .body(axum::body::Body::from(
                    json!({"__type": "AccessDeniedException", "message": message}).to_string(),
                ))
                .expect("static parts are valid");
        }
    }
    let mut upstream = state.http.request(parts.method.clone(), format!("{}{}", state.upstream, parts.uri));
    for (name, value) in &parts.headers {
        // The signature covers the Host the function sent: pass it on untouched.
        upstream = upstream.header(name, value);
    }
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(error) => {
            return axum::response::Response::builder()
                .status(502)
                .body(axum::body::Body::from(error.to_string()))
                .expect("static parts are valid");
        }
    };
    let mut response = axum::response::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(axum::body::Body::from(bytes)).expect("upstream parts are valid")
}

fn remove_action(policy: &mut Value, action: &str) {
    for statement in policy["Statement"].as_array_mut().into_iter().flatten() {
        if let Some(actions) = statement["Action"].as_array_mut() {
            actions.retain(|a| a != action);
        }
    }
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.retain(|s| s["Action"].as_array().is_some_and(|a| !a.is_empty()));
    }
}

/// Every string below a node (a list of actions or resources, a principal).
fn strings(node: &Value) -> Vec<String> {
    match node {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// IAM's query API, spoken before enforcement starts (when moto reads no signature), which
/// spares the suite a dependency on the IAM SDK.
struct Iam {
    http: reqwest::Client,
    endpoint: String,
}

impl Iam {
    async fn call(&self, parameters: &[(&str, &str)]) -> Result<String, String> {
        let mut form = vec![("Version", "2010-05-08")];
        form.extend_from_slice(parameters);
        let response = self
            .http
            .post(&self.endpoint)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(text) } else { Err(format!("IAM {parameters:?}: {status} {text}")) }
    }

    /// A user allowed everything, with access keys: it assumes the roles, and plays the parts
    /// of AWS itself (the event source mapping, the operator).
    async fn provisioning_user(&self) -> Result<(String, String), String> {
        self.call(&[("Action", "CreateUser"), ("UserName", "stratus-provisioner")]).await?;
        let everything = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        self.call(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "stratus-provisioner"),
            ("PolicyName", "everything"),
            ("PolicyDocument", &everything.to_string()),
        ])
        .await?;
        let keys = self.call(&[("Action", "CreateAccessKey"), ("UserName", "stratus-provisioner")]).await?;
        let field = |name: &str| {
            keys.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{name}>")).next())
                .map(str::to_owned)
                .ok_or_else(|| format!("CreateAccessKey answered no {name}: {keys}"))
        };
        Ok((field("AccessKeyId")?, field("SecretAccessKey")?))
    }

    async fn create_role(&self, name: &str, policy: &Value) -> Result<(), String> {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
        self.call(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust.to_string()),
        ])
        .await?;
        self.call(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", name),
            ("PolicyName", "own"),
            ("PolicyDocument", &policy.to_string()),
        ])
        .await?;
        Ok(())
    }
}
