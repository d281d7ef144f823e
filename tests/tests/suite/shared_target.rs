//! Clones share one target directory (infra/local/paths.sh). Claiming it gives every file the
//! same as in the previous clone that file's times, and marks every other file changed, so cargo
//! judges each crate in the new clone exactly as it did in the old one. These tests run the
//! claim on two scratch trees, and check that nothing compiles a clone's own path in, which cargo
//! would not notice.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use stratus_tests::workspace_root;

/// Long ago: a time no claim would ever give a file.
fn long_ago() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

fn write(dir: &Path, name: &str, text: &str, when: SystemTime) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
}

fn modified(dir: &Path, name: &str) -> SystemTime {
    std::fs::metadata(dir.join(name)).unwrap().modified().unwrap()
}

fn claim(clone: &Path, stamp: &Path) -> String {
    let output = Command::new("python3")
        .arg(workspace_root().join("infra/local/claim_target.py"))
        .arg(clone)
        .arg(stamp)
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_clone_keeps_the_times_of_what_is_unchanged_and_marks_the_rest_changed() {
    let scratch = std::env::temp_dir().join(format!("stratus-claim-{}", uuid::Uuid::new_v4()));
    let (old, new, stamp) = (scratch.join("old"), scratch.join("new"), scratch.join("stamp"));
    let before = long_ago();
    write(&old, "src/same.rs", "fn same() {}", before);
    write(&old, "src/edited.rs", "fn edited() {}", before);
    write(&new, "src/same.rs", "fn same() {}", SystemTime::now());
    write(&new, "src/edited.rs", "fn edited() { /* since */ }", before);
    write(&new, "src/added.rs", "fn added() {}", before);
    std::fs::write(&stamp, format!("{}\n", old.canonicalize().unwrap().display())).unwrap();

    let said = claim(&new, &stamp);
    assert!(said.contains("1 files as they were there, 2 marked changed"), "{said}");
    assert_eq!(modified(&new, "src/same.rs"), before, "the same file keeps the old clone's time");
    let recent = SystemTime::now() - Duration::from_secs(600);
    assert!(modified(&new, "src/edited.rs") > recent, "an edited file is marked changed");
    assert!(modified(&new, "src/added.rs") > recent, "a new file is marked changed");
    let owner = std::fs::read_to_string(&stamp).unwrap();
    assert_eq!(owner.trim(), new.canonicalize().unwrap().to_str().unwrap());

    // Claimed already: nothing is touched again.
    write(&new, "src/added.rs", "fn added() {}", before);
    assert_eq!(claim(&new, &stamp), "");
    assert_eq!(modified(&new, "src/added.rs"), before);

    // The previous clone is gone: nothing can be compared, so everything is marked changed.
    std::fs::write(&stamp, "/nonexistent/clone\n").unwrap();
    let said = claim(&new, &stamp);
    assert!(said.contains("0 files as they were there, 3 marked changed"), "{said}");
    assert!(modified(&new, "src/same.rs") > recent);
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// The package (the nearest directory with a Cargo.toml) that `file` belongs to.
fn package_of(file: &Path) -> &Path {
    file.ancestors().skip(1).find(|dir| dir.join("Cargo.toml").is_file()).expect("every file is in a package")
}

#[test]
fn no_crate_compiles_in_a_file_of_another_package() {
    // Cargo records a file compiled in from outside its own package by its absolute path, in the
    // clone that built it: another clone with the same package but a different file would reuse
    // the output. Such files are read at run time instead.
    let root = workspace_root();
    let listed = Command::new("git").arg("-C").arg(&root).args(["ls-files", "*.rs"]).output().unwrap();
    let mut offenders = Vec::new();
    for name in String::from_utf8(listed.stdout).unwrap().lines() {
        let file = root.join(name);
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let package = package_of(&file).to_path_buf();
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_name) {
                let rest = &text[at + macro_name.len()..];
                let Some(end) = rest.find('"') else { continue };
                let included = file.parent().unwrap().join(&rest[..end]);
                let resolved = included.canonicalize().unwrap_or(included);
                if !resolved.starts_with(package.canonicalize().unwrap()) {
                    offenders.push(format!("{name}: {}", &rest[..end]));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?} compile in files of another package: read them at run time");
}

#[test]
fn no_crate_compiles_its_clones_path_in() {
    // Cargo does not rebuild a crate when only its clone's path changed: a binary built in one
    // clone would read another clone's files. `stratus_tests::workspace_root` reads it at run time.
    let macro_call = ["env!(\"CARGO", "_MANIFEST_DIR\")"].concat();
    let root = workspace_root();
    let listed = Command::new("git").arg("-C").arg(&root).args(["ls-files", "*.rs"]).output().unwrap();
    let offenders: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter(|file| std::fs::read_to_string(root.join(file)).is_ok_and(|text| text.contains(&macro_call)))
        .map(str::to_owned)
        .collect();
    assert!(offenders.is_empty(), "{offenders:?} compile their clone's path in: read it at run time");
}
