//! The route table is the source of truth: local-api, the OpenAPI document and template.yaml
//! must each say exactly what it says.

use std::collections::BTreeSet;

use stratus_routes::{FALLBACK_FUNCTION, NON_HTTP_FUNCTIONS, ROUTES};
use stratus_tests::{Backend, wiring};

fn table() -> BTreeSet<(String, String)> {
    ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect()
}

#[test]
fn the_files_make_generate_writes_are_current() {
    // template.yaml's function blocks, the route table and local-api's registry are written
    // from functions/*/function.toml.
    let stale = stratus_gen::stale(&stratus_tests::workspace_root()).expect("the descriptions parse");
    assert!(stale.is_empty(), "stale: {stale:?}: run `make generate` and commit them");
}

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    // `make openapi` writes it; the docs function serves the committed file.
    assert!(
        docs::OPENAPI_JSON == local_api::openapi_json(),
        "functions/docs/openapi.json is not what the code generates: run `make openapi` and commit it"
    );
}

#[test]
fn openapi_document_lists_exactly_the_routes() {
    let document: serde_json::Value = serde_json::from_str(&local_api::openapi_json()).expect("valid JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert_eq!(documented, table());
}

#[tokio::test]
async fn local_api_serves_exactly_the_routed_functions() {
    assert!(local_api::missing().is_empty(), "{:?}", local_api::missing());
    local_api::Functions::build(&wiring(Backend::Memory).await).await.expect("every function builds");
    let served: BTreeSet<&str> = local_api::HTTP_FUNCTIONS.iter().copied().collect();
    let routed: BTreeSet<&str> = ROUTES.iter().map(|r| r.function).chain([FALLBACK_FUNCTION]).collect();
    assert_eq!(served, routed);
}

#[test]
fn every_function_crate_is_routed_and_every_route_has_a_crate() {
    let root = stratus_tests::workspace_root();
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !NON_HTTP_FUNCTIONS.contains(&name.as_str()))
        .collect();
    let routed: BTreeSet<String> =
        ROUTES.iter().map(|r| r.function.to_owned()).chain([FALLBACK_FUNCTION.to_owned()]).collect();
    assert_eq!(crates, routed);
}

#[test]
fn the_architecture_diagram_is_drawn_from_the_template() {
    use stratus_tests::diagram;
    let template = stratus_tests::template::Template::workspace().expect("template.yaml reads");
    let readme = std::fs::read_to_string(stratus_tests::workspace_root().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let redrawn = diagram::replace_in(&readme, &diagram::mermaid(&template))
        .expect("docs/architecture.md has the markers");
    assert!(
        readme == redrawn,
        "docs/architecture.md's architecture diagram is stale: run `make diagram` and commit it"
    );
}
