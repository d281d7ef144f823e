//! RFC 9457 problem details: the one error shape every endpoint answers with.

use http::{HeaderName, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    #[serde(serialize_with = "status_code")]
    status: StatusCode,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// RFC 9457 extension members; rare, so boxed to keep every `Result<_, Problem>` small.
    #[serde(flatten)]
    extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

fn status_code<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        let problem =
            Self::new(StatusCode::METHOD_NOT_ALLOWED, format!("This resource supports only: {allow}"));
        match HeaderValue::from_str(&allow) {
            Ok(value) => problem.with_header(header::ALLOW, value),
            Err(_) => problem,
        }
    }

    /// A failure that is ours, not the client's. The cause is logged here, once, and never
    /// shown to the client: it may name tables, keys or internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "The server failed to handle the request")
    }

    /// A dependency (table, queue) is briefly out of reach; the client may retry.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "A backing service is unavailable; retry shortly")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    pub fn with_field_error(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
        self
    }

    /// An extension member (RFC 9457 section 3.2) beside the standard ones.
    pub fn with_extension(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.get_or_insert_default().insert(name.to_owned(), value.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).expect("a problem always serializes");
        let mut response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            // An error is about this moment, not about the resource: never let a cache keep it.
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::Text(body))
            .expect("static parts are valid");
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.title, self.detail)
    }
}

impl From<stratus_core::ports::SignError> for Problem {
    fn from(error: stratus_core::ports::SignError) -> Self {
        match &error {
            stratus_core::ports::SignError::Unavailable(_) => Problem::unavailable(&error),
            stratus_core::ports::SignError::Failed(_) => Problem::internal(&error),
        }
    }
}

impl From<stratus_core::ports::StoreError> for Problem {
    fn from(error: stratus_core::ports::StoreError) -> Self {
        match &error {
            stratus_core::ports::StoreError::Unavailable(_) => Problem::unavailable(&error),
            stratus_core::ports::StoreError::Internal(_) => Problem::internal(&error),
        }
    }
}

/// Collects the field errors of a request so that all of them are reported in one 400.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// The value if `result` is Ok; otherwise records the error under `field`.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|error| self.0.push(FieldError { field: field.into(), message: error.to_string() }))
            .ok()
    }

    /// A 400 carrying every recorded error, if there is any.
    pub fn into_problem(self, detail: &str) -> Problem {
        let mut problem = Problem::bad_request(detail);
        problem.errors = self.0;
        problem
    }
}
