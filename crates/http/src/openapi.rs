//! The API's OpenAPI 3.1 document is generated from the code: each function describes its own
//! operation next to its handler (`#[utoipa::path]`), and the pieces every function shares live
//! here: the problem+json responses with the headers that come with them. The schemas of the
//! domain types live beside those types (`stratus_core::domain::schema`, and the password's in
//! `stratus_auth::password`), stating the very rules their parsers enforce.

use utoipa::ToResponse;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, RefOr};

use crate::problem::{CONTENT_TYPE as PROBLEM, Problem};

/// The security scheme of routes that take an access token.
pub const BEARER: &str = "bearer";
/// The security scheme `/login` also accepts credentials in.
pub const BASIC: &str = "basic";

/// `pub fn openapi()`: the part of the document that the handlers named describe, each with its
/// `#[utoipa::path]`. Every function crate has one; local-api merges them.
#[macro_export]
macro_rules! openapi_part {
    ($($handler:ident),+ $(,)?) => {
        /// This function's part of the OpenAPI document.
        pub fn openapi() -> ::utoipa::openapi::OpenApi {
            #[derive(::utoipa::OpenApi)]
            #[openapi(paths($($handler),+))]
            struct Part;
            <Part as ::utoipa::OpenApi>::openapi()
        }
    };
}

pub use stratus_core::domain::schema::Timestamp;
use stratus_core::domain::schema::text;

stratus_core::named_schema!(
    Problem,
    "Problem",
    ObjectBuilder::new()
        .description(Some("RFC 9457 problem details: every error the API answers"))
        .property("type", text("Always `about:blank`: the status says what kind of problem it is"))
        .property("title", text("The status code's reason phrase"))
        .property("status", integer().minimum(Some(400)).maximum(Some(599)))
        .property("detail", text("What went wrong, for a person to read"))
        .property(
            "errors",
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .property("field", text("The request field, header or parameter at fault"))
                        .property("message", text("What is wrong with it"))
                        .required("field")
                        .required("message"),
                )
                .description(Some("One entry per invalid field, when fields are at fault")),
        )
        .property(
            "email_verification_required",
            ObjectBuilder::new().schema_type(Type::Boolean).description(Some(
                "On a login's 403 when verified emails are required: the password was right, the email is not verified yet",
            )),
        )
        .property(
            "verification_token",
            text("With `email_verification_required`: a Bearer token for `/users/me/email/verify` and its `/resend`, and nothing else"),
        )
        .property("expires_in", integer().minimum(Some(1)).description(Some("Seconds until `verification_token` expires")))
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
);

impl Problem {
    fn schema_ref() -> RefOr<Schema> {
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Problem"))
    }
}

fn header(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::header::Header {
    HeaderBuilder::new().schema(schema).description(Some(description)).build()
}

fn integer() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))
}

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM, Content::new(Some(Problem::schema_ref())))
}

macro_rules! problem_response {
    ($(#[$doc:meta])* $ty:ident, $description:literal $(, $header:literal => ($header_doc:literal, $schema:expr))* $(,)?) => {
        $(#[$doc])*
        pub struct $ty;

        impl<'r> ToResponse<'r> for $ty {
            fn response() -> (&'r str, RefOr<Response>) {
                let response = problem($description)
                    $(.header($header, header($header_doc, $schema)))*;
                (stringify!($ty), response.build().into())
            }
        }
    };
}

problem_response!(
    /// 400: the request does not parse, or a field is invalid (`errors` names each one).
    BadRequest,
    "The request is malformed or a field is invalid; `errors` names each field"
);
problem_response!(
    /// 401 with the RFC 6750 challenge.
    Unauthorized,
    "No valid access token: missing, malformed, expired or revoked",
    "WWW-Authenticate" => ("`Bearer realm=\"stratus\"`, with `error=\"invalid_token\"` when one was sent", text("challenge"))
);
problem_response!(
    /// 403: authenticated, but not allowed.
    Forbidden,
    "The caller may not do this"
);
problem_response!(
    /// 404.
    NotFound,
    "There is no such resource"
);
problem_response!(
    /// 409: the request conflicts with what is stored (`errors` names the field).
    Conflict,
    "The request conflicts with what is stored; `errors` names the field"
);
problem_response!(
    /// 422: well-formed, but it cannot be done as asked.
    UnprocessableEntity,
    "The request is well-formed but cannot be carried out as asked"
);
problem_response!(
    /// 413: over the body limit of the route.
    PayloadTooLarge,
    "The request body is larger than this route accepts"
);
problem_response!(
    /// 415: not JSON.
    UnsupportedMediaType,
    "The request body is not `application/json` (UTF-8)"
);
problem_response!(
    /// 429 with Retry-After.
    TooManyRequests,
    "Too many attempts; retry after the number of seconds in Retry-After",
    "Retry-After" => ("Seconds until the window that refused the request ends", integer().minimum(Some(1)))
);
problem_response!(
    /// 500: ours, never the client's; the cause is logged, not shown.
    InternalServerError,
    "The server failed; the cause is in its logs under the request id"
);
problem_response!(
    /// 503 with Retry-After: a backing service is briefly out of reach.
    ServiceUnavailable,
    "A backing service (table, queue, key) is briefly out of reach; retry",
    "Retry-After" => ("Seconds to wait before retrying", integer().minimum(Some(1)))
);

/// Every shared response, for the document's `components.responses`.
pub fn responses() -> Vec<(String, RefOr<Response>)> {
    fn entry<'r, T: ToResponse<'r>>() -> (String, RefOr<Response>) {
        let (name, response) = T::response();
        (name.to_owned(), response)
    }
    vec![
        entry::<BadRequest>(),
        entry::<Unauthorized>(),
        entry::<Forbidden>(),
        entry::<NotFound>(),
        entry::<Conflict>(),
        entry::<UnprocessableEntity>(),
        entry::<PayloadTooLarge>(),
        entry::<UnsupportedMediaType>(),
        entry::<TooManyRequests>(),
        entry::<InternalServerError>(),
        entry::<ServiceUnavailable>(),
    ]
}

/// The header every response carries, documented on every response.
pub fn request_id_header() -> (String, utoipa::openapi::header::Header) {
    (
        crate::http::REQUEST_ID_HEADER.to_owned(),
        header("The request's id; the logs of the request carry it", text("request id")),
    )
}
