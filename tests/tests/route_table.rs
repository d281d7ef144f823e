//! The route table is the source of truth: local-api, the OpenAPI document and template.yaml
//! must each say exactly what it says.

use std::collections::BTreeSet;

use shared::routes::{FALLBACK_FUNCTION, ROUTES};
use stratus_tests::{Backend, ports};

fn table() -> BTreeSet<(String, String)> {
    ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect()
}

#[test]
fn openapi_document_lists_exactly_the_routes() {
    let document: serde_json::Value = serde_json::from_str(docs::OPENAPI_JSON).expect("valid JSON");
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
    let functions = local_api::Functions::new(&ports(Backend::Memory).await);
    assert!(functions.missing().is_empty(), "{:?}", functions.missing());
    let served: BTreeSet<&str> = functions.names().into_iter().collect();
    let routed: BTreeSet<&str> = ROUTES.iter().map(|r| r.function).chain([FALLBACK_FUNCTION]).collect();
    assert_eq!(served, routed);
}

#[test]
fn every_function_crate_is_routed_and_every_route_has_a_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !NON_HTTP_FUNCTIONS.contains(&name.as_str()))
        .collect();
    let routed: BTreeSet<String> =
        ROUTES.iter().map(|r| r.function.to_owned()).chain([FALLBACK_FUNCTION.to_owned()]).collect();
    assert_eq!(crates, routed);
}

/// Functions with no HTTP route (queue consumers).
const NON_HTTP_FUNCTIONS: &[&str] = &["worker"];
