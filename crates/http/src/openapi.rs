//! The API's OpenAPI 3.1 document is generated from the code: each function describes its own
//! operation next to its handler (`#[utoipa::path]`), and the pieces every function shares live
//! here: the schemas of the domain types, stating the very rules their parsers enforce, and the
//! problem+json responses with the headers that come with them.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Content, KnownFormat, RefOr};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::auth::Password;
use crate::domain::{Digest, Email, Message, PersonName, TaskId, Username};
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

fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

macro_rules! schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    Username,
    "Username",
    text("Case-insensitive; answered in lower case")
        .min_length(Some(Username::MIN))
        .max_length(Some(Username::MAX))
        .pattern(Some(Username::PATTERN))
        .examples([json!("ada_l")])
);

schema!(
    Email,
    "Email",
    text("Unique, compared case-insensitively")
        .max_length(Some(Email::MAX))
        .pattern(Some(Email::PATTERN))
        .examples([json!("ada@example.com")])
);

schema!(
    PersonName,
    "PersonName",
    text("Visible text: no control, format or line-separator characters, no whitespace at either end")
        .min_length(Some(1))
        .max_length(Some(PersonName::MAX))
        .pattern(Some(PersonName::pattern()))
        .examples([json!("Ada")])
);

schema!(
    Password,
    "Password",
    text(
        "8 to 128 characters. Common passwords and ones built from the account's own details are \
         refused with 400 (NIST SP 800-63B)"
    )
    .min_length(Some(Password::MIN))
    .max_length(Some(Password::MAX))
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
    .examples([json!("analytical engine 1843")])
);

schema!(
    Digest,
    "Digest",
    text("SHA-256 of the message's UTF-8 bytes, hexadecimal; either letter case is accepted")
        .min_length(Some(64))
        .max_length(Some(64))
        .pattern(Some("^[0-9A-Fa-f]{64}$"))
        .examples([json!("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")])
);

schema!(
    TaskId,
    "TaskId",
    text("A task's id, a UUID in its hyphenated form")
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .pattern(Some("^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"))
        .examples([json!("7c9e6679-7425-40de-944b-e07fc1f90ae7")])
);

schema!(
    Message,
    "Message",
    text(
        "Any UTF-8 text, the empty string included, of at most 256 KiB (262,144 bytes) once \
         encoded; a longer one is refused with 413"
    )
    .max_length(Some(Message::MAX_BYTES))
    .examples([json!("foo")])
);

schema!(
    crate::domain::Number,
    "Number",
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .description(Some(
            "Any JSON number, read exactly (never through floating point): at most 4096 significant \
             digits and a decimal exponent within ±4096"
        ))
        .examples([json!(5)])
);

/// An RFC 3339 timestamp, for `value_type` on the domain's `OffsetDateTime` fields.
pub struct Timestamp;

schema!(
    Timestamp,
    "Timestamp",
    text("RFC 3339, UTC").format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
);

schema!(
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
