//! The route table is the source of truth: local-api, the OpenAPI document and template.yaml
//! must each say exactly what it says.

use std::collections::BTreeSet;

use shared::routes::{FALLBACK_FUNCTION, ROUTES};
use stratus_tests::{Backend, wiring};

fn table() -> BTreeSet<(String, String)> {
    ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect()
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    // `make openapi` writes it; the docs function serves the committed file.
    assert!(
        docs::OPENAPI_JSON == local_api::openapi_json(),
        "functions/docs/openapi.json is not what the code generates: run `make openapi` and commit it"
    );
}

#[test]
fn openapi_document_lists_exactly_the_routes() {
    let document: serde_json::Value = serde_json::from_str(&local_api::openapi_json()).expect("valid JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(documented, table());
}

#[tokio::test]
async fn local_api_serves_exactly_the_routed_functions() {
    assert!(local_api::missing().is_empty(), "{:?}", local_api::missing());
    local_api::Functions::build(&wiring(Backend::Memory).await).await.expect("every function builds");
    let served: BTreeSet<&str> = local_api::HTTP_FUNCTIONS.iter().copied().collect();
    let routed: BTreeSet<&str> = ROUTES.iter().map(|r| r.function).chain([FALLBACK_FUNCTION]).collect();
    assert_eq!(served, routed);
}

#[test]
fn every_function_crate_is_routed_and_every_route_has_a_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !NON_HTTP_FUNCTIONS.contains(&name.as_str()))
        .collect();
    let routed: BTreeSet<String> =
        ROUTES.iter().map(|r| r.function.to_owned()).chain([FALLBACK_FUNCTION.to_owned()]).collect();
    assert_eq!(crates, routed);
}

/// Functions with no HTTP route (queue consumers).
const NON_HTTP_FUNCTIONS: &[&str] = &["worker"];

mod template {
    //! template.yaml against the route table and the table specs, read as CloudFormation reads
    //! it (the reader the emulator launches functions with): `!Ref X` is `{"Ref": "X"}`,
    //! `!GetAtt X.Arn` is `{"Fn::GetAtt": "X.Arn"}`, so the strings below them are the names.

    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value as Yaml;
    use shared::adapters::dynamodb::tables;
    use shared::routes::{FALLBACK_FUNCTION, FALLBACK_ROUTE_KEY, ROUTES};

    fn template() -> Yaml {
        stratus_tests::template::Template::workspace().expect("template.yaml reads").root().clone()
    }

    fn functions(template: &Yaml) -> BTreeMap<String, Yaml> {
        template["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    }

    fn binary(function: &Yaml) -> &str {
        function["Metadata"]["BuildProperties"]["Binary"].as_str().expect("every function names its binary")
    }

    /// Every string anywhere below a node: the resources its policy statements name.
    fn strings(node: &Yaml, out: &mut Vec<String>) {
        match node {
            Yaml::String(s) => out.push(s.clone()),
            Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Yaml::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
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
    fn tables_have_the_keys_the_code_expects() {
        let template = template();
        let resources = &template["Resources"];
        for spec in tables::ALL {
            // The table reaches its functions through spec.env_var; find it by that reference.
            let logical = functions(&template)
                .values()
                .find_map(|f| {
                    f["Properties"]["Environment"]["Variables"][spec.env_var]["Ref"]
                        .as_str()
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| panic!("no function receives {}", spec.env_var));
            let table = &resources[logical.as_str()]["Properties"];
            assert_eq!(
                table["KeySchema"][0]["AttributeName"].as_str(),
                Some(spec.partition_key),
                "{logical}"
            );
            assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{logical}");
            let ttl = table["TimeToLiveSpecification"]["AttributeName"].as_str();
            assert_eq!(ttl, spec.ttl_attribute, "{logical} TTL");
        }
    }

    /// Only inline statements, so the checks below see every grant: a SAM policy template
    /// (`DynamoDBCrudPolicy`), a managed policy or a role of its own would hide what it allows.
    #[test]
    fn function_policies_are_inline_statements_without_wildcards() {
        let template = template();
        assert!(template["Globals"]["Function"]["Policies"].is_null(), "no policies for every function");
        for (id, function) in functions(&template) {
            let properties = &function["Properties"];
            for property in ["Role", "ManagedPolicyArns", "PermissionsBoundary"] {
                assert!(properties[property].is_null(), "{id} sets {property}");
            }
            // Functions that call nothing of AWS's (health, docs, fallback) have no Policies.
            let Some(policies) = properties["Policies"].as_array() else {
                assert!(properties["Policies"].is_null(), "{id}: Policies is not a list");
                continue;
            };
            for policy in policies {
                let keys: Vec<&str> =
                    policy.as_object().map(|h| h.keys().map(String::as_str).collect()).unwrap_or_default();
                assert_eq!(keys, ["Statement"], "{id}: only inline statements, got {policy:?}");
                for statement in policy["Statement"].as_array().unwrap() {
                    assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{id}");
                    let mut actions = Vec::new();
                    strings(&statement["Action"], &mut actions);
                    assert!(!actions.is_empty(), "{id}: a statement without actions");
                    for action in &actions {
                        assert!(!action.contains('*'), "{id} uses a wildcard action {action}");
                    }
                    // `!GetAtt X.Arn` of one of the stack's resources, nothing built by hand.
                    let mut resources = Vec::new();
                    strings(&statement["Resource"], &mut resources);
                    assert!(!resources.is_empty(), "{id}: a statement without resources");
                    for resource in &resources {
                        let logical = resource.strip_suffix(".Arn");
                        assert!(
                            logical.is_some_and(|l| !template["Resources"][l].is_null()),
                            "{id}: resource {resource} is not one of the stack's ARNs"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn policies_name_only_the_functions_own_resources() {
        let template = template();
        for (id, function) in functions(&template) {
            let properties = &function["Properties"];
            let mut named = Vec::new();
            strings(&properties["Policies"], &mut named);
            let resources: BTreeSet<String> =
                named.iter().filter_map(|s| s.strip_suffix(".Arn")).map(str::to_owned).collect();
            assert!(!named.iter().any(|s| s == "*"), "{id} names every resource");
            assert!(
                !named.iter().any(|s| s.ends_with(":*") || s == "dynamodb:*" || s == "sqs:*" || s == "kms:*"),
                "{id} uses a wildcard action"
            );
            let mut environment = Vec::new();
            strings(&properties["Environment"], &mut environment);
            for resource in &resources {
                assert!(
                    environment.iter().any(|e| e == resource || e == &format!("{resource}.Arn")),
                    "{id}'s policy names {resource}, which it is not configured to use"
                );
            }
            assert!(!named.iter().any(|s| s == "kms:Sign"), "{id} must not get kms:Sign from IAM");
        }
    }

    #[test]
    fn only_login_and_refresh_can_sign() {
        let template = template();
        let key = &template["Resources"]["SigningKey"]["Properties"];
        assert_eq!(key["KeySpec"].as_str(), Some("ECC_NIST_P256"));
        let mut signers = BTreeSet::new();
        for statement in key["KeyPolicy"]["Statement"].as_array().unwrap() {
            let mut actions = Vec::new();
            strings(&statement["Action"], &mut actions);
            if actions.iter().any(|a| a == "kms:Sign" || a == "kms:*" || a == "kms:Sign*") {
                let mut principals = Vec::new();
                strings(&statement["Principal"], &mut principals);
                signers.extend(principals);
            }
        }
        let expected: BTreeSet<String> =
            ["LoginFunctionRole.Arn", "RefreshTokenFunctionRole.Arn"].into_iter().map(String::from).collect();
        assert_eq!(signers, expected);
        let login = functions(&template);
        assert_eq!(binary(&login["LoginFunction"]), "login");
        assert_eq!(binary(&login["RefreshTokenFunction"]), "refresh-token");
    }

    #[test]
    fn alarms_watch_every_function() {
        let template = template();
        let resources = &template["Resources"];
        for alarm in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
            let query =
                resources[alarm]["Properties"]["Metrics"][0]["Expression"]["Fn::Sub"].as_str().expect(alarm);
            for id in functions(&template).keys() {
                assert!(query.contains(&format!("FunctionName = '${{{id}}}'")), "{alarm} misses {id}");
            }
        }
        for alarm in
            ["TasksDeadLetterAlarm", "ApiServerErrorsAlarm", "FunctionErrorsAlarm", "FunctionThrottlesAlarm"]
        {
            let actions = &resources[alarm]["Properties"]["AlarmActions"];
            assert!(!actions.is_null(), "{alarm} notifies nobody even when AlarmTopicArn is set");
        }
    }

    #[test]
    fn cloudfront_caches_only_public_message_lookups_and_proves_itself_to_the_api() {
        let template = template();
        let config = &template["Resources"]["Distribution"]["Properties"]["DistributionConfig"];
        assert_eq!(config["HttpVersion"].as_str(), Some("http2and3"));
        let origin = &config["Origins"][0];
        assert_eq!(
            origin["OriginCustomHeaders"][0]["HeaderName"].as_str(),
            Some(shared::http::ORIGIN_VERIFY_HEADER)
        );
        let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
        assert!(!globals[shared::http::ORIGIN_VERIFY_SECRET].is_null(), "functions never learn the secret");

        let default = &config["DefaultCacheBehavior"];
        assert_eq!(default["ViewerProtocolPolicy"].as_str(), Some("redirect-to-https"));
        const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
        const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
        assert_eq!(default["CachePolicyId"].as_str(), Some(CACHING_DISABLED));
        assert_eq!(default["OriginRequestPolicyId"].as_str(), Some(ALL_VIEWER_EXCEPT_HOST));
        assert_eq!(default["AllowedMethods"].as_array().map(Vec::len), Some(7));

        // Whatever a cached behaviour matches must be public: a cached authenticated response
        // would be served to the next caller. Public means the OpenAPI document asks for no
        // credentials.
        let document: serde_json::Value = serde_json::from_str(&local_api::openapi_json()).unwrap();
        let mut cached = BTreeSet::new();
        for behaviour in config["CacheBehaviors"].as_array().unwrap() {
            assert_eq!(behaviour["ViewerProtocolPolicy"].as_str(), Some("redirect-to-https"));
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
        assert_eq!(cached, BTreeSet::from(["/messages/{digest}", "/docs/{asset}"]));
    }
}

#[test]
fn the_readme_diagram_is_drawn_from_the_template() {
    use stratus_tests::diagram;
    let template = stratus_tests::template::Template::workspace().expect("template.yaml reads");
    let readme =
        std::fs::read_to_string(stratus_tests::workspace_root().join("README.md")).expect("README.md");
    let redrawn =
        diagram::replace_in(&readme, &diagram::mermaid(&template)).expect("README.md has the markers");
    assert!(readme == redrawn, "README.md's architecture diagram is stale: run `make diagram` and commit it");
}
