//! Writes RELIABILITY.md from the fault table the suite runs (`stratus_tests::reliability`).

fn main() -> std::io::Result<()> {
    let path = stratus_tests::workspace_root().join("RELIABILITY.md");
    std::fs::write(&path, stratus_tests::reliability::render())?;
    println!("wrote {}", path.display());
    Ok(())
}
