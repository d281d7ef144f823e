//! GET /openapi.json and GET /docs: the API's OpenAPI 3.1 document and a Swagger UI page for it.
//! A test checks that the document lists exactly the routes of the route table.

use shared::Problem;
use shared::http::{
    Body, Endpoint, HandlerResult, HeaderValue, Request, RequestExt, Response, StatusCode, header,
};

pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

const SWAGGER_UI_VERSION: &str = "5.17.14";

pub fn endpoint() -> Endpoint {
    Endpoint::new(handle)
}

pub async fn handle(request: Request) -> HandlerResult {
    let (content_type, body) = match request.raw_http_path() {
        "/openapi.json" => ("application/json", OPENAPI_JSON.to_owned()),
        "/docs" => ("text/html; charset=utf-8", swagger_page()),
        other => return Err(Problem::not_found(format!("No document at {other}"))),
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
        // Changes only with a deploy; a short cache keeps the edge useful without going stale.
        .header(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"))
        .body(Body::Text(body))
        .expect("static parts are valid"))
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
<script>
window.onload = () => {{ window.ui = SwaggerUIBundle({{ url: "openapi.json", dom_id: "#swagger-ui" }}); }};
</script>
</body>
</html>
"##
    )
}
