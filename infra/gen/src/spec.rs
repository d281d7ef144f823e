//! A function's description (`functions/<name>/function.toml`), parsed: whatever `make generate`
//! gets past this is well formed, so the writers only format.

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

/// One function: its crate's directory name and its description.
#[derive(Debug)]
pub struct Function {
    /// The crate, the binary and the route table's name for it, e.g. `create-message`.
    pub name: String,
    pub spec: Spec,
}

impl Function {
    /// The template's name for it: `create-message` → `CreateMessage` (`…Function`, `…Logs`).
    pub fn logical_id(&self) -> String {
        camel_case(&self.name)
    }

    /// The crate as Rust names it: `create-message` → `create_message`.
    pub fn crate_ident(&self) -> String {
        self.name.replace('-', "_")
    }
}

pub(crate) fn camel_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Why the function is as it is (memory, grants): written above it in template.yaml.
    pub about: Option<String>,
    /// MB; the template's Globals (128) when absent.
    pub memory: Option<u32>,
    /// Seconds; the template's Globals (3) when absent.
    pub timeout: Option<u32>,
    /// What it does with access tokens; the signing-key variables follow from it.
    pub tokens: Option<Tokens>,
    /// A route throttle of its own class instead of the API's default: `sensitive` (argon2 or
    /// mail behind the routes) or `refresh` (a KMS signature, and nothing else, behind each).
    pub throttle: Option<Throttle>,
    /// Event name → `METHOD /path` (API Gateway syntax) or `ANY $default`.
    #[serde(default)]
    pub routes: IndexMap<String, Route>,
    /// Settings it reads, beside the names its grants and tokens give it: name → a YAML value.
    #[serde(default)]
    pub environment: IndexMap<String, String>,
    /// Each resource it touches, with the actions it calls on it.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Triggers other than HTTP routes and queues (a schedule): event name → SAM event YAML.
    #[serde(default)]
    pub events: IndexMap<String, String>,
    /// Queues it is fed from: name → the properties of an `AWS::Lambda::EventSourceMapping`
    /// (YAML, all but FunctionName). Not SAM's SQS event, which attaches the managed policy
    /// AWSLambdaSQSQueueExecutionRole (every queue of the account) to the role: the grants
    /// name the queue's receive, delete and attribute actions instead.
    #[serde(default)]
    pub queues: IndexMap<String, String>,
    /// What one request costs beside Lambda and API Gateway: read by `make bench`'s cost table.
    pub cost: Option<Cost>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tokens {
    /// Guards its routes (`stratus_auth::guard`): checks access tokens against the published
    /// keys (SIGNING_JWKS), and reads whether an OAuth token's grant was revoked, for which the
    /// generator grants `dynamodb:GetItem` on RefreshTokensTable.
    Verify,
    /// Reads the published keys without guarding anything: to publish them (the JWKS) or to
    /// check an ID token hint.
    Keys,
    /// Signs access tokens with the key of the live slot: its KMS key (SIGNING_KEY_ARN, and the
    /// key's policy lets the role `kms:Sign`) or its sealed key (SIGNING_KEY_SEALED and
    /// TOKEN_SEALING_KEY_ARN, and the sealing key's policy lets the role `kms:Decrypt`).
    Sign,
    /// Both `verify` and `sign`.
    VerifyAndSign,
}

/// The table an OAuth grant's revocation is recorded in, and the variable that names it:
/// every guard reads it.
pub const GRANTS_TABLE: &str = "RefreshTokensTable";
pub const GRANTS_TABLE_VARIABLE: &str = "REFRESH_TOKENS_TABLE";
pub const GRANTS_READ: &str = "dynamodb:GetItem";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Throttle {
    /// `LoginThrottleRateLimit`/`…BurstLimit`: argon2 or mail behind the routes.
    Sensitive,
    /// `RefreshThrottleRateLimit`/`…BurstLimit`: a refresh, one KMS signature each.
    Refresh,
    /// `OAuthTokenThrottleRateLimit`/`…BurstLimit`: the OAuth token endpoint, up to two
    /// signatures of the ES256 key each (an access token, and an ES256 client's ID token).
    OauthToken,
}

impl Throttle {
    /// The prefix of the template parameters that hold the class's rate and burst.
    pub fn parameter_prefix(self) -> &'static str {
        match self {
            Throttle::Sensitive => "Login",
            Throttle::Refresh => "Refresh",
            Throttle::OauthToken => "OAuthToken",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub actions: Vec<String>,
    /// A resource of template.yaml's hand-written part (a table, queue, key or secret).
    pub resource: Option<String>,
    /// With a table: the index the actions are on, not the table.
    pub index: Option<String>,
    /// An ARN no resource of the template names (a YAML value), in place of `resource`.
    pub resource_arn: Option<String>,
    /// The variable that hands the resource's name (`!Ref`) to the function.
    pub env: Option<String>,
    /// An IAM condition block, as the policy would hold it.
    pub condition: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    pub dynamodb_writes: Option<f64>,
    pub dynamodb_reads: Option<f64>,
    pub sqs_requests: Option<f64>,
    /// `Sign` calls with the ECC keys (ES256 access tokens, an ES256 client's ID tokens).
    pub kms_signs: Option<f64>,
    /// `Sign` calls with the RSA 2048 key (RS256 ID tokens), which KMS prices and counts apart.
    pub kms_rsa_signs: Option<f64>,
    pub mails: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Path {
        method: Method,
        path: String,
    },
    /// API Gateway's `$default`: what no other route matches.
    Default,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Path { method, path } => write!(f, "{} {path}", method.as_str()),
            Route::Default => f.write_str("ANY $default"),
        }
    }
}

impl std::str::FromStr for Route {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "ANY $default" {
            return Ok(Route::Default);
        }
        let (method, path) = text.split_once(' ').ok_or_else(|| format!("{text:?} is not `METHOD /path`"))?;
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => return Err(format!("{text:?}: {other:?} is not GET, POST, PUT, PATCH or DELETE")),
        };
        let well_formed = path.starts_with('/')
            && path.split('/').skip(1).all(|segment| {
                let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
                match name {
                    Some(name) => {
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }
                    None => segment.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)),
                }
            });
        if !well_formed {
            return Err(format!(
                "{text:?}: a path is `/`-separated segments of letters, digits, `-._~`, or one `{{name}}`"
            ));
        }
        Ok(Route::Path { method, path: path.to_owned() })
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

fn is_event_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A crate directory name as the template and the route table can use it: `create-message`.
pub(crate) fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

impl Spec {
    /// Whether it guards routes, and so reads OAuth grants.
    pub fn guards(&self) -> bool {
        matches!(self.tokens, Some(Tokens::Verify | Tokens::VerifyAndSign))
    }

    /// The grant a guard needs beyond what its own grants give: the read of RefreshTokensTable,
    /// and its variable unless a grant of its own sets it. `None` when nothing is missing.
    pub fn implied_grants_read(&self) -> Option<Grant> {
        if !self.guards() {
            return None;
        }
        let on_table =
            |grant: &&Grant| grant.resource.as_deref() == Some(GRANTS_TABLE) && grant.index.is_none();
        let has_read =
            self.grants.iter().filter(on_table).any(|g| g.actions.iter().any(|a| a == GRANTS_READ));
        let has_variable = self.grants.iter().any(|g| g.env.as_deref() == Some(GRANTS_TABLE_VARIABLE));
        (!has_read || !has_variable).then(|| Grant {
            actions: if has_read { Vec::new() } else { vec![GRANTS_READ.to_owned()] },
            resource: Some(GRANTS_TABLE.to_owned()),
            index: None,
            resource_arn: None,
            env: (!has_variable).then(|| GRANTS_TABLE_VARIABLE.to_owned()),
            condition: None,
        })
    }

    fn check(&self) -> Result<(), String> {
        for name in self.routes.keys().chain(self.events.keys()).chain(self.queues.keys()) {
            if !is_event_name(name) {
                return Err(format!("event name {name:?} must be CamelCase letters and digits"));
            }
        }
        if let Some(name) = self.routes.keys().find(|name| self.events.contains_key(*name)) {
            return Err(format!("{name:?} is both a route and an event"));
        }
        if let Some(name) =
            self.queues.keys().find(|name| self.routes.contains_key(*name) || self.events.contains_key(*name))
        {
            return Err(format!("{name:?} is both a queue and a route or event"));
        }
        if let Some((name, _)) =
            self.events.iter().find(|(_, yaml)| yaml.trim_start().starts_with("Type: SQS"))
        {
            return Err(format!(
                "event {name:?} is a SAM SQS event, which grants the role every queue of the account: say it under `queues`"
            ));
        }
        if self.throttle.is_some() && self.routes.is_empty() {
            return Err("`throttle` needs routes".into());
        }
        if self.routes.values().any(|r| *r == Route::Default) && self.routes.len() > 1 {
            return Err("the `ANY $default` function takes no other route".into());
        }
        let mut variables: Vec<&str> = self.environment.keys().map(String::as_str).collect();
        for grant in &self.grants {
            if grant.actions.is_empty() || grant.actions.iter().any(|a| !a.contains(':')) {
                return Err(format!("grant actions must be `service:Action`, got {:?}", grant.actions));
            }
            match (&grant.resource, &grant.resource_arn) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => return Err("a grant names exactly one of `resource` and `resource_arn`".into()),
            }
            if grant.resource.is_none() && (grant.index.is_some() || grant.env.is_some()) {
                return Err("`index` and `env` go with `resource`".into());
            }
            if let Some(condition) = &grant.condition
                && !condition.is_table()
            {
                return Err("a grant's `condition` is a table".into());
            }
            variables.extend(grant.env.as_deref());
        }
        variables.extend(self.tokens.map(|_| "SIGNING_KEY_ARN"));
        if matches!(self.tokens, Some(Tokens::Sign | Tokens::VerifyAndSign)) {
            variables.extend(["SIGNING_KEY_SEALED", "TOKEN_SEALING_KEY_ARN"]);
        }
        variables.extend(self.tokens.map(|_| "PUBLIC_BASE_URL"));
        if matches!(self.tokens, Some(Tokens::Verify | Tokens::Keys | Tokens::VerifyAndSign)) {
            variables.push("SIGNING_JWKS");
        }
        if self.implied_grants_read().is_some_and(|implied| implied.env.is_some()) {
            variables.push(GRANTS_TABLE_VARIABLE);
        }
        if !self.routes.is_empty() {
            variables.push("ORIGIN_VERIFY_SECRET_ARN");
        }
        if let Some(bad) = variables.iter().find(|v| !is_variable_name(v)) {
            return Err(format!("variable {bad:?} must be UPPER_SNAKE_CASE"));
        }
        let mut sorted = variables.clone();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!(
                "variable {} is set twice (by `environment`, a grant's `env`, `tokens` or the routes' origin check)",
                pair[0]
            ));
        }
        Ok(())
    }
}

/// Every `functions/*/function.toml`, by name. A directory under `functions/` without one is
/// an error: every function is described.
pub fn load_functions(root: &Path) -> Result<Vec<Function>, String> {
    let dir = root.join("functions");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut functions = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name).join("function.toml");
        if !is_function_name(&name) {
            return Err(format!(
                "functions/{name}: a function's name is lower-case letters, digits and single `-`"
            ));
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("functions/{name}/function.toml: {e}"))?;
        let spec: Spec = toml::from_str(&text).map_err(|e| format!("functions/{name}/function.toml: {e}"))?;
        spec.check().map_err(|e| format!("functions/{name}/function.toml: {e}"))?;
        functions.push(Function { name, spec });
    }
    let mut seen: Vec<(String, &str)> = Vec::new();
    for function in &functions {
        for route in function.spec.routes.values() {
            let key = route.to_string();
            if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key) {
                return Err(format!("{key} is routed to both {other} and {}", function.name));
            }
            seen.push((key, &function.name));
        }
    }
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_as_api_gateway_writes_them() {
        assert_eq!(
            "GET /messages/{digest}".parse::<Route>(),
            Ok(Route::Path { method: Method::Get, path: "/messages/{digest}".into() })
        );
        assert_eq!("ANY $default".parse::<Route>(), Ok(Route::Default));
        for bad in ["GET", "FETCH /x", "GET x", "GET /a/{}", "GET /a b", "GET /{a}}"] {
            assert!(bad.parse::<Route>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn names_turn_into_logical_ids_and_crate_idents() {
        let function = Function { name: "login-mfa".into(), spec: toml::from_str("").expect("empty spec") };
        assert_eq!(function.logical_id(), "LoginMfa");
        assert_eq!(function.crate_ident(), "login_mfa");
        assert!(is_function_name("a1-b") && !is_function_name("A") && !is_function_name("a--b"));
    }

    #[test]
    fn a_sam_sqs_event_is_refused_for_a_queue_mapping() {
        let spec: Spec =
            toml::from_str("[events]\nTasks = \"Type: SQS\\nProperties: {}\"\n").expect("parses");
        assert!(spec.check().unwrap_err().contains("queues"));
        let spec: Spec =
            toml::from_str("[queues]\nTasks = \"EventSourceArn: !GetAtt Q.Arn\"\n").expect("parses");
        assert!(spec.check().is_ok());
    }

    #[test]
    fn a_variable_set_twice_is_refused() {
        let spec: Spec = toml::from_str(
            "tokens = \"verify\"\n[routes]\nX = \"GET /x\"\n[environment]\nSIGNING_JWKS = \"x\"\n",
        )
        .expect("parses");
        assert!(spec.check().unwrap_err().contains("SIGNING_JWKS"));
    }

    #[test]
    fn a_guard_reads_grants_unless_its_own_grants_already_do() {
        let implied = |text: &str| {
            let spec: Spec = toml::from_str(text).expect("parses");
            spec.check().expect("checks");
            spec.implied_grants_read().map(|grant| (grant.actions, grant.env))
        };
        let read = || vec![GRANTS_READ.to_owned()];
        let variable = || Some(GRANTS_TABLE_VARIABLE.to_owned());
        assert_eq!(implied("tokens = \"verify\"\n"), Some((read(), variable())));
        assert_eq!(implied("tokens = \"verify-and-sign\"\n"), Some((read(), variable())));
        assert_eq!(implied("tokens = \"keys\"\n"), None);
        assert_eq!(implied("tokens = \"sign\"\n"), None);
        let own = |actions: &str| {
            format!(
                "tokens = \"verify\"\n[[grants]]\nactions = {actions}\nresource = \"RefreshTokensTable\"\nenv = \"REFRESH_TOKENS_TABLE\"\n"
            )
        };
        assert_eq!(implied(&own("[\"dynamodb:GetItem\", \"dynamodb:UpdateItem\"]")), None);
        assert_eq!(implied(&own("[\"dynamodb:UpdateItem\"]")), Some((read(), None)));
    }
}
