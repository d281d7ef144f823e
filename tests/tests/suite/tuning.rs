//! The template's memory sizes are the ones `make tune` measured (infra/bench/tuning.json): each
//! function's `MemorySize` is its recommendation, so a size changed by hand, or a table measured
//! again and not applied, fails here, naming the function. The recommendation rule lives once, in
//! infra/bench/tune.py; these tests run it rather than restate it.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use stratus_tests::template::Template;
use stratus_tests::workspace_root;

fn tuning() -> Value {
    let path = workspace_root().join("infra/bench/tuning.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `python3 infra/bench/<script> <args>` from the workspace and fails with what it said.
fn python(script: &str, args: &[&str]) {
    let output = Command::new("python3")
        .arg(workspace_root().join("infra/bench").join(script))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{script} {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_memory_size_is_the_measured_recommendation() {
    let tuning = tuning();
    let table = tuning["functions"].as_object().expect("tuning.json has functions");
    let template = Template::workspace().expect("template.yaml reads");
    let functions = template.functions();
    let mut wrong = Vec::new();
    for function in &functions {
        match table.get(&function.binary) {
            Some(record) => {
                let recommended = record["recommended_mb"].as_u64();
                if recommended != Some(function.memory_mb.into()) {
                    wrong.push(format!(
                        "{}: MemorySize {} in template.yaml, make tune recommends {} \
                         (python3 infra/bench/tune.py apply && make generate)",
                        function.binary,
                        function.memory_mb,
                        recommended.map_or("nothing (no size served)".to_owned(), |mb| mb.to_string())
                    ));
                }
            }
            // Not measured yet (a new function): it runs at the Globals size until it is; a size
            // of its own would be a guess the table cannot back.
            None => {
                let own = template.resource(&function.logical_id).map(|r| &r["Properties"]["MemorySize"]);
                if let Some(own) = own.filter(|own| !own.is_null()) {
                    wrong.push(format!(
                        "{}: MemorySize {own} of its own, and infra/bench/tuning.json has no row for it: \
                         measure it with `make tune ONLY={}`",
                        function.binary, function.binary
                    ));
                }
            }
        }
    }
    let binaries: BTreeMap<&str, ()> = functions.iter().map(|f| (f.binary.as_str(), ())).collect();
    for name in table.keys() {
        if !binaries.contains_key(name.as_str()) {
            wrong.push(format!("{name}: in infra/bench/tuning.json but not a function of template.yaml"));
        }
    }
    assert!(wrong.is_empty(), "the template and make tune's table disagree:\n{}", wrong.join("\n"));
}

#[test]
fn the_committed_recommendations_follow_the_rule() {
    python("tune.py", &["verify"]);
}

#[test]
fn the_rule_and_its_arithmetic_hold_on_fixtures() {
    python("test_tune.py", &[]);
}
