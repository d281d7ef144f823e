//! `make diagram`: redraws the architecture diagram in docs/architecture.md from template.yaml.

fn main() -> Result<(), String> {
    let template = stratus_tests::template::Template::workspace()?;
    let readme = stratus_tests::workspace_root().join("docs/architecture.md");
    let text = std::fs::read_to_string(&readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let updated = stratus_tests::diagram::replace_in(&text, &stratus_tests::diagram::mermaid(&template))?;
    std::fs::write(&readme, updated).map_err(|e| format!("{}: {e}", readme.display()))
}
