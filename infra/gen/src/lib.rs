//! `make generate`: every file that repeats what the functions' descriptions say is written from
//! them, so a function's facts (routes, memory, timeout, environment, grants, throttles, events,
//! cost) live in one place, `functions/<name>/function.toml`, next to its code.
//!
//! What is written:
//! - template.yaml: each function's log group and function, its route throttles, the alarms and
//!   the dashboard over every function, each between `# BEGIN GENERATED` and `# END GENERATED`
//!   markers; everything else in the template (the shared resources) is written by hand;
//! - the route table (`crates/routes/src/table.rs`);
//! - local-api's registry of HTTP functions (`infra/local-api/src/registry.rs`) and its
//!   dependencies on them (a marked region of `infra/local-api/Cargo.toml`).
//!
//! `stratus-gen --check` (and a test) fail when a written file differs from what would be written.

mod scaffold;
mod spec;
mod template;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use scaffold::new_function;
pub use spec::{Function, Grant, Method, Route, Spec, Tokens, load_functions};

/// Where the generated files are, relative to the workspace root.
pub const TEMPLATE: &str = "template.yaml";
pub const ROUTE_TABLE: &str = "crates/routes/src/table.rs";
pub const REGISTRY: &str = "infra/local-api/src/registry.rs";
pub const LOCAL_API_MANIFEST: &str = "infra/local-api/Cargo.toml";

/// A file as it should be.
#[derive(Debug)]
pub struct Output {
    pub path: PathBuf,
    pub contents: String,
}

/// Everything `make generate` writes, as it should be now.
pub fn render(root: &Path) -> Result<Vec<Output>, String> {
    let functions = load_functions(root)?;
    let read = |path: &str| std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"));
    Ok(vec![
        Output { path: TEMPLATE.into(), contents: template::render(&read(TEMPLATE)?, &functions)? },
        Output { path: ROUTE_TABLE.into(), contents: route_table(&functions)? },
        Output { path: REGISTRY.into(), contents: registry(&functions) },
        Output {
            path: LOCAL_API_MANIFEST.into(),
            contents: replace_region(&read(LOCAL_API_MANIFEST)?, "functions", &manifest_deps(&functions))
                .map_err(|e| format!("{LOCAL_API_MANIFEST}: {e}"))?,
        },
    ])
}

/// The generated files that differ from what `render` makes (empty when all are current).
pub fn stale(root: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(render(root)?
        .into_iter()
        .filter(|output| {
            std::fs::read_to_string(root.join(&output.path)).ok().as_deref() != Some(&output.contents)
        })
        .map(|output| output.path)
        .collect())
}

/// Writes every generated file that changed; returns the ones written.
pub fn write(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for output in render(root)? {
        let path = root.join(&output.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(&output.contents) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, &output.contents).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(output.path);
        }
    }
    Ok(written)
}

const GENERATED_NOTE: &str = "make generate writes this from functions/*/function.toml: edit those, not this";

/// Replaces the lines between `# BEGIN GENERATED <name>` and `# END GENERATED <name>` (markers
/// kept, with the begin marker's indentation) by `body`.
pub(crate) fn replace_region(text: &str, name: &str, body: &str) -> Result<String, String> {
    let begin = format!("# BEGIN GENERATED {name}");
    let end = format!("# END GENERATED {name}");
    let mut out = String::with_capacity(text.len() + body.len());
    let mut lines = text.split_inclusive('\n');
    let mut found = false;
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with(&begin) {
            out.push_str(line);
            continue;
        }
        if found {
            return Err(format!("two `{begin}` markers"));
        }
        found = true;
        let indent = &line[..line.len() - line.trim_start().len()];
        writeln!(out, "{indent}{begin} ({GENERATED_NOTE})").expect("writing to a String");
        out.push_str(body);
        loop {
            match lines.next() {
                Some(line) if line.trim_start().starts_with(&end) => {
                    writeln!(out, "{indent}{end}").expect("writing to a String");
                    break;
                }
                Some(_) => {}
                None => return Err(format!("`{begin}` has no `{end}`")),
            }
        }
    }
    if found { Ok(out) } else { Err(format!("no `{begin}` marker")) }
}

fn route_table(functions: &[Function]) -> Result<String, String> {
    let mut out = format!(
        "//! The route table. {GENERATED_NOTE}.\n\nuse super::Route;\n\n/// Every (method, path) API Gateway routes to a function, in the functions' order.\npub const ROUTES: &[Route] = &[\n"
    );
    let mut fallback = Vec::new();
    for function in functions {
        for route in function.spec.routes.values() {
            match route {
                Route::Default => fallback.push(function.name.as_str()),
                Route::Path { method, path } => writeln!(
                    out,
                    "    Route {{ method: {:?}, path: {path:?}, function: {:?} }},",
                    method.as_str(),
                    function.name
                )
                .expect("writing to a String"),
            }
        }
    }
    let [fallback] = fallback[..] else {
        return Err(format!("exactly one function must take `ANY $default`, found {fallback:?}"));
    };
    let non_http: Vec<String> =
        functions.iter().filter(|f| f.spec.routes.is_empty()).map(|f| format!("{:?}", f.name)).collect();
    write!(
        out,
        "];\n\n/// Serves API Gateway's `$default` route: every request the table does not match.\npub const FALLBACK_FUNCTION: &str = {fallback:?};\n\n/// Functions no HTTP route reaches (a queue consumer, a schedule, a custom resource).\npub const NON_HTTP_FUNCTIONS: &[&str] = &[{}];\n",
        non_http.join(", ")
    )
    .expect("writing to a String");
    Ok(out)
}

fn http_functions(functions: &[Function]) -> impl Iterator<Item = &Function> {
    functions.iter().filter(|f| !f.spec.routes.is_empty())
}

fn registry(functions: &[Function]) -> String {
    let mut out = format!(
        "//! Every HTTP function local-api serves, by route-table name, with the `build` it is made by\n//! on Lambda too and its part of the OpenAPI document. {GENERATED_NOTE}.\n\nuse crate::{{Endpoint, InitError, LocalWiring}};\n\n/// The HTTP functions, by route-table name.\npub const HTTP_FUNCTIONS: &[&str] = &[\n"
    );
    for function in http_functions(functions) {
        writeln!(out, "    {:?},", function.name).expect("writing to a String");
    }
    out.push_str(
        "];\n\npub(crate) async fn build_function(name: &str, wiring: &LocalWiring) -> Result<Endpoint, InitError> {\n    match name {\n",
    );
    for function in http_functions(functions) {
        writeln!(out, "        {:?} => {}::build(wiring).await,", function.name, function.crate_ident())
            .expect("writing to a String");
    }
    out.push_str(
        "        other => Err(format!(\"local-api has no function {other:?}\").into()),\n    }\n}\n\npub(crate) fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {\n    vec![\n",
    );
    for function in http_functions(functions) {
        writeln!(out, "        {}::openapi(),", function.crate_ident()).expect("writing to a String");
    }
    out.push_str("    ]\n}\n");
    out
}

fn manifest_deps(functions: &[Function]) -> String {
    http_functions(functions)
        .map(|f| format!("{} = {{ path = \"../../functions/{}\" }}\n", f.name, f.name))
        .collect()
}
