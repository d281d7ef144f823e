//! `stratus-gen [--root DIR] [--check]`: writes the files that repeat the functions' descriptions
//! (`make generate`); with `--check`, changes nothing and fails when one is stale.
//! `stratus-gen [--root DIR] new NAME "METHOD /path"`: scaffolds functions/NAME, then generates
//! (`make new-function`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The workspace the command runs in, found from the current directory: a path built in at
    // compile time would name whichever copy of the repository cargo first built it in.
    let Some(mut root) = std::env::current_dir().ok().and_then(|dir| {
        dir.ancestors()
            .find(|d| d.join("template.yaml").is_file() && d.join("functions").is_dir())
            .map(PathBuf::from)
    }) else {
        eprintln!("stratus-gen: run it inside the repository (no template.yaml and functions/ above here)");
        return ExitCode::FAILURE;
    };
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "new" => {
                let (Some(name), Some(route), None) = (args.next(), args.next(), args.next()) else {
                    return usage();
                };
                match stratus_gen::new_function(&root, &name, &route) {
                    Ok(paths) => paths.iter().for_each(|path| println!("wrote {}", path.display())),
                    Err(error) => {
                        eprintln!("stratus-gen: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            "--root" => match args.next() {
                Some(dir) => root = dir.into(),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let result = if check { stratus_gen::stale(&root) } else { stratus_gen::write(&root) };
    match result {
        Ok(paths) if check && !paths.is_empty() => {
            for path in paths {
                eprintln!("stale: {} (run `make generate` and commit it)", path.display());
            }
            ExitCode::FAILURE
        }
        Ok(paths) => {
            for path in paths {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("stratus-gen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: stratus-gen [--root DIR] [--check | new NAME \"METHOD /path\"]");
    ExitCode::from(2)
}
