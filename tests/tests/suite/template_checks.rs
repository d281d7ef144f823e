//! template.yaml, checked where CloudFormation and IAM would only fail on a real account:
//! routes, table keys, least privilege, secrets, scaling, logs, alarms and names. It is read as
//! CloudFormation reads it (the reader the emulator launches functions with): `!Ref X` is
//! `{"Ref": "X"}` and `!GetAtt X.Arn` is `{"Fn::GetAtt": "X.Arn"}`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use stratus_aws::dynamodb::tables;
use stratus_routes::{FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY, ROUTES};

fn template() -> Value {
    stratus_tests::template::Template::workspace().expect("template.yaml reads").root().clone()
}

fn resources_of(template: &Value, kind: &str) -> BTreeMap<String, Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect()
}

fn functions(template: &Value) -> BTreeMap<String, Value> {
    resources_of(template, "AWS::Serverless::Function")
}

fn binary(function: &Value) -> &str {
    function["Metadata"]["BuildProperties"]["Binary"].as_str().expect("every function names its binary")
}

fn is_http(function: &Value) -> bool {
    function["Properties"]["Events"].as_object().is_some_and(|e| e.values().any(|e| e["Type"] == "HttpApi"))
}

/// The function's timeout: its own, or Globals'.
fn timeout(template: &Value, function: &Value) -> u64 {
    function["Properties"]["Timeout"]
        .as_u64()
        .or_else(|| template["Globals"]["Function"]["Timeout"].as_u64())
        .expect("a timeout")
}

/// Every string anywhere below a node.
fn strings(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn statements(function: &Value) -> Vec<Value> {
    function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|policy| policy["Statement"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn http_events_are_exactly_the_route_table() {
    let template = template();
    let mut declared = BTreeSet::new();
    for function in functions(&template).values() {
        assert_eq!(function["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
        assert_eq!(function["Properties"]["CodeUri"].as_str(), Some("."));
        let Some(events) = function["Properties"]["Events"].as_object() else { continue };
        for event in events.values().filter(|e| e["Type"].as_str() == Some("HttpApi")) {
            let properties = &event["Properties"];
            assert_eq!(properties["ApiId"]["Ref"].as_str(), Some("HttpApi"));
            let method = properties["Method"].as_str().unwrap().to_owned();
            let path = properties["Path"].as_str().unwrap().to_owned();
            declared.insert((method, path, binary(function).to_owned()));
        }
    }
    let mut expected: BTreeSet<(String, String, String)> =
        ROUTES.iter().map(|r| (r.method.into(), r.path.into(), r.function.into())).collect();
    expected.insert(("ANY".into(), FALLBACK_ROUTE_KEY.into(), FALLBACK_FUNCTION.into()));
    assert_eq!(declared, expected);
}

#[test]
fn tables_have_the_keys_and_indexes_the_code_expects() {
    let template = template();
    let resources = &template["Resources"];
    let in_template: BTreeSet<String> = resources_of(&template, "AWS::DynamoDB::Table").into_keys().collect();
    let specified: BTreeSet<String> = tables::ALL.iter().map(|spec| spec.resource.to_owned()).collect();
    assert_eq!(in_template, specified, "every table of the template has its spec, and every spec its table");
    let functions = functions(&template);
    for spec in tables::ALL {
        // A table may have no function yet, but every function it has gets this one by name.
        for (id, function) in &functions {
            let variable = &function["Properties"]["Environment"]["Variables"][spec.env_var];
            if !variable.is_null() {
                assert_eq!(variable["Ref"].as_str(), Some(spec.resource), "{id}'s {}", spec.env_var);
            }
        }
        let logical = spec.resource;
        assert_eq!(resources[logical]["Type"].as_str(), Some("AWS::DynamoDB::Table"), "{logical}");
        let table = &resources[logical]["Properties"];
        assert_eq!(table["KeySchema"][0]["AttributeName"].as_str(), Some(spec.partition_key), "{logical}");
        assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{logical}");
        assert_eq!(
            table["TimeToLiveSpecification"]["AttributeName"].as_str(),
            spec.ttl_attribute,
            "{logical} TTL"
        );
        let indexes = table["GlobalSecondaryIndexes"].as_array().cloned().unwrap_or_default();
        match spec.index {
            None => assert!(indexes.is_empty(), "{logical}"),
            Some(index) => {
                let [declared] = indexes.as_slice() else { panic!("{logical} needs exactly its one index") };
                assert_eq!(declared["IndexName"].as_str(), Some(index.name));
                assert_eq!(declared["KeySchema"][0]["AttributeName"].as_str(), Some(index.partition_key));
                assert_eq!(declared["KeySchema"][1]["AttributeName"].as_str(), index.sort_key);
                assert_eq!(
                    declared["KeySchema"].as_array().map(Vec::len),
                    Some(1 + usize::from(index.sort_key.is_some()))
                );
                assert_eq!(declared["Projection"]["ProjectionType"].as_str(), Some("KEYS_ONLY"));
            }
        }
    }
    // Data outlives the stack, and prod's refuses deletion.
    for (id, table) in resources_of(&template, "AWS::DynamoDB::Table") {
        if table["DeletionPolicy"] == "RetainExceptOnCreate" || table["DeletionPolicy"] == "Retain" {
            let protection = &table["Properties"]["DeletionProtectionEnabled"]["Fn::If"];
            assert_eq!(protection[0], "ProtectTables", "{id}");
        }
    }
    let protect = &template["Conditions"]["ProtectTables"].to_string();
    assert!(protect.contains("IsProd") && protect.contains("TableDeletionProtection"), "{protect}");
}

/// Only inline statements, so these checks see every grant: a SAM policy template, a managed
/// policy or a role of its own would hide what it allows. An Allow names only actions on the
/// stack's own resources; the one Deny fences SAM's logs grant to the function's own log group.
#[test]
fn function_policies_are_inline_statements_on_the_stacks_own_resources() {
    let template = template();
    let resources = &template["Resources"];
    assert!(template["Globals"]["Function"]["Policies"].is_null(), "no policies for every function");
    for (id, function) in functions(&template) {
        let properties = &function["Properties"];
        for property in ["Role", "ManagedPolicyArns", "PermissionsBoundary"] {
            assert!(properties[property].is_null(), "{id} sets {property}");
        }
        for policy in properties["Policies"].as_array().expect("every function fences its logs") {
            let keys: Vec<&str> =
                policy.as_object().map(|h| h.keys().map(String::as_str).collect()).unwrap_or_default();
            assert_eq!(keys, ["Statement"], "{id}: only inline statements, got {policy:?}");
        }
        let log_group = properties["LoggingConfig"]["LogGroup"]["Ref"].as_str().expect("its own log group");
        let mut fences = 0;
        for statement in statements(&function) {
            let mut actions = Vec::new();
            strings(&statement["Action"], &mut actions);
            assert!(!actions.is_empty(), "{id}: a statement without actions");
            for action in &actions {
                assert!(!action.contains('*'), "{id} uses a wildcard action {action}");
            }
            if statement["Effect"] == "Deny" {
                assert_eq!(statement["NotResource"]["Fn::GetAtt"], format!("{log_group}.Arn"), "{id}");
                assert!(actions.iter().all(|a| a.starts_with("logs:")), "{id}: {actions:?}");
                fences += 1;
                continue;
            }
            assert_eq!(statement["Effect"], "Allow", "{id}");
            let resource = &statement["Resource"];
            // A choice between two of the stack's resources (the signing-key slots) is its own too,
            // and so is a list of them, some left out by a condition (AWS::NoValue).
            let listed = resource.as_array().cloned().unwrap_or_else(|| vec![resource.clone()]);
            let branches: Vec<Value> = listed
                .iter()
                .flat_map(|resource| match resource["Fn::If"].as_array() {
                    Some(choice) => choice[1..].to_vec(),
                    None => vec![resource.clone()],
                })
                .filter(|resource| resource["Ref"] != "AWS::NoValue")
                .collect();
            let own = branches.iter().all(|resource| {
                if let Some(arn) = resource["Fn::GetAtt"].as_str() {
                    arn.strip_suffix(".Arn").is_some_and(|l| !resources[l].is_null())
                } else if let Some(secret) = resource["Ref"].as_str() {
                    resources[secret]["Type"] == "AWS::SecretsManager::Secret"
                } else if let Some(sub) = resource["Fn::Sub"].as_str() {
                    // An index of one of the stack's tables: `${Table.Arn}/index/name`.
                    let index = sub
                        .strip_prefix("${")
                        .and_then(|s| s.split_once(".Arn}/index/"))
                        .is_some_and(|(table, index)| {
                            resources[table]["Type"] == "AWS::DynamoDB::Table" && !index.contains('*')
                        });
                    // The one SES identity the stack is configured to send from.
                    let sender = sub
                        .strip_prefix(
                            "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${",
                        )
                        .and_then(|s| s.strip_suffix('}'))
                        .is_some_and(|parameter| template["Parameters"][parameter]["Type"] == "String");
                    // The stack's own SES configuration set, which every send names.
                    let configuration_set = sub
                        .strip_prefix(
                            "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${",
                        )
                        .and_then(|s| s.strip_suffix('}'))
                        .is_some_and(|set| resources[set]["Type"] == "AWS::SES::ConfigurationSet");
                    index || sender || configuration_set
                } else {
                    false
                }
            });
            assert!(own, "{id}: {resource} is not one of the stack's own resources");
        }
        assert_eq!(fences, 1, "{id} fences its logs grant once");
    }
}

#[test]
fn policies_name_only_what_the_function_is_configured_to_use() {
    let template = template();
    for (id, function) in functions(&template) {
        let properties = &function["Properties"];
        let mut configured = Vec::new();
        strings(&properties["Environment"], &mut configured);
        strings(&properties["LoggingConfig"], &mut configured);
        strings(&properties["Events"], &mut configured);
        // What its event source mappings poll.
        for (_, mapping) in resources_of(&template, "AWS::Lambda::EventSourceMapping") {
            if mapping["Properties"]["FunctionName"]["Ref"].as_str() == Some(id.as_str()) {
                strings(&mapping["Properties"], &mut configured);
            }
        }
        // What CloudFormation hands it as a custom resource's provider.
        for (_, custom) in template["Resources"].as_object().unwrap() {
            if custom["Properties"]["ServiceToken"]["Fn::GetAtt"].as_str() == Some(&format!("{id}.Arn")) {
                strings(&custom["Properties"], &mut configured);
            }
        }
        for statement in statements(&function) {
            let mut named = Vec::new();
            strings(&statement["Resource"], &mut named);
            strings(&statement["NotResource"], &mut named);
            // A condition's name (the first of an Fn::If's three) and AWS::NoValue name nothing.
            named.retain(|name| name != "AWS::NoValue" && template["Conditions"][name.as_str()].is_null());
            for name in named {
                // In an ARN built with Fn::Sub, the placeholders that are not AWS's own.
                if name.starts_with("arn:") {
                    for placeholder in
                        name.split("${").skip(1).filter_map(|s| s.split_once('}')).map(|(p, _)| p)
                    {
                        if !placeholder.starts_with("AWS::") {
                            assert!(
                                configured.iter().any(|c| c == placeholder),
                                "{id}'s policy names {placeholder}, which it is not configured to use"
                            );
                        }
                    }
                    continue;
                }
                let logical = name
                    .strip_prefix("${")
                    .map(|s| s.split('.').next().unwrap_or(s).to_owned())
                    .unwrap_or_else(|| name.trim_end_matches(".Arn").to_owned());
                assert!(
                    configured.iter().any(|c| c == &logical || c == &format!("{logical}.Arn")),
                    "{id}'s policy names {logical}, which it is not configured to use"
                );
            }
            let mut actions = Vec::new();
            strings(&statement["Action"], &mut actions);
            // The keys' own policies grant their use, to named roles only.
            for action in KEY_USES {
                assert!(!actions.iter().any(|a| a == action), "{id} must not get {action} from IAM");
            }
        }
    }
}

/// What a KMS key is used for: granted in the key's own policy, never by IAM.
const KEY_USES: [&str; 5] =
    ["kms:Sign", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"];

/// IAM's glob, case-insensitive as action names are.
fn glob(pattern: &str, text: &str) -> bool {
    stratus_tests::iam::matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

/// The statements of a key's policy that allow `action` (by any pattern that matches it).
fn key_statements_allowing<'a>(key: &'a Value, action: &str) -> Vec<&'a Value> {
    key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("a key policy")
        .iter()
        .filter(|statement| {
            let mut actions = Vec::new();
            strings(&statement["Action"], &mut actions);
            assert!(statement["NotAction"].is_null() && statement["NotPrincipal"].is_null(), "{statement}");
            statement["Effect"] == "Allow" && actions.iter().any(|a| glob(a, action))
        })
        .collect()
}

fn principals(statement: &Value) -> BTreeSet<String> {
    let mut out = Vec::new();
    strings(&statement["Principal"], &mut out);
    out.into_iter().collect()
}

#[test]
fn only_the_functions_that_begin_sessions_can_sign() {
    let template = template();
    // Login, its second step, refresh, and turning TOTP on or off (which begins the caller's
    // session anew): the key policies must name these and nobody else.
    let expected: BTreeSet<String> = [
        "LoginFunctionRole.Arn",
        "LoginMfaFunctionRole.Arn",
        "OauthTokenFunctionRole.Arn",
        "RefreshTokenFunctionRole.Arn",
        "TotpMfaFunctionRole.Arn",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Both slots: a rotation must not change who signs.
    for slot in ["SigningKey", "SigningKeyGreen"] {
        let key = &template["Resources"][slot];
        assert_eq!(key["Properties"]["KeySpec"].as_str(), Some("ECC_NIST_P256"), "{slot}");
        let signers: BTreeSet<String> =
            key_statements_allowing(key, "kms:Sign").into_iter().flat_map(principals).collect();
        assert_eq!(signers, expected, "{slot}");
    }
}

/// Sealed signing keys (docs/signing.md): the key they are sealed under lets the functions that
/// sign unseal (`Decrypt`), the signing-keys custom resource seal (`Encrypt`), each only under
/// the token-signing encryption context, and nobody anything else; it exists only while a slot
/// holds a sealed key. The signers, and only they, are told the live slot's sealed key and the
/// key that unseals it; each slot's sealed key is a custom resource of the signing-keys function.
#[test]
fn only_the_functions_that_sign_unseal_and_only_the_deploy_seals() {
    let template = template();
    let key = &template["Resources"]["TokenSealingKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Condition"], "HasSealedKey");
    assert!(matches!(key["Properties"]["KeySpec"].as_str(), None | Some("SYMMETRIC_DEFAULT")));
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let (context_key, context_value) = stratus_auth::keys::SEALED_KEY_PURPOSE;
    let users = |action: &str| -> BTreeSet<String> {
        let statements = key_statements_allowing(key, action);
        for statement in &statements {
            assert_eq!(
                statement["Condition"]["StringEquals"][format!("kms:EncryptionContext:{context_key}")],
                context_value,
                "{action} only under the token-signing encryption context: {statement}"
            );
        }
        statements.into_iter().flat_map(principals).collect()
    };
    let signers: BTreeSet<String> = key_statements_allowing(&template["Resources"]["SigningKey"], "kms:Sign")
        .into_iter()
        .flat_map(principals)
        .collect();
    assert_eq!(users("kms:Decrypt"), signers, "whoever may sign with a KMS key may unseal, nobody else");
    assert_eq!(users("kms:Encrypt"), BTreeSet::from(["SigningKeysFunctionRole.Arn".to_owned()]));
    for action in [
        "kms:Sign",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ] {
        assert!(users(action).is_empty(), "nobody needs {action} on the sealing key");
    }
    for (slot, condition) in
        [("SealedSigningKey", "BlueSealedKey"), ("SealedSigningKeyGreen", "GreenSealedKey")]
    {
        let sealed = &template["Resources"][slot];
        assert_eq!(sealed["Type"], "Custom::SealedSigningKey", "{slot}");
        assert_eq!(sealed["Condition"], condition, "{slot}");
        assert_eq!(sealed["Properties"]["ServiceToken"]["Fn::GetAtt"], "SigningKeysFunction.Arn", "{slot}");
    }
    let roles: BTreeSet<String> = signers.iter().map(|r| r.trim_end_matches("Role.Arn").to_owned()).collect();
    for (id, function) in functions(&template) {
        let variables = &function["Properties"]["Environment"]["Variables"];
        for variable in [stratus_wiring::aws::SIGNING_KEY_SEALED, stratus_wiring::aws::TOKEN_SEALING_KEY_ARN]
        {
            assert_eq!(!variables[variable].is_null(), roles.contains(&id), "{id}: {variable}");
        }
    }
}

/// TOTP secrets are sealed under a data key that the TOTP key wraps: only the set-up function
/// may make that data key, only it and the login's second step may unwrap it, and only with the
/// encryption context the code binds into both calls. No other key lets anyone use it, and the
/// key outlives the stack (without it no sealed secret opens). The set-up function may put one
/// item in the users table: the wrapped data key.
#[test]
fn only_the_totp_functions_use_the_totp_key() {
    let template = template();
    let every = functions(&template);
    // The key behind TOTP_KEY_ARN, and who is told of it.
    let mut told = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (id, function) in &every {
        let variable = &function["Properties"]["Environment"]["Variables"][stratus_wiring::aws::TOTP_KEY_ARN];
        if !variable.is_null() {
            told.insert(id.clone());
            let arn = variable["Fn::GetAtt"].as_str().expect("the key's ARN, from the stack");
            keys.insert(arn.strip_suffix(".Arn").expect("an Arn attribute").to_owned());
        }
    }
    // The hosted login page checks codes as the login's second step does.
    assert_eq!(
        told,
        BTreeSet::from([
            "AuthorizeFunction".to_owned(),
            "LoginMfaFunction".to_owned(),
            "TotpMfaFunction".to_owned()
        ])
    );
    let [key_id] = keys.iter().collect::<Vec<_>>()[..] else { panic!("one TOTP key, found {keys:?}") };
    let key = &template["Resources"][key_id.as_str()];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert!(key["Condition"].is_null(), "the TOTP key always exists");
    // Except when the stack's first create fails: then no secret was sealed under it yet.
    assert_eq!(key["DeletionPolicy"], "RetainExceptOnCreate", "losing the key loses every sealed secret");
    assert_eq!(key["UpdateReplacePolicy"], "Retain");
    let properties = &key["Properties"];
    assert!(matches!(properties["KeySpec"].as_str(), None | Some("SYMMETRIC_DEFAULT")));
    assert!(matches!(properties["KeyUsage"].as_str(), None | Some("ENCRYPT_DECRYPT")));
    assert_eq!(properties["EnableKeyRotation"], true);

    let (context_key, context_value) = stratus_aws::kms::TOTP_KEY_CONTEXT;
    let users = |action: &str| -> BTreeSet<String> {
        let statements = key_statements_allowing(key, action);
        for statement in &statements {
            let condition = &statement["Condition"];
            assert_eq!(
                condition.as_object().map(|c| c.keys().cloned().collect::<Vec<_>>()),
                Some(vec!["StringEquals".to_owned()]),
                "{action}: {statement}"
            );
            assert_eq!(
                condition["StringEquals"][format!("kms:EncryptionContext:{context_key}")],
                context_value,
                "{action} only under the TOTP encryption context: {statement}"
            );
        }
        statements.into_iter().flat_map(principals).collect()
    };
    let roles = |ids: &[&str]| ids.iter().map(|id| format!("{id}Role.Arn")).collect::<BTreeSet<_>>();
    assert_eq!(users("kms:GenerateDataKey"), roles(&["TotpMfaFunction"]));
    assert_eq!(users("kms:Decrypt"), roles(&["AuthorizeFunction", "LoginMfaFunction", "TotpMfaFunction"]));
    for action in
        ["kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext"]
    {
        assert!(users(action).is_empty(), "nobody needs {action} on the TOTP key");
    }
    // The account administers it (a key nobody can administer cannot be recovered) but no
    // statement lets it use the key.
    let root = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root";
    let administers = key_statements_allowing(key, "kms:PutKeyPolicy")
        .iter()
        .any(|s| s["Principal"]["AWS"]["Fn::Sub"] == root && s["Condition"].is_null());
    assert!(administers, "the account administers the key");
    // The signing keys let nobody use them for encryption.
    for slot in ["SigningKey", "SigningKeyGreen"] {
        let signing = &template["Resources"][slot];
        for action in ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"] {
            assert!(key_statements_allowing(signing, action).is_empty(), "{slot} allows {action}");
        }
    }

    // The users table: only register puts users; totp-mfa may put the data-key item and no other.
    for (id, function) in &every {
        for statement in statements(function) {
            let mut actions = Vec::new();
            strings(&statement["Action"], &mut actions);
            let puts_users = statement["Resource"]["Fn::GetAtt"] == "UsersTable.Arn"
                && actions.iter().any(|a| a == "dynamodb:PutItem");
            match id.as_str() {
                "TotpMfaFunction" if puts_users => {
                    assert_eq!(actions, ["dynamodb:PutItem"], "only the put is held to the one item");
                    assert_eq!(
                        statement["Condition"],
                        serde_json::json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["KEY#totp-data-key"]}}),
                        "totp-mfa may put the wrapped data key and nothing else"
                    );
                }
                "RegisterFunction" => {}
                _ => assert!(!puts_users, "{id} puts items in the users table"),
            }
        }
    }
}

/// The origin secret reaches only the functions behind the API, as the name of a secret they
/// read (never its value in their environment, where GetFunctionConfiguration would show it).
#[test]
fn only_functions_behind_the_api_read_the_origin_secret() {
    let template = template();
    let text = std::fs::read_to_string(stratus_tests::workspace_root().join("template.yaml")).unwrap();
    let resolved: Vec<&str> = text.lines().filter(|l| l.contains("{{resolve:secretsmanager")).collect();
    assert_eq!(resolved.len(), 1, "only CloudFront's origin header resolves the secret: {resolved:?}");
    assert!(
        template["Globals"]["Function"]["Environment"]["Variables"]
            [stratus_http::origin::ORIGIN_VERIFY_SECRET_ARN]
            .is_null()
    );
    for (id, function) in functions(&template) {
        let variable = &function["Properties"]["Environment"]["Variables"]
            [stratus_http::origin::ORIGIN_VERIFY_SECRET_ARN];
        let grants = statements(&function).iter().any(|s| {
            s["Action"] == "secretsmanager:GetSecretValue" && s["Resource"]["Ref"] == "OriginVerifySecret"
        });
        if is_http(&function) {
            // Empty under sam local, where no CloudFront stands in front.
            assert_eq!(variable["Fn::If"][0], "UnderSamLocal", "{id}");
            assert_eq!(variable["Fn::If"][2]["Ref"], "OriginVerifySecret", "{id}");
            assert!(grants, "{id} cannot read the origin secret");
        } else {
            assert!(variable.is_null() && !grants, "{id} is not behind the API and must not see the secret");
        }
    }
    let origin = &template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderName"].as_str(),
        Some(stratus_http::origin::ORIGIN_VERIFY_HEADER)
    );
}

/// The worker scales by its event source's maximum concurrency, never by a reservation (which
/// fails the deploy on new accounts and does not stop the poller), and a message survives a
/// few throttled receives before it is dead-lettered.
#[test]
fn the_worker_scales_by_its_event_source_and_messages_outlive_its_timeout() {
    let template = template();
    for (id, function) in functions(&template) {
        assert!(
            function["Properties"]["ReservedConcurrentExecutions"].is_null(),
            "{id} reserves concurrency"
        );
    }
    assert!(template["Globals"]["Function"]["ReservedConcurrentExecutions"].is_null());
    let worker = &functions(&template)["WorkerFunction"];
    // A plain event source mapping, not SAM's SQS event: that one attaches the managed policy
    // AWSLambdaSQSQueueExecutionRole, whose SQS actions are on every queue of the account.
    for (id, function) in functions(&template) {
        let events = function["Properties"]["Events"].as_object().cloned().unwrap_or_default();
        assert!(!events.values().any(|e| e["Type"] == "SQS"), "{id} has a SAM SQS event");
    }
    let mappings: Vec<Value> = resources_of(&template, "AWS::Lambda::EventSourceMapping")
        .into_values()
        .filter(|m| m["Properties"]["FunctionName"]["Ref"] == "WorkerFunction")
        .collect();
    let [mapping] = mappings.as_slice() else { panic!("the worker has one event source mapping") };
    let event = mapping;
    assert_eq!(event["Properties"]["EventSourceArn"]["Fn::GetAtt"], "TasksQueue.Arn");
    // The poller reads and deletes with the worker's role: those actions, on that queue only.
    let polls: BTreeSet<String> = statements(worker)
        .iter()
        .filter(|s| s["Resource"]["Fn::GetAtt"] == "TasksQueue.Arn")
        .flat_map(|s| {
            let mut actions = Vec::new();
            strings(&s["Action"], &mut actions);
            actions
        })
        .collect();
    for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
        assert!(polls.contains(action), "the worker's role cannot {action} on its queue");
    }
    assert!(event["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64().is_some_and(|c| c >= 2));
    let queue = &template["Resources"]["TasksQueue"]["Properties"];
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    assert!(receives >= 5);
    assert_eq!(receives, u64::from(stratus_core::ports::MAX_RECEIVES), "the worker's last-receive logic");
    let window = event["Properties"]["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0);
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert!(visibility >= 6 * timeout(&template, worker) + window, "visibility {visibility}");
}

#[test]
fn every_function_and_the_api_log_to_groups_with_a_retention() {
    let template = template();
    let groups = resources_of(&template, "AWS::Logs::LogGroup");
    let mut used = BTreeSet::new();
    for (id, function) in functions(&template) {
        let group =
            function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"].as_str().expect(&id).to_owned();
        assert!(groups.contains_key(&group), "{id}: {group} is not a log group of the stack");
        assert!(used.insert(group), "{id} shares a log group");
    }
    let access = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let destination =
        access["DestinationArn"]["Fn::GetAtt"].as_str().unwrap().trim_end_matches(".Arn").to_owned();
    assert!(groups.contains_key(&destination));
    used.insert(destination);
    assert_eq!(used, groups.keys().cloned().collect(), "every log group has a writer");
    for (id, group) in &groups {
        assert_eq!(group["Properties"]["RetentionInDays"]["Ref"], "LogRetentionDays", "{id}");
    }
    assert_eq!(template["Parameters"]["LogRetentionDays"]["Default"], 30);
    let format: Value = serde_json::from_str(access["Format"].as_str().unwrap()).expect("JSON access logs");
    for field in ["$context.requestId", "$context.identity.sourceIp", "$context.routeKey", "$context.status"]
    {
        assert!(format.as_object().unwrap().values().any(|v| v == field), "{field}");
    }
    for field in ["$context.responseLatency", "$context.integrationErrorMessage"] {
        assert!(format.as_object().unwrap().values().any(|v| v == field), "{field}");
    }
}

/// What a metric-math alarm watches: its metrics' (namespace, metric name, dimension value as
/// `Ref`), or nothing for a plain one-metric alarm.
fn watched(alarm: &Value) -> Vec<(String, String, String)> {
    alarm["Properties"]["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|query| {
            let metric = &query["MetricStat"]["Metric"];
            let value = metric["Dimensions"][0]["Value"]["Ref"].as_str()?;
            Some((
                metric["Namespace"].as_str()?.to_owned(),
                metric["MetricName"].as_str()?.to_owned(),
                value.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn alarms_notify_the_topic_and_watch_every_function_and_table() {
    let template = template();
    let alarms = resources_of(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 9);
    for (id, alarm) in &alarms {
        assert_eq!(alarm["Properties"]["AlarmActions"][0]["Ref"], "AlarmTopic", "{id} notifies nobody");
    }
    let watchers = |namespace: &str, metric: &str, resource: &str| -> Vec<&String> {
        alarms
            .iter()
            .filter(|(_, alarm)| {
                watched(alarm).iter().any(|(n, m, r)| n == namespace && m == metric && r == resource)
            })
            .map(|(id, _)| id)
            .collect()
    };
    let every = functions(&template);
    for id in every.keys() {
        for metric in ["Errors", "Throttles"] {
            assert_eq!(watchers("AWS/Lambda", metric, id).len(), 1, "{id}'s {metric} are watched once");
        }
        // Each function is in one duration alarm, whose threshold is 80 % of its own timeout.
        let watching = watchers("AWS/Lambda", "Duration", id);
        let [alarm] = watching.as_slice() else { panic!("{id} is in {watching:?}") };
        let threshold = alarms[*alarm]["Properties"]["Threshold"].as_u64().unwrap();
        assert_eq!(threshold, timeout(&template, &every[id]) * 800, "{alarm} for {id}");
    }
    for table in resources_of(&template, "AWS::DynamoDB::Table").keys() {
        for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
            assert_eq!(watchers("AWS/DynamoDB", metric, table).len(), 1, "{table}'s {metric}");
        }
    }
    assert_eq!(alarms["TasksBacklogAlarm"]["Properties"]["MetricName"], "ApproximateAgeOfOldestMessage");
    assert_eq!(alarms["EdgeServerErrorsAlarm"]["Properties"]["MetricName"], "5xxErrorRate");
    assert!(!template["Resources"]["AlarmEmailSubscription"].is_null());
    let dashboard =
        template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().unwrap();
    for id in every.keys() {
        assert!(dashboard.matches(&format!("\"${{{id}}}\"")).count() >= 4, "the dashboard misses {id}");
    }
}

/// The longest name CloudFormation can give a resource of a stack with a 40-character name:
/// `<stack>-<LogicalId>-<13 random characters>`, which Lambda cuts at 64.
fn longest_generated_name(logical_id: &str) -> String {
    format!("{}-{logical_id}-{}", "s".repeat(40), "R".repeat(13)).chars().take(64).collect()
}

/// A Metrics Insights query in the grammar the CloudWatch User Guide documents ("Metrics
/// Insights query components and syntax"): `SELECT FUNCTION(metric) FROM namespace|SCHEMA(…)`
/// and an optional `WHERE key = 'value'` or `!=`, joined by `AND` only (no `OR`, which the page
/// does not list), with no GROUP BY (an alarm needs one series).
fn documented_metrics_insights(query: &str) -> Result<(), String> {
    let rest = query.strip_prefix("SELECT ").ok_or("not SELECT …")?;
    let (function, rest) = rest.split_once('(').ok_or("no FUNCTION(metric)")?;
    if !["AVG", "COUNT", "MAX", "MIN", "SUM"].contains(&function) {
        return Err(format!("{function} is not a documented function"));
    }
    let (_, rest) = rest.split_once(") FROM ").ok_or("no FROM")?;
    let Some((_, filter)) = rest.split_once(" WHERE ") else { return Ok(()) };
    for condition in filter.split(" AND ") {
        let words: Vec<&str> = condition.splitn(3, ' ').collect();
        let [key, operator, value] = words[..] else { return Err(format!("{condition:?}")) };
        let quoted = value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'');
        let plain = |t: &str| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain(key)
            || !["=", "!="].contains(&operator)
            || !quoted
            || value[1..value.len() - 1].contains('\'')
        {
            return Err(format!("{condition:?} is not `key = 'value'` or `key != 'value'`"));
        }
    }
    Ok(())
}

/// Alarms deploy only with expressions CloudWatch takes: a Metrics Insights query in its
/// documented grammar, or metric math over at most ten metrics of the alarm's own (the hard
/// limit of a metric-math alarm), and either way at most 2,000 characters (the API's limit is
/// 2,048) with every `${Name}` at its longest for a 40-character stack name.
#[test]
fn alarm_expressions_are_documented_grammar_that_fits() {
    let template = template();
    for (id, alarm) in resources_of(&template, "AWS::CloudWatch::Alarm") {
        let Some(queries) = alarm["Properties"]["Metrics"].as_array() else { continue };
        let metrics = queries.iter().filter(|q| !q["MetricStat"].is_null()).count();
        assert!(metrics <= 10, "{id} reads {metrics} metrics; an alarm reads at most 10");
        let returned = queries.iter().filter(|q| q["ReturnData"] == true).count();
        assert_eq!(returned, 1, "{id} must return exactly one series");
        for query in queries.iter().filter(|q| !q["Expression"].is_null()) {
            let expression = &query["Expression"];
            let text = expression.as_str().or_else(|| expression["Fn::Sub"].as_str()).expect(&id);
            let mut substituted = String::new();
            let mut rest = text;
            while let Some((before, after)) = rest.split_once("${") {
                let (name, after) = after.split_once('}').expect("a closed ${…}");
                substituted.push_str(before);
                substituted.push_str(&longest_generated_name(name));
                rest = after;
            }
            substituted.push_str(rest);
            assert!(substituted.len() <= 2000, "{id}: {} characters at the longest", substituted.len());
            if text.trim_start().to_ascii_uppercase().starts_with("SELECT") {
                documented_metrics_insights(&substituted).unwrap_or_else(|e| panic!("{id}: {e}"));
            } else {
                // Metric math names only the alarm's own metrics.
                let own: BTreeSet<&str> = queries.iter().filter_map(|q| q["Id"].as_str()).collect();
                for name in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    let function = ["SUM", "MAX", "MIN", "AVG", "IF", "METRICS"].contains(&name);
                    let number = name.chars().all(|c| c.is_ascii_digit());
                    assert!(function || number || own.contains(name), "{id}: {name} in {text}");
                }
            }
        }
    }
    // The checker itself: OR and overlong queries are caught.
    assert!(
        documented_metrics_insights("SELECT SUM(Errors) FROM \"AWS/Lambda\" WHERE a = 'x' OR a = 'y'")
            .is_err()
    );
    assert!(
        documented_metrics_insights("SELECT SUM(Errors) FROM \"AWS/Lambda\" WHERE a = 'x' AND b != 'y'")
            .is_ok()
    );
}

/// KMS answers at most 300 ECC_NIST_P256 `Sign` requests a second per account and region (the
/// KMS quotas page; docs/costs.md). Every route of a function the signing key lets sign (its
/// `tokens` say it signs) may call it once a request, so API Gateway's default rate limits of
/// those routes must add up to no more: a flood then meets API Gateway's 429, not KMS
/// throttling every session's refresh in the account. The token endpoint's RS256 ID tokens are
/// signed by the RSA key, under KMS's separate RSA quota (500 a second), which its route's
/// rate alone stays far below.
#[test]
fn the_routes_that_sign_stay_within_the_kms_sign_quota() {
    const KMS_ECC_SIGN_PER_SECOND: u64 = 300;
    let template = template();
    let key = &template["Resources"]["SigningKey"];
    let signers: BTreeSet<String> =
        key_statements_allowing(key, "kms:Sign").into_iter().flat_map(principals).collect();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let default_of = |value: &Value| -> u64 {
        let parameter = value["Ref"].as_str().expect("a rate limit is a parameter");
        template["Parameters"][parameter]["Default"].as_u64().expect("a numeric default")
    };
    let mut total = 0;
    let mut routes = Vec::new();
    for (id, function) in functions(&template) {
        if !signers.contains(&format!("{id}Role.Arn")) {
            continue;
        }
        let events = function["Properties"]["Events"].as_object().expect("a signer has routes");
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let route = format!(
                "{} {}",
                event["Properties"]["Method"].as_str().unwrap(),
                event["Properties"]["Path"].as_str().unwrap()
            );
            let setting = &api["RouteSettings"][route.as_str()]["ThrottlingRateLimit"];
            let rate = if setting.is_null() {
                default_of(&api["DefaultRouteSettings"]["ThrottlingRateLimit"])
            } else {
                default_of(setting)
            };
            // The token endpoint signs an access token, and an ES256 client's ID token too.
            let signatures = if id == "OauthTokenFunction" { 2 } else { 1 };
            total += rate * signatures;
            routes.push(format!("{route}: {rate} × {signatures}"));
        }
    }
    assert!(routes.iter().any(|r| r.starts_with("POST /token/refresh: ")), "{routes:?}");
    assert!(
        total <= KMS_ECC_SIGN_PER_SECOND,
        "the signing routes may call kms:Sign {total} times a second ({routes:?}); KMS allows {KMS_ECC_SIGN_PER_SECOND}"
    );
    // Refresh has a throttle of its own, not the API's default.
    assert_eq!(
        api["RouteSettings"]["POST /token/refresh"]["ThrottlingRateLimit"]["Ref"],
        "RefreshThrottleRateLimit"
    );
}

/// Every function that mails sends with the stack's configuration set (bounces and complaints
/// suppressed and counted), and may: SES authorizes the set as well as the identity.
#[test]
fn mail_goes_out_with_the_configuration_set_that_suppresses_bounces() {
    let template = template();
    let set = &template["Resources"]["MailConfigurationSet"];
    assert_eq!(set["Type"], "AWS::SES::ConfigurationSet");
    let reasons = &set["Properties"]["SuppressionOptions"]["SuppressedReasons"];
    assert_eq!(reasons, &serde_json::json!(["BOUNCE", "COMPLAINT"]));
    assert_eq!(set["Properties"]["ReputationOptions"]["ReputationMetricsEnabled"], true);
    let events = &template["Resources"]["MailEvents"]["Properties"];
    assert_eq!(events["ConfigurationSetName"]["Ref"], "MailConfigurationSet");
    let kinds = &events["EventDestination"]["MatchingEventTypes"];
    for kind in ["bounce", "complaint"] {
        assert!(kinds.as_array().unwrap().iter().any(|k| k == kind), "{kind} is not made visible");
    }
    let mut mailers = 0;
    for (id, function) in functions(&template) {
        let sends = statements(&function).iter().any(|s| s["Action"] == "ses:SendEmail");
        if !sends {
            continue;
        }
        mailers += 1;
        let variables = &function["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables[stratus_wiring::aws::MAIL_CONFIGURATION_SET]["Ref"],
            "MailConfigurationSet",
            "{id} mails without the configuration set"
        );
        let covered = statements(&function).iter().any(|s| {
            s["Action"] == "ses:SendEmail"
                && s["Resource"]["Fn::Sub"]
                    .as_str()
                    .is_some_and(|arn| arn.ends_with(":configuration-set/${MailConfigurationSet}"))
        });
        assert!(covered, "{id} may not send with the configuration set");
    }
    assert!(mailers >= 4, "{mailers}");
}

/// What outlives the stack is retained except on a failed first create, which would otherwise
/// leave orphans that block the next attempt (a table or key of the same name, a bill). Only
/// the users table, another change's to make, may still say Retain.
#[test]
fn retained_resources_are_removed_when_their_first_create_fails() {
    let template = template();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        if resource["DeletionPolicy"] == "Retain" {
            assert_eq!(
                id, "UsersTable",
                "{id}: DeletionPolicy Retain leaves orphans when the first create fails"
            );
        }
        // UpdateReplacePolicy has no RetainExceptOnCreate: a replaced resource keeps Retain.
        if resource["DeletionPolicy"] == "RetainExceptOnCreate" {
            assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{id}");
        }
    }
}

#[test]
fn names_and_parameters_that_only_fail_on_a_real_account() {
    let template = template();
    // CloudFront policy names are unique per account, across regions.
    for id in ["SecurityHeadersPolicy", "MessagesCachePolicy"] {
        let resource = &template["Resources"][id]["Properties"];
        let mut names = Vec::new();
        strings(resource, &mut names);
        assert!(names.iter().any(|n| n.contains("${AWS::StackName}-${AWS::Region}")), "{id}");
    }
    let pattern = template["Parameters"]["CertificateArn"]["AllowedPattern"].as_str().unwrap();
    assert!(pattern.contains(":acm:us-east-1:"), "CloudFront takes us-east-1 certificates only");
    let web_acl = &template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["WebACLId"];
    assert_eq!(web_acl["Fn::If"][0], "HasWebAcl");
    let api = &template["Resources"]["HttpApi"]["Properties"];
    assert_eq!(api["Auth"]["EnableIamAuthorizer"], false, "sam deploy --guided proceeds on Enter");
    for route in ["POST /login", "POST /register"] {
        assert!(api["RouteSettings"][route]["ThrottlingRateLimit"]["Ref"].is_string(), "{route}");
    }
}

#[test]
fn cloudfront_caches_only_public_lookups_over_https() {
    let template = template();
    let config = &template["Resources"]["Distribution"]["Properties"]["DistributionConfig"];
    assert_eq!(config["HttpVersion"].as_str(), Some("http2and3"));
    let default = &config["DefaultCacheBehavior"];
    assert_eq!(default["ViewerProtocolPolicy"].as_str(), Some("redirect-to-https"));
    const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
    const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
    assert_eq!(default["CachePolicyId"].as_str(), Some(CACHING_DISABLED));
    assert_eq!(default["OriginRequestPolicyId"].as_str(), Some(ALL_VIEWER_EXCEPT_HOST));
    assert_eq!(default["AllowedMethods"].as_array().map(Vec::len), Some(7));

    // Whatever a cached behaviour matches must be public: a cached authenticated response would
    // be served to the next caller. Public means the OpenAPI document asks for no credentials.
    let document: Value = serde_json::from_str(&local_api::openapi_json()).unwrap();
    let mut cached = BTreeSet::new();
    for behaviour in config["CacheBehaviors"].as_array().unwrap() {
        assert_eq!(behaviour["ViewerProtocolPolicy"].as_str(), Some("redirect-to-https"));
        // With CORS on, the API's Access-Control-Allow-Origin depends on Origin: a cached answer
        // keyed without it would be served to every other origin. So a cached behaviour's
        // policy is the stack's own, keyed by Origin under HasCors (no managed policy is).
        let pattern = behaviour["PathPattern"].as_str().unwrap();
        let policy = behaviour["CachePolicyId"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{pattern} uses a managed cache policy, whose key lacks Origin"));
        let parameters = &template["Resources"][policy]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"];
        let headers = &parameters["HeadersConfig"]["Fn::If"];
        assert_eq!(headers[0], "HasCors", "{pattern}");
        assert_eq!(
            headers[1],
            serde_json::json!({"HeaderBehavior": "whitelist", "Headers": ["Origin"]}),
            "{pattern}"
        );
        // The function's Cache-Control decides: nothing is cached that does not say so.
        let ttl = &template["Resources"][policy]["Properties"]["CachePolicyConfig"];
        assert_eq!((ttl["MinTTL"].as_u64(), ttl["DefaultTTL"].as_u64()), (Some(0), Some(0)), "{pattern}");
        let pattern = behaviour["PathPattern"].as_str().unwrap();
        let prefix = pattern.strip_suffix('*').expect("prefix patterns only");
        for route in ROUTES.iter().filter(|r| r.path.starts_with(prefix) && r.method == "GET") {
            let operation = &document["paths"][route.path]["get"];
            assert!(
                operation["security"].is_null(),
                "{pattern} caches {}, which takes credentials",
                route.path
            );
            cached.insert(route.path);
        }
    }
    assert_eq!(
        cached,
        BTreeSet::from([
            "/messages/{digest}",
            "/docs/{asset}",
            "/.well-known/jwks.json",
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration"
        ])
    );
}

/// The edge's WAF (infra/edge/waf.yaml) must not block a message for what its text says: the
/// common rule set's body rules only count (and label) there, and a rule of ours blocks what
/// they label on every other route.
#[test]
fn the_waf_lets_message_text_through_and_inspects_other_bodies() {
    let path = stratus_tests::workspace_root().join("infra/edge/waf.yaml");
    let waf = stratus_tests::template::Template::load(&path).expect("waf.yaml reads").root().clone();
    let rules = waf["Resources"]["WebAcl"]["Properties"]["Rules"].as_array().unwrap().clone();
    let common = rules
        .iter()
        .find(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"] == "AWSManagedRulesCommonRuleSet")
        .expect("the common rule set");
    let counted: BTreeSet<&str> = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| !o["ActionToUse"]["Count"].is_null())
        .map(|o| o["Name"].as_str().unwrap())
        .collect();
    // The rule set's rules that inspect the body (AWS WAF Developer Guide, Core rule set).
    let body_rules = [
        "SizeRestrictions_BODY",
        "CrossSiteScripting_BODY",
        "GenericLFI_BODY",
        "GenericRFI_BODY",
        "EC2MetaDataSSRF_BODY",
    ];
    for rule in body_rules {
        assert!(counted.contains(rule), "{rule} blocks a message for its text");
    }
    let after = rules
        .iter()
        .find(|r| r["Name"] == "aws-common-body-rules-but-messages")
        .expect("the body verdicts are enforced elsewhere");
    assert!(
        after["Priority"].as_u64() > common["Priority"].as_u64(),
        "labels exist only after the group ran"
    );
    assert!(!after["Action"]["Block"].is_null());
    let text = after["Statement"].to_string();
    for rule in &body_rules[1..] {
        let label = format!("awswaf:managed:aws:core-rule-set:{}", rule.replace("_BODY", "_Body"));
        assert!(text.contains(&label), "{label} is not enforced outside /messages");
    }
    assert!(text.contains("^/messages/?$") && text.contains("NotStatement"), "{text}");
}

/// The execute-api endpoint is public (docs/operations.md: Calls that skip CloudFront): what a
/// direct flood can cost and starve is bounded by the route throttles, so every route has one,
/// a number with a default; and CloudFront's origin is that endpoint, which therefore stays on.
#[test]
fn direct_calls_are_bounded_by_a_throttle_on_every_route() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let number = |node: &Value, what: &str| {
        let parameter = node["Ref"].as_str().unwrap_or_else(|| panic!("{what} is not a parameter: {node}"));
        let declared = &template["Parameters"][parameter];
        assert_eq!(declared["Type"], "Number", "{what}: {parameter}");
        assert!(declared["Default"].as_u64().is_some_and(|d| d > 0), "{what}: {parameter} has no default");
    };
    for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        number(&api["DefaultRouteSettings"][limit], &format!("the default route's {limit}"));
        for (route, settings) in api["RouteSettings"].as_object().into_iter().flatten() {
            number(&settings[limit], &format!("{route}'s {limit}"));
        }
    }
    assert!(api["DisableExecuteApiEndpoint"].is_null(), "CloudFront reaches the API by its execute-api name");
    let origin = &template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert!(
        origin["DomainName"]["Fn::Sub"].as_str().unwrap_or_default().contains(".execute-api."),
        "{origin}"
    );
}
