//! `make new-function NAME=… ROUTE="METHOD /path"`: a new function's four hand-written files.
//! Its handler answers 501 until it is written; everything else follows from its description.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::spec::{Route, camel_case, is_function_name};

/// Writes `functions/<name>/` (Cargo.toml, function.toml, src/lib.rs, src/main.rs) and returns
/// the paths written. Refuses a name that is taken or malformed, and a route that is not
/// `METHOD /path`.
pub fn new_function(root: &Path, name: &str, route: &str) -> Result<Vec<PathBuf>, String> {
    if !is_function_name(name) {
        return Err(format!("{name:?}: a function's name is lower-case letters, digits and single `-`"));
    }
    let Route::Path { method, path } = route.parse::<Route>()? else {
        return Err("the `$default` route has its function already (fallback)".into());
    };
    let dir = Path::new("functions").join(name);
    if root.join(&dir).exists() {
        return Err(format!("{} exists already", dir.display()));
    }
    let event = camel_case(name);
    let ident = name.replace('-', "_");
    let params: Vec<&str> =
        path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();

    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true\npublish.workspace = true\n\n[dependencies]\nstratus-http.workspace = true\nstratus-wiring.workspace = true\nlambda_http.workspace = true\nutoipa.workspace = true\n"
    );
    let description = format!(
        "# The {name} function's one description: `make generate` writes what repeats it (infra/gen).\n# Add `memory`, `timeout`, `tokens`, `throttle`, `[environment]` and `[[grants]]` as it needs\n# them; functions/*/function.toml has an example of each.\n\n[routes]\n{event} = \"{} {path}\"\n",
        method.as_str()
    );
    let mut utoipa_params = String::new();
    if !params.is_empty() {
        let listed: Vec<String> =
            params.iter().map(|p| format!("(\"{p}\" = String, Path, description = \"The {p}\")")).collect();
        write!(utoipa_params, "\n    params({}),", listed.join(", ")).expect("writing to a String");
    }
    let handler = format!(
        r#"//! {method} {path}: answers 501 Not Implemented until its handler is written.

use stratus_http::Problem;
use stratus_http::http::{{Endpoint, HandlerResult, Request, StatusCode}};
use stratus_wiring::{{InitError, Wiring}};

/// Builds the endpoint once per cold start: ask `wiring` for the ports the handler needs here.
pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {{
    Ok(Endpoint::new(handle))
}}

stratus_http::openapi_part!(handle);

/// {event}
#[utoipa::path(
    {verb},
    path = "{path}",
    operation_id = "{ident}",{utoipa_params}
    responses((status = 501, description = "Not written yet", body = Problem, content_type = "application/problem+json"))
)]
async fn handle(_request: Request) -> HandlerResult {{
    Err(Problem::new(StatusCode::NOT_IMPLEMENTED, "{method} {path} is not written yet"))
}}
"#,
        method = method.as_str(),
        verb = method.as_str().to_ascii_lowercase(),
    );
    let main = format!(
        "fn main() -> Result<(), lambda_http::Error> {{\n    stratus_wiring::lambda_init::main_http({ident}::build)\n}}\n"
    );
    let files = [
        (dir.join("Cargo.toml"), manifest),
        (dir.join("function.toml"), description),
        (dir.join("src/lib.rs"), handler),
        (dir.join("src/main.rs"), main),
    ];
    for (path, contents) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))
            .and_then(|()| std::fs::write(&path, contents))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}
