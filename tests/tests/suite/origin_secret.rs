//! The origin secret on the release binaries: read from Secrets Manager at cold start (moto
//! here; the current value, and the previous one when a request presents it), never from the
//! environment; a function that cannot read it fails its init; and a
//! rotation with `stratus-admin rotate-origin-secret` refuses no request CloudFront forwards.

use stratus_http::origin::{ORIGIN_VERIFY_REFRESH_SECONDS, ORIGIN_VERIFY_SECRET_ARN};
use stratus_tests::runtime_api::{Function, Gateway, LocalStack, request};

async fn stack() -> LocalStack {
    LocalStack::provision().await.unwrap_or_else(|e| panic!("provisioning the local stack: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_read_the_secret_fails_closed() {
    let stack = stack().await;
    let arn = stack.launch_spec("health").unwrap().env[ORIGIN_VERIFY_SECRET_ARN].clone();
    let missing = format!("{arn}-gone");
    let spec = stack.launch_spec("health").unwrap().with_var(ORIGIN_VERIFY_SECRET_ARN, missing);
    let function = Function::spawn(spec).await.expect("the process starts");
    let report = function.init_error().expect("an init error, not a function that admits everyone");
    let message = report.error_message.clone().unwrap_or_default();
    assert!(message.contains("origin secret"), "{message}");
    assert!(function.init_duration().is_none(), "it never polled /next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_in_no_environment_and_rotates_without_refusing_anyone() {
    let stack = stack().await;
    let old = stack.origin_secret().expect("the stack's origin secret").to_owned();
    let spec = stack.launch_spec("health").unwrap();
    assert!(!spec.env.values().any(|value| value.contains(&old)), "the secret's value is in the environment");
    let secret_arn = spec.env[ORIGIN_VERIFY_SECRET_ARN].clone();

    // CloudFront, as the template builds it: sending the current value.
    let cloudfront = aws_sdk_cloudfront::Client::new(stack.sdk());
    let distribution = stratus_tests::cloudfront::create_distribution(&cloudfront, &old).await;

    let api = Gateway::new(stack).with_var(ORIGIN_VERIFY_REFRESH_SECONDS, "1");
    assert_eq!(api.send_with_origin_secret(request("GET", "/health", None, None), &old).await.status, 200);

    let admin = stratus_tests::runtime_api::binaries_dir().join("stratus-admin");
    let output = std::process::Command::new(&admin)
        .args([
            "rotate-origin-secret",
            "--secret-id",
            &secret_arn,
            "--distribution-id",
            &distribution,
            "--wait",
            "0",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", admin.display()));
    let said =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{said}");

    let secrets = aws_sdk_secretsmanager::Client::new(api.stack().sdk());
    let value = |stage: &'static str| {
        let secrets = secrets.clone();
        let secret_arn = secret_arn.clone();
        async move {
            secrets
                .get_secret_value()
                .secret_id(secret_arn)
                .version_stage(stage)
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap()
        }
    };
    let new = value("AWSCURRENT").await;
    assert_ne!(new, old);
    assert_eq!(value("AWSPREVIOUS").await, old);
    let config = cloudfront.get_distribution_config().id(&distribution).send().await.unwrap();
    let headers =
        config.distribution_config.unwrap().origins.unwrap().items[0].custom_headers.clone().unwrap();
    assert_eq!(headers.items()[0].header_value, new, "CloudFront sends the new value");

    // The warm function reads the pair again and takes both, while CloudFront's edges switch.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for secret in [&new, &old] {
        assert_eq!(
            api.send_with_origin_secret(request("GET", "/health", None, None), secret).await.status,
            200
        );
    }
    api.send_with_origin_secret(request("GET", "/health", None, None), "a guess").await.problem(403);
    api.send_direct(request("GET", "/health", None, None)).await.problem(403);

    // A sandbox that starts while the change spreads (jwks has none yet) reads only the current
    // value at init; an edge still sending the old one is admitted all the same, on that
    // sandbox's very first request.
    let jwks = || request("GET", "/.well-known/jwks.json", None, None);
    let reply = api.send_with_origin_secret(jwks(), &old).await;
    assert_eq!(reply.status, 200, "{}", api.output().await);
    api.send_with_origin_secret(jwks(), "a guess").await.problem(403);
    assert_eq!(api.send_with_origin_secret(jwks(), &new).await.status, 200);
}
