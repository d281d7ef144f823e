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
//! - it knows nothing of key policies: what the signing key's policy grants a role (kms:Sign for
//!   login and refresh) is added to that role.
//!
//! moto's actions-only check would miss a grant given on the wrong resource (an UpdateItem on
//! one table standing in for the one on another). So each function reaches moto through a
//! proxy of its own that makes IAM's resource check, as AWS does: it reads the action and the
//! resource from each request (a transaction authorizes each item's own action on its own
//! table) and answers AccessDeniedException, as AWS words it, unless a statement of the role's
//! policy, resolved against the stack, allows exactly that.
//!
//! Lambda also gives every function what SAM adds for its events (the SQS poller's rights);
//! here the harness plays the event source mapping with the provisioning user's rights.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::runtime_api::{Engines, LocalStack, RoleCredentials};
use crate::template::Template;

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
    crate::workspace_root().join(".cache/venv-moto/bin/moto_server")
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
}

impl IamStack {
    pub async fn provision() -> Result<Self, String> {
        Self::provision_with(&[]).await
    }

    /// The stack, with each `WithoutAction` taken out of its function's role.
    pub async fn provision_with(changes: &[WithoutAction]) -> Result<Self, String> {
        let moto = Moto::start().await?;
        let setup = moto.sdk(Credentials::new("setup", "setup", None, None, "setup")).await;
        let mut stack = LocalStack::provision_on(moto.engines(setup)).await?;

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
        for function in template.functions() {
            let grants =
                resolved_grants(&template, &stack, &function.logical_id, &policies[&function.binary])?;
            let proxy =
                PolicyProxy::start(moto.endpoint.clone(), role_name(&function.binary), grants).await?;
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
            stack.give_role(
                binary,
                RoleCredentials {
                    access_key_id: credentials.access_key_id,
                    secret_access_key: credentials.secret_access_key,
                    session_token: credentials.session_token,
                },
            );
        }
        stack.act_as(admin);
        stack.keep(moto);
        // As CloudFormation would: with every role in place, so the custom resource's function
        // runs with its own role's rights too.
        stack.create_custom_resources().await?;
        Ok(Self { stack, policies })
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

/// A statement of a role as IAM evaluates it: actions on resource patterns.
#[derive(Debug, Clone)]
struct Grant {
    actions: Vec<String>,
    resources: Vec<String>,
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
        grants.push(Grant { actions, resources });
    }
    let role = format!("{logical_id}Role.Arn");
    for (id, key) in template.resources().filter(|(_, r)| r["Type"] == "AWS::KMS::Key" && exists(stack, r)) {
        let arn = stack.resolver().resolve(&json!({"Fn::GetAtt": format!("{id}.Arn")}))?.unwrap_or_default();
        for statement in key["Properties"]["KeyPolicy"]["Statement"].as_array().into_iter().flatten() {
            if strings(&statement["Principal"]).contains(&role) {
                let actions =
                    strings(&statement["Action"]).into_iter().filter(|a| allowed.contains(a)).collect();
                grants.push(Grant { actions, resources: strings(&arn) });
            }
        }
    }
    Ok(grants)
}

/// IAM's glob: `*` any run of characters, `?` any one.
fn matches(pattern: &str, text: &str) -> bool {
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
    http: reqwest::Client,
}

impl PolicyProxy {
    async fn start(upstream: String, role: String, grants: Vec<Grant>) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let http = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        let state = std::sync::Arc::new(Checked { upstream, role, grants, http });
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, task })
    }
}

/// The actions and resources a request asks for, as AWS authorizes them (JSON protocols only:
/// DynamoDB, SQS, KMS and Secrets Manager as the SDK speaks them).
fn asked(target: &str, body: &Value) -> Vec<(String, String)> {
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
                Some((format!("dynamodb:{action}"), table(&item[kind]["TableName"])))
            })
            .collect(),
        "dynamodb" => {
            let mut resource = table(&body["TableName"]);
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            vec![(format!("dynamodb:{operation}"), resource)]
        }
        "sqs" => {
            let url = body["QueueUrl"].as_str().unwrap_or_default();
            let mut parts = url.rsplit('/');
            let (name, account) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            vec![(format!("sqs:{operation}"), format!("arn:aws:sqs:{REGION}:{account}:{name}"))]
        }
        "kms" => vec![(format!("kms:{operation}"), body["KeyId"].as_str().unwrap_or_default().to_owned())],
        _ => vec![(
            format!("secretsmanager:{operation}"),
            body["SecretId"].as_str().unwrap_or_default().to_owned(),
        )],
    }
}

async fn forward(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<Checked>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    for (action, resource) in asked(target, &json) {
        let allowed = state.grants.iter().any(|grant| {
            grant.actions.iter().any(|a| matches(a, &action))
                && grant.resources.iter().any(|r| matches(r, &resource))
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
