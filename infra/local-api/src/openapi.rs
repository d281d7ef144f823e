//! The API's OpenAPI 3.1 document, assembled from every function's own part (its handler's
//! `#[utoipa::path]` and the types it reads and answers) and the pieces they share. `make openapi`
//! writes it to `functions/docs/openapi.json`, which the docs function serves; a test fails when
//! the two differ.

use utoipa::PartialSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Server};

use stratus_http::openapi::{BASIC, BEARER};

const DESCRIPTION: &str = "User accounts and authentication, a content-addressed message store and \
asynchronous tasks. Every error is RFC 9457 `application/problem+json`; every response carries \
`x-request-id`.";

pub fn openapi() -> OpenApi {
    let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").description(Some(
        "The `access_token` of `POST /login` or `POST /token/refresh` (ES256, 15 minutes)",
    ));
    let basic = HttpBuilder::new()
        .scheme(HttpAuthScheme::Basic)
        .description(Some("Username and password, for `POST /login` only"));
    let tag =
        |name: &str, description: &str| TagBuilder::new().name(name).description(Some(description)).build();
    let mut document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Stratus API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION))
                .build(),
        )
        .servers(Some([Server::new("/")]))
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(BEARER, SecurityScheme::Http(bearer.build()))
                .security_scheme(BASIC, SecurityScheme::Http(basic.build()))
                .schema("Problem", stratus_http::Problem::schema())
                .responses_from_iter(stratus_http::openapi::responses())
                .build(),
        ))
        .tags(Some([
            tag("messages", "Content-addressed messages: stored by their SHA-256, read back by it"),
            tag("accounts", "Registration, login, sessions and profiles"),
            tag("tasks", "Work done asynchronously by a worker on a queue"),
            tag(
                "oauth",
                "OAuth 2.1 and OpenID Connect: clients, the hosted sign-in, tokens, userinfo, logout",
            ),
            tag("meta", "Health and this documentation"),
        ]))
        .build();
    for part in super::openapi_parts() {
        document.merge(part);
    }
    stamp_request_id(&mut document);
    document
}

/// The document as `functions/docs/openapi.json` holds it.
pub fn openapi_json() -> String {
    let mut document = serde_json::to_value(openapi()).expect("the document serializes");
    camel_case_links(&mut document);
    let mut text = serde_json::to_string_pretty(&document).expect("the document serializes");
    text.push('\n');
    text
}

/// utoipa 5.5 writes a Link's fields in snake case (`operation_id`); OpenAPI names them
/// `operationId`, `operationRef` and `requestBody`, and tools ignore the others.
fn camel_case_links(node: &mut serde_json::Value) {
    use serde_json::Value;
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut().filter_map(Value::as_object_mut) {
                    for (snake, camel) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(value) = link.remove(snake) {
                            link.insert(camel.to_owned(), value);
                        }
                    }
                }
            }
            map.values_mut().for_each(camel_case_links);
        }
        Value::Array(items) => items.iter_mut().for_each(camel_case_links),
        _ => {}
    }
}

/// Every response carries `x-request-id`; say so on each.
fn stamp_request_id(document: &mut OpenApi) {
    let (name, header) = stratus_http::openapi::request_id_header();
    let operations = document.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
            .into_iter()
            .flatten()
    });
    for operation in operations {
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.headers.insert(name.clone(), header.clone());
            }
        }
    }
    if let Some(components) = document.components.as_mut() {
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.headers.insert(name.clone(), header.clone());
            }
        }
    }
}
