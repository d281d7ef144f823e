//! The library crates are layers, and the manifests say which may use which: the compiler then
//! refuses an import against the direction, so these tests only have to keep the manifests
//! honest. Read from `cargo metadata --no-deps`: every declared dependency, of every kind.
//!
//! core <- auth <- http <- aws <- wiring, with memory beside aws (on core, auth and http);
//! only stratus-aws names an AWS SDK crate; a function names neither the SDK nor the adapter
//! crates: it gets its ports from stratus-wiring.

use std::collections::{BTreeMap, BTreeSet};

/// Each layer crate and the crates it may depend on.
const LAYERS: &[(&str, &[&str])] = &[
    ("stratus-core", &[]),
    ("stratus-routes", &[]),
    ("stratus-auth", &["stratus-core"]),
    ("stratus-http", &["stratus-core", "stratus-auth"]),
    ("stratus-aws", &["stratus-core", "stratus-auth", "stratus-http"]),
    ("stratus-memory", &["stratus-core", "stratus-auth", "stratus-http"]),
    ("stratus-wiring", &["stratus-core", "stratus-auth", "stratus-http", "stratus-aws", "stratus-memory"]),
];

/// The crate that may talk to AWS.
const SDK_LAYER: &str = "stratus-aws";

/// The crates a function may not name: it reaches AWS and the embedded backend through its wiring.
const NOT_FOR_FUNCTIONS: &[&str] = &["stratus-aws", "stratus-memory"];

/// The AWS SDK and its runtime (`aws_lambda_events` is not: it is the events' types).
fn is_sdk(name: &str) -> bool {
    name.starts_with("aws-sdk-")
        || name.starts_with("aws-smithy-")
        || matches!(name, "aws-config" | "aws-types" | "aws-runtime" | "aws-credential-types" | "aws-sigv4")
}

/// A workspace package: its manifest's directory relative to the workspace, and the names of
/// everything it depends on (normal, build and dev).
struct Package {
    dir: String,
    dependencies: BTreeSet<String>,
}

fn workspace() -> BTreeMap<String, Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = stratus_tests::workspace_root();
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let root = root.canonicalize().expect("the workspace root exists");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let manifest = std::path::Path::new(package["manifest_path"].as_str().expect("manifest_path"));
            let dir = manifest.parent().expect("a manifest is in a directory");
            let dir = dir.strip_prefix(&root).unwrap_or(dir).to_string_lossy().into_owned();
            let dependencies = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| d["name"].as_str().expect("dependency name").to_owned())
                .collect();
            (package["name"].as_str().expect("name").to_owned(), Package { dir, dependencies })
        })
        .collect()
}

/// Every breach of the layering in `packages`, one line each; empty when there is none.
fn breaches(packages: &BTreeMap<String, Package>) -> Vec<String> {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut found = Vec::new();
    for (name, package) in packages {
        if package.dir.starts_with("crates/") && !layers.contains_key(name.as_str()) {
            found.push(format!("{name} ({}) is in crates/ but in no layer: add it to LAYERS", package.dir));
        }
        if let Some(allowed) = layers.get(name.as_str()) {
            for dependency in package.dependencies.iter().filter(|d| d.starts_with("stratus-")) {
                if !allowed.contains(&dependency.as_str()) {
                    found.push(format!("{name} depends on {dependency}: it may use only {allowed:?}"));
                }
            }
        }
        if name != SDK_LAYER {
            let restricted = layers.contains_key(name.as_str()) || package.dir.starts_with("functions/");
            for dependency in package.dependencies.iter().filter(|d| is_sdk(d)) {
                if restricted {
                    found.push(format!("{name} depends on {dependency}: only {SDK_LAYER} calls AWS"));
                }
            }
        }
        if package.dir.starts_with("functions/") {
            for dependency in package.dependencies.iter().filter(|d| NOT_FOR_FUNCTIONS.contains(&d.as_str()))
            {
                found.push(format!(
                    "function {name} depends on {dependency}: its ports come from stratus-wiring"
                ));
            }
        }
    }
    found
}

#[test]
fn every_layer_crate_exists_and_the_functions_are_found() {
    let packages = workspace();
    for (layer, _) in LAYERS {
        assert!(packages.contains_key(*layer), "{layer} is not in the workspace");
    }
    let functions = packages.values().filter(|p| p.dir.starts_with("functions/")).count();
    assert!(functions >= 20, "only {functions} function crates found: is the workspace read right?");
}

#[test]
fn crates_depend_only_on_the_layers_below_and_only_stratus_aws_on_the_sdk() {
    let found = breaches(&workspace());
    assert!(found.is_empty(), "the layering is broken:\n  {}", found.join("\n  "));
}

#[test]
fn a_breach_of_each_rule_is_caught() {
    // One package at a time, so that each case shows one rule at work.
    let with = |name: &str, dir: &str, dependencies: &[&str]| {
        let mut packages = BTreeMap::new();
        packages.insert(
            name.to_owned(),
            Package {
                dir: dir.to_owned(),
                dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
            },
        );
        breaches(&packages)
    };
    assert!(!with("stratus-core", "crates/core", &["stratus-auth"]).is_empty(), "upward");
    assert!(!with("stratus-http", "crates/http", &["stratus-core", "stratus-wiring"]).is_empty(), "upward");
    assert!(!with("stratus-memory", "crates/memory", &["stratus-aws"]).is_empty(), "sideways");
    assert!(!with("stratus-auth", "crates/auth", &["stratus-core", "aws-sdk-kms"]).is_empty(), "SDK in auth");
    assert!(!with("stratus-wiring", "crates/wiring", &["aws-config"]).is_empty(), "SDK in wiring");
    assert!(!with("login", "functions/login", &["aws-sdk-dynamodb"]).is_empty(), "SDK in a function");
    assert!(!with("login", "functions/login", &["stratus-aws"]).is_empty(), "adapters in a function");
    assert!(!with("login", "functions/login", &["stratus-memory"]).is_empty(), "memory in a function");
    assert!(!with("stratus-extra", "crates/extra", &[]).is_empty(), "a crate in no layer");
    assert!(
        with("stratus-aws", "crates/aws", &["stratus-core", "aws-sdk-kms"]).is_empty(),
        "the SDK's place"
    );
}
