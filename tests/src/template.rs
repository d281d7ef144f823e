//! template.yaml read as CloudFormation reads it: short-form tags (`!Ref`, `!GetAtt`, `!Sub`,
//! …) become their long JSON forms (`{"Ref": …}`, `{"Fn::GetAtt": …}`), and a [`Resolver`]
//! evaluates them against values the test supplies, so a function starts with exactly the
//! environment the template would give it on AWS.
//!
//! yaml-rust2's `Yaml` drops tags (`!Ref X` reads as `"X"`), so this builds its own tree from
//! the parser's events, where the tags are still there.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A SAM template as CloudFormation's JSON form.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// One `AWS::Serverless::Function`, with Globals.Function applied.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary cargo-lambda packages as `bootstrap`.
    pub binary: String,
    pub handler: String,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// Globals.Function.Environment.Variables overlaid with the function's own, unresolved.
    pub variables: Map<String, Value>,
    /// `LoggingConfig`, which Lambda turns into `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`.
    pub log_format: Option<String>,
    pub log_level: Option<String>,
}

impl Template {
    /// The repository's template.yaml.
    pub fn workspace() -> Result<Self, String> {
        Self::load(&crate::workspace_root().join("template.yaml"))
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut builder = TreeBuilder::default();
        Parser::new_from_str(text).load(&mut builder, false).map_err(|e| e.to_string())?;
        if let Some(error) = builder.error {
            return Err(error);
        }
        let root = builder.done.ok_or("the template is empty")?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root["Resources"].as_object().into_iter().flatten().map(|(id, r)| (id.as_str(), r))
    }

    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.root["Resources"].get(logical_id)
    }

    pub fn functions(&self) -> Vec<FunctionSpec> {
        self.resources()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
            .filter_map(|(id, r)| self.function_spec(id, r))
            .collect()
    }

    /// The function whose binary is `binary`.
    pub fn function(&self, binary: &str) -> Result<FunctionSpec, String> {
        self.functions()
            .into_iter()
            .find(|f| f.binary == binary)
            .ok_or_else(|| format!("template.yaml declares no function with binary {binary:?}"))
    }

    fn function_spec(&self, id: &str, resource: &Value) -> Option<FunctionSpec> {
        let globals = &self.root["Globals"]["Function"];
        let properties = &resource["Properties"];
        // Globals apply where the function says nothing; Environment.Variables merge by name.
        let property = |name: &str| match &properties[name] {
            Value::Null => globals[name].clone(),
            value => value.clone(),
        };
        let mut variables = globals["Environment"]["Variables"].as_object().cloned().unwrap_or_default();
        if let Some(own) = properties["Environment"]["Variables"].as_object() {
            variables.extend(own.clone());
        }
        // Maps merge key by key, as SAM merges Globals: a function naming its log group keeps
        // Globals' format and levels.
        let mut logging = globals["LoggingConfig"].as_object().cloned().unwrap_or_default();
        if let Some(own) = properties["LoggingConfig"].as_object() {
            logging.extend(own.clone());
        }
        let logging = Value::Object(logging);
        Some(FunctionSpec {
            logical_id: id.to_owned(),
            binary: resource["Metadata"]["BuildProperties"]["Binary"].as_str()?.to_owned(),
            handler: property("Handler").as_str().unwrap_or("bootstrap").to_owned(),
            // SAM's defaults when neither the function nor Globals set them.
            memory_mb: property("MemorySize").as_u64().map_or(128, |m| m as u32),
            timeout_seconds: property("Timeout").as_u64().map_or(3, |t| t as u32),
            variables,
            log_format: logging["LogFormat"].as_str().map(str::to_owned),
            log_level: logging["ApplicationLogLevel"].as_str().map(str::to_owned),
        })
    }

    /// The logical ids that `{"Ref": id}` names anywhere under `node`.
    pub fn refs_in(node: &Value) -> Vec<String> {
        let mut found = Vec::new();
        collect_refs(node, &mut found);
        found
    }
}

fn collect_refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("Ref") {
                out.push(id.clone());
            }
            if let Some(target) = map.get("Fn::GetAtt") {
                let id = match target {
                    Value::String(s) => s.split('.').next().map(str::to_owned),
                    Value::Array(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                };
                out.extend(id);
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

// ------------------------------------------------------------------ YAML with tags

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    done: Option<Value>,
    error: Option<String>,
}

enum Frame {
    Sequence(Vec<Value>, Option<Tag>),
    Mapping(Map<String, Value>, Option<String>, Option<Tag>),
}

impl TreeBuilder {
    fn push_value(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.done = Some(value),
            Some(Frame::Sequence(items, _)) => items.push(value),
            Some(Frame::Mapping(map, pending_key, _)) => match pending_key.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => match value {
                    Value::String(key) => *pending_key = Some(key),
                    other => *pending_key = Some(other.to_string()),
                },
            },
        }
    }

    fn fail(&mut self, message: String) {
        self.error.get_or_insert(message);
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, style, _, tag) => {
                let value = match style {
                    TScalarStyle::Plain => plain_scalar(&text),
                    _ => Value::String(text),
                };
                match tagged(value, tag.as_ref()) {
                    Ok(value) => self.push_value(value),
                    Err(e) => self.fail(format!("line {}: {e}", mark.line())),
                }
            }
            Event::SequenceStart(_, tag) => self.stack.push(Frame::Sequence(Vec::new(), tag)),
            Event::MappingStart(_, tag) => self.stack.push(Frame::Mapping(Map::new(), None, tag)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, tag) = match self.stack.pop() {
                    Some(Frame::Sequence(items, tag)) => (Value::Array(items), tag),
                    Some(Frame::Mapping(map, _, tag)) => (Value::Object(map), tag),
                    None => return self.fail("unbalanced YAML".into()),
                };
                match tagged(value, tag.as_ref()) {
                    Ok(value) => self.push_value(value),
                    Err(e) => self.fail(format!("line {}: {e}", mark.line())),
                }
            }
            Event::Alias(_) => self.fail(format!("line {}: YAML aliases are not supported", mark.line())),
            _ => {}
        }
    }
}

/// YAML 1.2 core schema for untagged plain scalars.
fn plain_scalar(text: &str) -> Value {
    match Yaml::from_str(text) {
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(r), Value::Number),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text.to_owned()),
    }
}

/// `!Ref x` → `{"Ref": x}`, `!Condition x` → `{"Condition": x}`, `!Name x` → `{"Fn::Name": x}`.
fn tagged(value: Value, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else { return Ok(value) };
    if tag.handle != "!" {
        // `!!str` and friends: standard YAML tags, not CloudFormation functions.
        return Ok(match (tag.suffix.as_str(), value) {
            ("str", Value::Null) => Value::String(String::new()),
            ("str", Value::String(s)) => Value::String(s),
            ("str", other) => Value::String(other.to_string()),
            (_, other) => other,
        });
    }
    let key = match tag.suffix.as_str() {
        "Ref" => "Ref".to_owned(),
        "Condition" => "Condition".to_owned(),
        name if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => format!("Fn::{name}"),
        other => return Err(format!("unknown tag !{other}")),
    };
    Ok(Value::Object(Map::from_iter([(key, value)])))
}

// ------------------------------------------------------------------ resolution

/// What a logical resource id resolves to: its `Ref` value and its `Fn::GetAtt` attributes.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// Values for everything a template's intrinsics can name. Whatever is not bound is an error,
/// so a new reference in the template fails loudly instead of reaching a function as junk.
#[derive(Debug, Clone)]
pub struct Resolver {
    template: Template,
    pub parameters: BTreeMap<String, Value>,
    pub pseudo: BTreeMap<String, String>,
    pub resources: BTreeMap<String, Bound>,
    /// `{{resolve:secretsmanager:<id>:SecretString}}` by `<id>` (the secret's `Ref`).
    pub secrets: BTreeMap<String, String>,
}

/// Stands in for `AWS::NoValue`: the property (or variable) is left out.
const NO_VALUE: &str = "AWS::NoValue";

impl Resolver {
    /// Parameters take their defaults. The account id is not sam local's
    /// (`123456789012`), so the template takes its AWS branches.
    pub fn new(template: Template, region: &str) -> Self {
        let parameters = template.root["Parameters"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, p)| Some((name.clone(), p.get("Default")?.clone())))
            .collect();
        let pseudo = BTreeMap::from_iter(
            [
                ("AWS::Region", region),
                ("AWS::AccountId", "000000000000"),
                ("AWS::Partition", "aws"),
                ("AWS::URLSuffix", "amazonaws.com"),
                ("AWS::StackName", "stratus-e2e"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        Self { template, parameters, pseudo, resources: BTreeMap::new(), secrets: BTreeMap::new() }
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn account_id(&self) -> &str {
        &self.pseudo["AWS::AccountId"]
    }

    pub fn region(&self) -> &str {
        &self.pseudo["AWS::Region"]
    }

    /// A function's environment variables, resolved; variables that resolve to `AWS::NoValue`
    /// are absent, as on AWS.
    pub fn environment(&self, function: &FunctionSpec) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (name, value) in &function.variables {
            let resolved =
                self.resolve(value).map_err(|e| format!("{}: variable {name}: {e}", function.logical_id))?;
            match resolved {
                None => {}
                Some(Value::String(s)) => {
                    out.insert(name.clone(), s);
                }
                Some(Value::Number(n)) => {
                    out.insert(name.clone(), n.to_string());
                }
                Some(Value::Bool(b)) => {
                    out.insert(name.clone(), b.to_string());
                }
                Some(other) => {
                    return Err(format!(
                        "{}: variable {name} resolves to a non-scalar {other}",
                        function.logical_id
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Evaluates intrinsic functions; `None` is `AWS::NoValue`.
    pub fn resolve(&self, node: &Value) -> Result<Option<Value>, String> {
        match node {
            Value::String(s) => Ok(Some(Value::String(self.dynamic_references(s)?))),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.extend(self.resolve(item)?);
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => self.reference(argument.as_str().ok_or("Ref takes a name")?),
                    "Fn::GetAtt" => self.get_att(argument).map(|v| Some(Value::String(v))),
                    "Fn::Sub" => self.sub(argument).map(|v| Some(Value::String(v))),
                    "Fn::If" => self.if_(argument),
                    "Fn::Join" => self.join(argument).map(|v| Some(Value::String(v))),
                    "Fn::Select" => self.select(argument),
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                        self.condition_value(node).map(|b| Some(Value::Bool(b)))
                    }
                    other if other.starts_with("Fn::") => Err(format!("{other} is not supported here")),
                    _ => self.resolve_object(map),
                }
            }
            Value::Object(map) => self.resolve_object(map),
            other => Ok(Some(other.clone())),
        }
    }

    fn resolve_object(&self, map: &Map<String, Value>) -> Result<Option<Value>, String> {
        let mut out = Map::new();
        for (k, v) in map {
            if let Some(v) = self.resolve(v)? {
                out.insert(k.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }

    fn reference(&self, name: &str) -> Result<Option<Value>, String> {
        if name == NO_VALUE {
            return Ok(None);
        }
        if let Some(value) = self.pseudo.get(name) {
            return Ok(Some(Value::String(value.clone())));
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(Some(value.clone()));
        }
        if let Some(bound) = self.resources.get(name) {
            return Ok(Some(Value::String(bound.reference.clone())));
        }
        Err(format!("!Ref {name}: no local value is bound to it"))
    }

    fn get_att(&self, argument: &Value) -> Result<String, String> {
        let (id, attribute) = match argument {
            Value::String(s) => {
                s.split_once('.').ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?
            }
            Value::Array(parts) if parts.len() == 2 => (
                parts[0].as_str().ok_or("!GetAtt resource must be a name")?,
                parts[1].as_str().ok_or("!GetAtt attribute must be a name")?,
            ),
            other => return Err(format!("!GetAtt {other}: malformed")),
        };
        self.resources
            .get(id)
            .and_then(|bound| bound.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| format!("!GetAtt {id}.{attribute}: no local value is bound to it"))
    }

    fn sub(&self, argument: &Value) -> Result<String, String> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(parts) if parts.len() == 2 => (
                parts[0].as_str().ok_or("!Sub template must be a string")?,
                parts[1].as_object().cloned().ok_or("!Sub variables must be a mapping")?,
            ),
            other => return Err(format!("!Sub {other}: malformed")),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("!Sub {text:?}: unclosed ${{"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&scalar(&self.resolve(value)?.unwrap_or_default())?);
            } else if self.pseudo.contains_key(name)
                || self.parameters.contains_key(name)
                || !name.contains('.')
            {
                out.push_str(&scalar(&self.reference(name)?.unwrap_or_default())?);
            } else {
                out.push_str(&self.get_att(&Value::String(name.to_owned()))?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        self.dynamic_references(&out)
    }

    /// `{{resolve:secretsmanager:<id>:SecretString}}`, as CloudFormation substitutes it at
    /// deploy time.
    fn dynamic_references(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{resolve:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "{{resolve:".len()..];
            let end = after.find("}}").ok_or_else(|| format!("{text:?}: unclosed dynamic reference"))?;
            let reference = &after[..end];
            let secret_id = reference
                .strip_prefix("secretsmanager:")
                .and_then(|r| r.strip_suffix(":SecretString"))
                .ok_or_else(|| format!("dynamic reference {{{{resolve:{reference}}}}} is not supported"))?;
            let value = self
                .secrets
                .get(secret_id)
                .ok_or_else(|| format!("no local secret is bound to {secret_id}"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn if_(&self, argument: &Value) -> Result<Option<Value>, String> {
        let parts =
            argument.as_array().filter(|p| p.len() == 3).ok_or("!If takes [condition, then, else]")?;
        let name = parts[0].as_str().ok_or("!If condition must be a name")?;
        let branch = if self.condition(name)? { &parts[1] } else { &parts[2] };
        self.resolve(branch)
    }

    fn join(&self, argument: &Value) -> Result<String, String> {
        let parts = argument.as_array().filter(|p| p.len() == 2).ok_or("!Join takes [delimiter, list]")?;
        let delimiter = parts[0].as_str().ok_or("!Join delimiter must be a string")?;
        let items = match self.resolve(&parts[1])? {
            Some(Value::Array(items)) => items,
            other => return Err(format!("!Join list resolves to {other:?}")),
        };
        Ok(items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?.join(delimiter))
    }

    fn select(&self, argument: &Value) -> Result<Option<Value>, String> {
        let parts = argument.as_array().filter(|p| p.len() == 2).ok_or("!Select takes [index, list]")?;
        let index = match self.resolve(&parts[0])? {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or("!Select index must be a number")? as usize;
        match self.resolve(&parts[1])? {
            Some(Value::Array(items)) => items
                .get(index)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("!Select index {index} out of range")),
            other => Err(format!("!Select list resolves to {other:?}")),
        }
    }

    /// A named condition of the template's `Conditions`.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let definition = self.template.root["Conditions"]
            .get(name)
            .ok_or_else(|| format!("no condition {name} in the template"))?;
        self.condition_value(definition)
    }

    fn condition_value(&self, node: &Value) -> Result<bool, String> {
        let map =
            node.as_object().filter(|m| m.len() == 1).ok_or_else(|| format!("{node} is not a condition"))?;
        let (key, argument) = map.iter().next().expect("one entry");
        let list = || argument.as_array().ok_or_else(|| format!("{key} takes a list"));
        match key.as_str() {
            "Condition" => self.condition(argument.as_str().ok_or("Condition takes a name")?),
            "Fn::Not" => Ok(!self.condition_value(list()?.first().ok_or("!Not takes one condition")?)?),
            "Fn::And" => list()?.iter().try_fold(true, |acc, c| Ok(acc && self.condition_value(c)?)),
            "Fn::Or" => list()?.iter().try_fold(false, |acc, c| Ok(acc || self.condition_value(c)?)),
            "Fn::Equals" => {
                let items = list()?;
                if items.len() != 2 {
                    return Err("!Equals takes two values".into());
                }
                Ok(self.resolve(&items[0])? == self.resolve(&items[1])?)
            }
            other => Err(format!("{other} is not a condition function")),
        }
    }
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(format!("{other} is not a scalar")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
  Limit: {Type: Number, Default: 5}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Globals:
  Function:
    MemorySize: 128
    Environment:
      Variables:
        ISSUER: !Sub "stratus-${Stage}"
        ONLY_PROD: !If [IsProd, "yes", !Ref AWS::NoValue]
        SECRET: !Sub "{{resolve:secretsmanager:${Secret}:SecretString}}"
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Secret: {Type: AWS::SecretsManager::Secret}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fn}}
    Properties:
      MemorySize: 1024
      Environment:
        Variables:
          TABLE: !Ref Table
          ARN: !GetAtt Table.Arn
          LIMIT: !Ref Limit
          JOINED: !Join ["-", [a, !Ref Stage, !Sub "${Table.Arn}"]]
          ESCAPED: !Sub "${!Literal}-${AWS::Region}"
          NOT_PROD: !If [NotProd, "1", "0"]
"#;

    fn resolver() -> Resolver {
        let mut resolver = Resolver::new(Template::parse(TEMPLATE).unwrap(), "eu-west-1");
        resolver.resources.insert(
            "Table".into(),
            Bound { reference: "t1".into(), attributes: BTreeMap::from([("Arn".into(), "arn:t1".into())]) },
        );
        resolver
            .resources
            .insert("Secret".into(), Bound { reference: "arn:secret".into(), ..Bound::default() });
        resolver.secrets.insert("arn:secret".into(), "s3cret".into());
        resolver
    }

    #[test]
    fn short_form_tags_become_long_form_intrinsics() {
        let template = Template::parse(TEMPLATE).unwrap();
        let function = template.function("fn").unwrap();
        assert_eq!(function.variables["TABLE"], json!({"Ref": "Table"}));
        assert_eq!(function.variables["ARN"], json!({"Fn::GetAtt": "Table.Arn"}));
        assert_eq!(template.root()["Conditions"]["NotProd"], json!({"Fn::Not": [{"Condition": "IsProd"}]}));
        assert_eq!(function.memory_mb, 1024);
    }

    #[test]
    fn a_functions_environment_resolves_against_bound_values() {
        let resolver = resolver();
        let env = resolver.environment(&resolver.template().function("fn").unwrap()).unwrap();
        let expected: BTreeMap<String, String> = [
            ("ISSUER", "stratus-dev"),
            ("SECRET", "s3cret"),
            ("TABLE", "t1"),
            ("ARN", "arn:t1"),
            ("LIMIT", "5"),
            ("JOINED", "a-dev-arn:t1"),
            ("ESCAPED", "${Literal}-eu-west-1"),
            ("NOT_PROD", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(env, expected);
    }

    #[test]
    fn conditions_follow_parameters() {
        let mut resolver = resolver();
        resolver.parameters.insert("Stage".into(), json!("prod"));
        let env = resolver.environment(&resolver.template().function("fn").unwrap()).unwrap();
        assert_eq!(env["ONLY_PROD"], "yes");
        assert_eq!(env["NOT_PROD"], "0");
    }

    #[test]
    fn unbound_references_are_errors() {
        let mut resolver = resolver();
        resolver.resources.remove("Table");
        let error = resolver.environment(&resolver.template().function("fn").unwrap()).unwrap_err();
        assert!(error.contains("Table"), "{error}");
    }
}
