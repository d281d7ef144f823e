//! docs/scaling.md is rendered by infra/bench/scaling.py from the usage profile, the bench's
//! figures, the prices, the quotas, every function.toml and template.yaml. A change to any of
//! them that is not rendered again leaves the page saying what the model no longer says: these
//! tests run the script's own check, and the model's arithmetic against a hand-worked case.

use std::process::{Command, Output};

use stratus_tests::workspace_root;

/// `python3 -B <script> <args>` from the workspace root (no bytecode left in the tree).
fn python(script: &str, args: &[&str]) -> Output {
    let root = workspace_root();
    Command::new("python3")
        .arg("-B")
        .arg(root.join(script))
        .args(args)
        .current_dir(&root)
        .output()
        .expect("python3 runs")
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn the_scaling_page_is_what_the_model_renders() {
    let output = python("infra/bench/scaling.py", &["check"]);
    assert!(
        output.status.success(),
        "docs/scaling.md is stale: run `python3 infra/bench/scaling.py render` and commit it\n{}",
        said(&output)
    );
}

#[test]
fn the_scaling_model_adds_up() {
    let output = python("infra/bench/test_scaling.py", &[]);
    assert!(output.status.success(), "infra/bench/test_scaling.py failed\n{}", said(&output));
}
