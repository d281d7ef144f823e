//! GET /openapi.json, GET /docs and GET /docs/{asset}: the API's OpenAPI 3.1 document and a
//! Swagger UI page for it, served from this function alone. Swagger UI's files are embedded at
//! build time (vendored from npm's swagger-ui-dist by `infra/docs/vendor-swagger-ui.sh`) and
//! served under names that carry their content's hash, so they are cacheable for good; the page
//! loads nothing from anywhere else.
//!
//! The document is the committed `openapi.json`, which a test keeps equal to the one generated
//! from the functions' code (`make openapi`): this function links none of them.

use std::sync::LazyLock;

use sha2::Digest as _;
use stratus_http::Problem;
use stratus_http::http::{
    Body, Endpoint, HandlerResult, HeaderValue, Request, RequestExt, Response, StatusCode, header,
};
use stratus_http::openapi::NotFound;
use stratus_wiring::{InitError, Wiring};

pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The version `infra/docs/vendor-swagger-ui.sh` pins.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// Changes only with a deploy; a short cache keeps the edge useful without going stale.
const SHORT_CACHE: &str = "public, max-age=300";
/// An asset's name changes with its content, so what is cached under a name never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The page's policy: scripts, styles and fetches from this origin only (Swagger UI's CSS draws
/// its icons as `data:` images), no frames, no forms, no plugins.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                            font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                            form-action 'none'";

pub async fn build(_wiring: &impl Wiring) -> Result<Endpoint, InitError> {
    Ok(Endpoint::new(handle))
}

/// A file the page loads, under its public, content-addressed name.
pub struct Asset {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($stem:literal, $extension:literal, $content_type:literal, $path:literal) => {
        asset($stem, $extension, $content_type, include_bytes!($path))
    };
}

fn asset(stem: &str, extension: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&sha2::Sha256::digest(bytes)[..6]);
    Asset { name: format!("{stem}.{hash}.{extension}"), content_type, bytes }
}

/// Hashed once per cold start, on the first request for the page or an asset.
pub static ASSETS: LazyLock<[Asset; 5]> = LazyLock::new(|| {
    [
        asset!(
            "swagger-ui-bundle",
            "js",
            "text/javascript; charset=utf-8",
            "../assets/swagger-ui/swagger-ui-bundle.js"
        ),
        asset!("swagger-ui", "css", "text/css; charset=utf-8", "../assets/swagger-ui/swagger-ui.css"),
        asset!(
            "swagger-initializer",
            "js",
            "text/javascript; charset=utf-8",
            "../assets/swagger-initializer.js"
        ),
        asset!("favicon-32x32", "png", "image/png", "../assets/swagger-ui/favicon-32x32.png"),
        asset!("favicon-16x16", "png", "image/png", "../assets/swagger-ui/favicon-16x16.png"),
    ]
});

fn asset_name(stem: &str) -> &'static str {
    let prefix = format!("{stem}.");
    ASSETS.iter().find(|a| a.name.starts_with(&prefix)).map(|a| a.name.as_str()).expect("a known asset")
}

static PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stratus API</title>
<link rel="icon" type="image/png" sizes="32x32" href="/docs/{favicon32}">
<link rel="icon" type="image/png" sizes="16x16" href="/docs/{favicon16}">
<link rel="stylesheet" href="/docs/{css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/{bundle}"></script>
<script src="/docs/{initializer}"></script>
</body>
</html>
"#,
        favicon32 = asset_name("favicon-32x32"),
        favicon16 = asset_name("favicon-16x16"),
        css = asset_name("swagger-ui"),
        bundle = asset_name("swagger-ui-bundle"),
        initializer = asset_name("swagger-initializer"),
    )
});

stratus_http::openapi_part!(openapi_json, docs_page, docs_asset);

/// The OpenAPI document
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "This document, OpenAPI 3.1", content_type = "application/json",
        body = Object, headers(("Cache-Control" = String, description = "`public, max-age=300`"))))
)]
#[allow(dead_code)] // Documents a route `handle` serves.
fn openapi_json() {}

/// The API's documentation, to read and try out
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "docs",
    tag = "meta",
    responses((status = 200, description = "Swagger UI on this document", content_type = "text/html",
        body = String, headers(
            ("Content-Security-Policy" = String, description = "Scripts, styles and requests from this origin only"),
            ("Cache-Control" = String, description = "`public, max-age=300`"),
        )))
)]
#[allow(dead_code)] // Documents a route `handle` serves.
fn docs_page() {}

/// A file of the documentation page
#[utoipa::path(
    get,
    path = "/docs/{asset}",
    operation_id = "docs-asset",
    tag = "meta",
    params(("asset" = String, Path, description = "A name the page links to; it carries the file's hash",
        pattern = "^[A-Za-z0-9._-]+$", example = bundle_name)),
    responses(
        (status = 200, description = "The file; its name changes with its content, so it may be cached for good",
            content(
                (String = "text/javascript"),
                (String = "text/css"),
                (Vec<u8> = "image/png"),
            ),
            headers(("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"))),
        (status = 404, response = NotFound),
    )
)]
#[allow(dead_code)] // Documents a route `handle` serves.
fn docs_asset() {}

/// The example of `/docs/{asset}`: the bundle's current name.
fn bundle_name() -> serde_json::Value {
    serde_json::Value::String(asset_name("swagger-ui-bundle").to_owned())
}

async fn handle(request: Request) -> HandlerResult {
    let path = request.raw_http_path();
    let (status, content_type, cache, body) = match path {
        "/openapi.json" => {
            (StatusCode::OK, "application/json", SHORT_CACHE, Body::Text(OPENAPI_JSON.to_owned()))
        }
        "/docs" => (StatusCode::OK, "text/html; charset=utf-8", SHORT_CACHE, Body::Text(PAGE.clone())),
        other => {
            let name = other.strip_prefix("/docs/").unwrap_or_default();
            let asset = ASSETS
                .iter()
                .find(|asset| asset.name == name)
                .ok_or_else(|| Problem::not_found(format!("No document at {other}")))?;
            let body = match std::str::from_utf8(asset.bytes) {
                Ok(text) => Body::Text(text.to_owned()),
                Err(_) => Body::Binary(asset.bytes.to_vec()),
            };
            (StatusCode::OK, asset.content_type, IMMUTABLE, body)
        }
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
        .header(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if path == "/docs" {
        response = response.header(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    }
    Ok(response.body(body).expect("static parts are valid"))
}
