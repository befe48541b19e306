//! OpenAPI schemas for the types whose JSON form is a custom string.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

fn string(description: &str, pattern: Option<&str>) -> RefOr<Schema> {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description));
    if let Some(p) = pattern {
        b = b.pattern(Some(p));
    }
    RefOr::T(Schema::Object(b.build()))
}

macro_rules! string_schema {
    ($t:ty, $desc:expr, $pattern:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                string($desc, $pattern)
            }
        }
        impl utoipa::ToSchema for $t {}
    };
}

string_schema!(
    crate::AuthMode,
    "Auth-mode bit flags as hex: 0x01 card, 0x02 face, 0x04 QR, 0x08 PIN, 0x10 four items, 0x40 two items",
    Some("^0x[0-9A-Fa-f]{2}$")
);
string_schema!(
    crate::CredentialId,
    "Credential id, 32 hex digits",
    Some("^[0-9a-f]{32}$")
);
string_schema!(
    crate::IdNumber,
    "Resident ID number (GB 11643-1999), 18 characters",
    Some("^[0-9]{17}[0-9X]$")
);
string_schema!(
    crate::CivilDate,
    "Calendar date, YYYY-MM-DD",
    Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
);
string_schema!(crate::api::Bytes, "Binary data, standard base64", None);

impl utoipa::PartialSchema for crate::ResultCode {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = crate::ResultCode::ALL.iter().map(|c| c.name()).collect();
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Result code name from the shared table (`wz codes`)"))
                .enum_values(Some(names))
                .build(),
        ))
    }
}
impl utoipa::ToSchema for crate::ResultCode {}
