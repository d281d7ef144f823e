//! template.yaml's generated regions: each function's log group and function, the route
//! throttles, the alarms and dashboard over every function, and the signers each signing key's
//! policy allows (the functions whose `tokens` sign).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::replace_region;
use crate::spec::{Function, Grant, Route, Tokens};

/// The live slot's KMS key, when the live slot holds a KMS key (docs/signing.md).
const SLOT_KMS_KEY: &str = "!If [SignsSealed, !Ref AWS::NoValue, !If [SignsWithGreen, !GetAtt SigningKeyGreen.Arn, !GetAtt SigningKey.Arn]]";
/// The live slot's sealed key, and the key it is sealed under, when the live slot holds one.
const SLOT_SEALED_KEY: &str = "!If [SignsSealed, !If [SignsWithGreen, !GetAtt SealedSigningKeyGreen.Sealed, !GetAtt SealedSigningKey.Sealed], !Ref AWS::NoValue]";
const SEALING_KEY: &str = "!If [SignsSealed, !GetAtt TokenSealingKey.Arn, !Ref AWS::NoValue]";
/// The variable holding the API's public URL (the tokens' issuer), and its value.
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";
const PUBLIC_BASE_URL_VALUE: &str =
    r#"!If [HasPublicBaseUrl, !Ref PublicBaseUrl, !If [HasCustomDomain, !Sub "https://${DomainName}", ""]]"#;

/// The hand-written resources' types, by logical id: what a grant's `resource` may name.
fn resource_types(template: &str) -> BTreeMap<&str, &str> {
    let mut types = BTreeMap::new();
    let mut lines = template.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(id) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) else { continue };
        if id.starts_with(' ') || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        if let Some(kind) = lines.peek().and_then(|next| next.strip_prefix("    Type: ")) {
            types.insert(id, kind.trim());
        }
    }
    types
}

pub(crate) fn render(template: &str, functions: &[Function]) -> Result<String, String> {
    // Only what is outside the generated regions counts: a function cannot grant itself
    // another function's resources.
    let hand_written =
        replace_region(template, "functions", "").map_err(|e| format!("template.yaml: {e}"))?;
    let types = resource_types(&hand_written);
    let mut body = String::new();
    for function in functions {
        function_blocks(&mut body, function, &types)
            .map_err(|e| format!("functions/{}/function.toml: {e}", function.name))?;
    }
    alarms(&mut body, functions);
    dashboard(&mut body, functions);
    let template = replace_region(template, "functions", &body).map_err(|e| format!("template.yaml: {e}"))?;
    let template = replace_region(&template, "route throttles", &route_throttles(functions))
        .map_err(|e| format!("template.yaml: {e}"))?;
    // Both key slots' policies name the same signers: a rotation changes the key, not who signs.
    // The sealing key's lets the same roles unseal: a sealed key is signed with by whoever may
    // sign with a KMS one.
    let signers = signers(functions);
    let template =
        replace_region(&template, "signers", &signers).map_err(|e| format!("template.yaml: {e}"))?;
    let template =
        replace_region(&template, "green signers", &signers).map_err(|e| format!("template.yaml: {e}"))?;
    replace_region(&template, "unsealers", &signers).map_err(|e| format!("template.yaml: {e}"))
}

/// The roles a signing key's policy lets sign: a function's IAM grant of `kms:Sign` is not
/// enough, the key's own policy must name its role too.
fn signers(functions: &[Function]) -> String {
    let mut out = String::new();
    for function in
        functions.iter().filter(|f| matches!(f.spec.tokens, Some(Tokens::Sign | Tokens::VerifyAndSign)))
    {
        writeln!(out, "                - !GetAtt {}FunctionRole.Arn", function.logical_id())
            .expect("writing to a String");
    }
    out
}

fn route_throttles(functions: &[Function]) -> String {
    let mut out = String::new();
    for function in functions {
        let Some(class) = function.spec.throttle else { continue };
        let prefix = class.parameter_prefix();
        for route in function.spec.routes.values() {
            write!(
                out,
                "        \"{route}\":\n          ThrottlingBurstLimit: !Ref {prefix}ThrottleBurstLimit\n          ThrottlingRateLimit: !Ref {prefix}ThrottleRateLimit\n"
            )
            .expect("writing to a String");
        }
    }
    out
}

fn arn(grant: &Grant, types: &BTreeMap<&str, &str>) -> Result<String, String> {
    if let Some(arn) = &grant.resource_arn {
        return Ok(arn.clone());
    }
    let resource = grant.resource.as_deref().expect("checked: resource or resource_arn");
    let kind = types.get(resource).ok_or_else(|| {
        format!("no resource {resource:?} in template.yaml (its hand-written part has {:?})", types.keys())
    })?;
    Ok(match (*kind, &grant.index) {
        ("AWS::DynamoDB::Table", Some(index)) => format!("!Sub \"${{{resource}.Arn}}/index/{index}\""),
        (_, Some(_)) => return Err(format!("`index` needs a table; {resource} is {kind}")),
        ("AWS::DynamoDB::Table" | "AWS::SQS::Queue" | "AWS::KMS::Key", None) => {
            format!("!GetAtt {resource}.Arn")
        }
        ("AWS::SecretsManager::Secret", None) => format!("!Ref {resource}"),
        (other, None) => return Err(format!("{resource} is {other}: say its ARN with `resource_arn`")),
    })
}

fn actions(actions: &[String]) -> String {
    match actions {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

fn function_blocks(
    out: &mut String,
    function: &Function,
    types: &BTreeMap<&str, &str>,
) -> Result<(), String> {
    let id = function.logical_id();
    let name = &function.name;
    let spec = &function.spec;
    let w = |out: &mut String, text: std::fmt::Arguments| out.write_fmt(text).expect("writing to a String");

    w(out, format_args!("\n  # ---------------------------------------------------------------- {name}\n"));
    for line in spec.about.iter().flat_map(|about| about.trim().lines()) {
        w(out, format_args!("  # {line}\n"));
    }
    w(
        out,
        format_args!(
            "  {id}Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub \"/stratus/${{AWS::StackName}}/{name}\"\n      RetentionInDays: !Ref LogRetentionDays\n\n"
        ),
    );
    w(
        out,
        format_args!(
            "  {id}Function:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties: {{Binary: {name}}}\n    Properties:\n      CodeUri: .\n"
        ),
    );
    if let Some(memory) = spec.memory {
        w(out, format_args!("      MemorySize: {memory}\n"));
    }
    if let Some(timeout) = spec.timeout {
        w(out, format_args!("      Timeout: {timeout}\n"));
    }
    w(out, format_args!("      LoggingConfig: {{LogGroup: !Ref {id}Logs}}\n"));

    let implied = spec.implied_grants_read();
    let mut variables = String::new();
    for grant in spec.grants.iter().chain(&implied) {
        if let (Some(variable), Some(resource)) = (&grant.env, &grant.resource) {
            w(&mut variables, format_args!("          {variable}: !Ref {resource}\n"));
        }
    }
    for (variable, value) in &spec.environment {
        w(&mut variables, format_args!("          {variable}: {value}\n"));
    }
    match spec.tokens {
        Some(Tokens::Verify | Tokens::Keys) => variables.push_str(
            "          # sam local runs no custom resource: there the key is read from the local KMS instead\n          # (a `kms` key only: a sealed key is made by a custom resource).\n          SIGNING_JWKS: !If [UnderSamLocal, \"\", !GetAtt SigningKeys.Jwks]\n          SIGNING_KEY_ARN: !If [UnderSamLocal, ",
        ),
        Some(Tokens::VerifyAndSign) => variables.push_str(
            "          SIGNING_JWKS: !If [UnderSamLocal, \"\", !GetAtt SigningKeys.Jwks]\n          SIGNING_KEY_ARN: ",
        ),
        Some(Tokens::Sign) => variables.push_str("          SIGNING_KEY_ARN: "),
        None => {}
    }
    match spec.tokens {
        Some(Tokens::Verify | Tokens::Keys) => {
            w(&mut variables, format_args!("{SLOT_KMS_KEY}, !Ref AWS::NoValue]\n"))
        }
        // A signer gets the live slot's key as its type says: a KMS key's ARN, or the sealed key
        // and the key that unseals it.
        Some(_) => w(
            &mut variables,
            format_args!(
                "{SLOT_KMS_KEY}\n          SIGNING_KEY_SEALED: {SLOT_SEALED_KEY}\n          TOKEN_SEALING_KEY_ARN: {SEALING_KEY}\n"
            ),
        ),
        None => {}
    }
    // Every token's `iss` is the public URL once the stack has one: whoever signs or verifies
    // tokens must know it, or a verifier would refuse what a signer issued.
    if spec.tokens.is_some() {
        w(&mut variables, format_args!("          {PUBLIC_BASE_URL}: {PUBLIC_BASE_URL_VALUE}\n"));
    }
    let http = !spec.routes.is_empty();
    if http {
        variables.push_str(
            "          ORIGIN_VERIFY_SECRET_ARN: !If [UnderSamLocal, \"\", !Ref OriginVerifySecret]\n",
        );
    }
    if !variables.is_empty() {
        w(out, format_args!("      Environment:\n        Variables:\n{variables}"));
    }

    out.push_str("      Policies:\n        - Statement:\n");
    // A guard's read of OAuth grants, unless its own grants already allow it.
    let implied_read = implied.filter(|grant| !grant.actions.is_empty());
    for grant in spec.grants.iter().chain(&implied_read) {
        w(
            out,
            format_args!(
                "            - Effect: Allow\n              Action: {}\n              Resource: {}\n",
                actions(&grant.actions),
                arn(grant, types)?
            ),
        );
        if let Some(condition) = &grant.condition {
            let json = serde_json::to_string(condition).map_err(|e| format!("condition: {e}"))?;
            w(out, format_args!("              Condition: {json}\n"));
        }
    }
    if http {
        out.push_str(
            "            - Effect: Allow\n              Action: secretsmanager:GetSecretValue\n              Resource: !Ref OriginVerifySecret\n",
        );
    }
    w(
        out,
        format_args!(
            "            # SAM's basic execution role may write to any log group: keep this one to its own.\n            - Effect: Deny\n              Action: [logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents]\n              NotResource: !GetAtt {id}Logs.Arn\n"
        ),
    );

    if http || !spec.events.is_empty() {
        out.push_str("      Events:\n");
    }
    for (event, route) in &spec.routes {
        let (method, path) = match route {
            Route::Path { method, path } => (method.as_str(), path.as_str()),
            Route::Default => ("ANY", "$default"),
        };
        w(
            out,
            format_args!(
                "        {event}: {{Type: HttpApi, Properties: {{ApiId: !Ref HttpApi, Method: {method}, Path: \"{path}\"}}}}\n"
            ),
        );
    }
    for (event, yaml) in &spec.events {
        w(out, format_args!("        {event}:\n"));
        indented(out, yaml, "          ");
    }
    // Named as SAM names the mapping of an `SQS` event called `queue` (`<Function><Event>`): a
    // stack deployed when the trigger was such an event updates that mapping in place. Under a new
    // name CloudFormation would create the second mapping first, which Lambda refuses for the same
    // function and queue (ResourceConflictException), failing the update.
    for (queue, yaml) in &spec.queues {
        w(
            out,
            format_args!(
                "\n  {id}Function{queue}:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n      FunctionName: !Ref {id}Function\n"
            ),
        );
        indented(out, yaml, "      ");
    }
    Ok(())
}

/// A YAML block from a description, each line under `indent` (blank lines kept blank).
fn indented(out: &mut String, yaml: &str, indent: &str) {
    for line in yaml.trim_matches('\n').lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            writeln!(out, "{indent}{line}").expect("writing to a String");
        }
    }
}

/// The timeouts' duration alarms keep the logical ids they had when they were written by hand.
fn duration_alarm_id(timeout: u32) -> String {
    match timeout {
        3 => "DefaultDurationAlarm".into(),
        5 => "PasswordDurationAlarm".into(),
        10 => "WorkerDurationAlarm".into(),
        60 => "SweeperDurationAlarm".into(),
        other => format!("Duration{other}sAlarm"),
    }
}

/// CloudWatch's hard limit on the metrics one metric-math alarm reads.
const METRICS_PER_ALARM: usize = 10;

/// One concern over many functions, as metric-math alarms of at most [`METRICS_PER_ALARM`]
/// metrics each: `SUM` or `MAX` over the functions' own metrics, named by `!Ref`. Not a Metrics
/// Insights query: its documented WHERE grammar has `=`, `!=` and `AND`, which cannot say "one
/// of these functions", and a query is capped at 2,048 characters after substitution
/// (docs/operations.md, Alarms). The first alarm keeps the concern's id, the others are
/// numbered from 2.
fn metric_alarms(
    out: &mut String,
    id: &str,
    description: &str,
    (metric, stat, function): (&str, &str, &str),
    functions: &[&Function],
    threshold: u32,
) {
    let chunks: Vec<&[&Function]> = functions.chunks(METRICS_PER_ALARM).collect();
    for (index, chunk) in chunks.iter().enumerate() {
        let alarm_id = if index == 0 { id.to_owned() } else { format!("{id}{}", index + 1) };
        let part = if chunks.len() > 1 {
            let names: Vec<&str> = chunk.iter().map(|f| f.name.as_str()).collect();
            format!(" ({} of {}; {})", index + 1, chunks.len(), names.join(", "))
        } else {
            String::new()
        };
        // Metric-math ids start with a lower-case letter and hold letters, digits and `_`.
        let ids: Vec<String> = chunk.iter().map(|f| f.crate_ident()).collect();
        write!(
            out,
            "\n  {alarm_id}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      AlarmDescription: {description}{part}\n      AlarmActions: [!Ref AlarmTopic]\n      Metrics:\n        - {{Id: total, ReturnData: true, Expression: \"{function}([{}])\"}}\n",
            ids.join(", ")
        )
        .expect("writing to a String");
        for (ident, f) in ids.iter().zip(chunk.iter()) {
            writeln!(
                out,
                "        - {{Id: {ident}, ReturnData: false, MetricStat: {{Metric: {{Namespace: AWS/Lambda, MetricName: {metric}, Dimensions: [{{Name: FunctionName, Value: !Ref {}Function}}]}}, Period: 60, Stat: {stat}}}}}",
                f.logical_id()
            )
            .expect("writing to a String");
        }
        write!(
            out,
            "      EvaluationPeriods: 1\n      Threshold: {threshold}\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n"
        )
        .expect("writing to a String");
    }
}

fn alarms(out: &mut String, functions: &[Function]) {
    out.push_str(
        "\n  # ---------------------------------------------------------------- alarms over every function\n",
    );
    let all: Vec<&Function> = functions.iter().collect();
    metric_alarms(
        out,
        "FunctionErrorsAlarm",
        "A function invocation failed (unhandled error, crash or timeout)",
        ("Errors", "Sum", "SUM"),
        &all,
        0,
    );
    metric_alarms(
        out,
        "FunctionThrottlesAlarm",
        "A function invocation was throttled",
        ("Throttles", "Sum", "SUM"),
        &all,
        0,
    );
    let mut by_timeout: BTreeMap<u32, Vec<&Function>> = BTreeMap::new();
    for function in functions {
        by_timeout.entry(function.spec.timeout.unwrap_or(3)).or_default().push(function);
    }
    for (timeout, group) in by_timeout {
        metric_alarms(
            out,
            &duration_alarm_id(timeout),
            &format!("A function with a {timeout} s timeout ran for more than 80 % of it"),
            ("Duration", "Maximum", "MAX"),
            &group,
            timeout * 800,
        );
    }
}

fn dashboard(out: &mut String, functions: &[Function]) {
    let widget = |x: u32, y: u32, title: &str, metric: &str, stat: &str| {
        let metrics: Vec<String> = functions
            .iter()
            .map(|f| {
                format!(
                    "[\"AWS/Lambda\",\"{metric}\",\"FunctionName\",\"${{{}Function}}\",{{\"label\":\"{}\",\"stat\":\"{stat}\"}}]",
                    f.logical_id(),
                    f.name
                )
            })
            .collect();
        format!(
            "{{\"type\":\"metric\",\"x\":{x},\"y\":{y},\"width\":12,\"height\":8,\"properties\":{{\"title\":\"{title}\",\"region\":\"${{AWS::Region}}\",\"stat\":\"{stat}\",\"period\":300,\"view\":\"timeSeries\",\"metrics\":[{}]}}}}",
            metrics.join(",")
        )
    };
    let widgets = [
        widget(0, 0, "Invocations", "Invocations", "Sum"),
        widget(12, 0, "Errors", "Errors", "Sum"),
        widget(0, 8, "Duration p50 (ms)", "Duration", "p50"),
        widget(12, 8, "Duration p99 (ms)", "Duration", "p99"),
    ];
    write!(
        out,
        "\n  # Every function's invocations, errors and p50/p99 duration.\n  Dashboard:\n    Type: AWS::CloudWatch::Dashboard\n    Properties:\n      DashboardName: !Sub \"${{AWS::StackName}}-${{AWS::Region}}\"\n      DashboardBody: !Sub '{{\"widgets\":[{}]}}'\n",
        widgets.join(",")
    )
    .expect("writing to a String");
}
