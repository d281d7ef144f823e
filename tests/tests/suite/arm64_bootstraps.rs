//! The deploy artefacts themselves: every arm64 `bootstrap` that `sam build` wrote, run under
//! qemu-user through the Runtime API emulator, against the local engines. Each must start, reach
//! `/next` and answer one invocation: cross-compilation, linking and CPU-feature faults show here
//! rather than in a deploy. Run by `make test-arm64` after `sam build` (ignored otherwise).

use std::path::PathBuf;

use serde_json::json;
use stratus_tests::runtime_api::{Gateway, LocalStack, request};
use stratus_tests::template::Template;

/// Where Debian's qemu-user and libc6-arm64-cross put the emulator and the aarch64 libraries.
const QEMU: &str = "/usr/bin/qemu-aarch64";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sam build's arm64 bootstraps and qemu-user: make test-arm64"]
async fn every_arm64_bootstrap_starts_and_answers_under_qemu() {
    let build_dir = stratus_tests::workspace_root().join(".aws-sam/build");
    for path in [QEMU, SYSROOT] {
        assert!(
            PathBuf::from(path).exists(),
            "{path} is missing: infra/local/system-packages.sh installs it"
        );
    }
    let mut stack =
        LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"));
    stack.run_arm64_bootstraps(build_dir, QEMU.into(), SYSROOT.into());
    let api = Gateway::new(stack);
    let template = Template::workspace().unwrap();
    let mut answered = Vec::new();
    let cloudformation = stratus_tests::cfn_response::ResponseUrl::start().await;
    for function in template.functions() {
        let binary = function.binary.as_str();
        let event = match binary {
            "worker" => json!({"Records": []}),
            "sweeper" => json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
            // It answers CloudFormation at the response URL, and fails if it cannot.
            "signing-keys" => json!({
                "RequestType": "Create",
                "ResponseURL": cloudformation.url,
                "StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/stratus-e2e/1",
                "RequestId": "arm64",
                "ResourceType": "Custom::SigningKeys",
                "LogicalResourceId": "SigningKeys",
                "ResourceProperties": {"KeyArn": api.stack().signing_key_arn(), "OtherKeyArn": ""},
            }),
            // Any request the function serves: every answer counts, a 401 or a 404 included.
            _ => {
                let route = stratus_routes::ROUTES.iter().find(|r| r.function == binary);
                let path = route.map_or("/no/such/route".to_owned(), |r| r.path.replace(['{', '}'], ""));
                let method = route.map_or("GET", |r| r.method);
                api.routed(request(method, &path, None, None), true).1
            }
        };
        let answer = match api.invoke(binary, &event).await {
            Ok(answer) => answer,
            Err(error) => panic!("{binary} under qemu: {error}\n{}", api.output().await),
        };
        assert!(answer.is_object(), "{binary} answered {answer}");
        if binary == "signing-keys" {
            assert_eq!(answer["Status"], "SUCCESS", "{answer}\n{}", api.output().await);
            assert_eq!(cloudformation.answers().last(), Some(&answer), "what it told CloudFormation");
        }
        answered.push(binary.to_owned());
    }
    for measured in api.measurements().await {
        let init = measured.timings.init.unwrap_or_default();
        println!("arm64 {:<15} init under qemu {:>7.1} ms", measured.function, init.as_secs_f64() * 1e3);
    }
    assert_eq!(answered.len(), template.functions().len());
}
