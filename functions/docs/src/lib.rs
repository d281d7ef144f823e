//! GET /openapi.json and GET /docs: the API's OpenAPI 3.1 document and a Swagger UI page for it.
//! A test checks that the document lists exactly the routes of the route table.

use shared::Problem;
use shared::http::{
    Body, Endpoint, HandlerResult, HeaderValue, Request, RequestExt, Response, StatusCode, header,
};
use shared::{InitError, Wiring};

pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

const SWAGGER_UI_VERSION: &str = "5.17.14";

pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    Ok(Endpoint::new(handle))
}

async fn handle(request: Request) -> HandlerResult {
    let response = Response::builder()
        .status(StatusCode::OK)
        // Changes only with a deploy; a short cache keeps the edge useful without going stale.
        .header(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    let response = match request.raw_http_path() {
        "/openapi.json" => response
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Body::Text(OPENAPI_JSON.to_owned())),
        "/docs" => response
            .header(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))
            .header(header::CONTENT_SECURITY_POLICY, swagger_csp())
            .body(Body::Text(swagger_page())),
        other => return Err(Problem::not_found(format!("No document at {other}"))),
    };
    Ok(response.expect("static parts are valid"))
}

const SWAGGER_INIT: &str = r##"window.onload = () => { window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui" }); };"##;

/// The page may load Swagger UI from its CDN and run its one inline script (pinned by hash),
/// nothing else; CloudFront's stricter default policy is for the JSON routes.
fn swagger_csp() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let script_hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SWAGGER_INIT));
    format!(
        "default-src 'none'; script-src https://cdn.jsdelivr.net 'sha256-{script_hash}'; \
         style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://cdn.jsdelivr.net; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn swagger_page() -> String {
    let cdn = format!("https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}");
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stratus API</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{cdn}/swagger-ui-bundle.js" crossorigin="anonymous"></script>
<script>{SWAGGER_INIT}</script>
</body>
</html>
"##
    )
}
