//! The OpenAPI schemas of the domain types, stating the very rules their parsers enforce: they
//! live beside the types (utoipa's traits can only be implemented here or in utoipa), and the
//! HTTP layer's document refers to them by name.

use serde_json::json;
use utoipa::openapi::KnownFormat;
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};

use super::{Digest, Email, Message, Number, PersonName, TaskId, Username};

/// A string schema with its description: the start of most of the API's schemas.
pub fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

/// Implements utoipa's schema traits for `$ty` under the component name `$name`. Exported so
/// that the layers above (the password policy, problem+json) describe their types the same way.
#[macro_export]
macro_rules! named_schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl ::utoipa::ToSchema for $ty {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

named_schema!(
    Username,
    "Username",
    text("Case-insensitive; answered in lower case")
        .min_length(Some(Username::MIN))
        .max_length(Some(Username::MAX))
        .pattern(Some(Username::PATTERN))
        .examples([json!("ada_l")])
);

named_schema!(
    Email,
    "Email",
    text("Unique, compared case-insensitively")
        .max_length(Some(Email::MAX))
        .pattern(Some(Email::PATTERN))
        .examples([json!("ada@example.com")])
);

named_schema!(
    PersonName,
    "PersonName",
    text("Visible text: no control, format or line-separator characters, no whitespace at either end")
        .min_length(Some(1))
        .max_length(Some(PersonName::MAX))
        .pattern(Some(PersonName::pattern()))
        .examples([json!("Ada")])
);

named_schema!(
    Digest,
    "Digest",
    text("SHA-256 of the message's UTF-8 bytes, hexadecimal; either letter case is accepted")
        .min_length(Some(64))
        .max_length(Some(64))
        .pattern(Some("^[0-9A-Fa-f]{64}$"))
        .examples([json!("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")])
);

named_schema!(
    TaskId,
    "TaskId",
    text("A task's id, a UUID in its hyphenated form")
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .pattern(Some("^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"))
        .examples([json!("7c9e6679-7425-40de-944b-e07fc1f90ae7")])
);

named_schema!(
    Message,
    "Message",
    text(
        "Any UTF-8 text, the empty string included, of at most 256 KiB (262,144 bytes) once \
         encoded; a longer one is refused with 413"
    )
    .max_length(Some(Message::MAX_BYTES))
    .examples([json!("foo")])
);

named_schema!(
    Number,
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

named_schema!(
    Timestamp,
    "Timestamp",
    text("RFC 3339, UTC").format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
);
