//! Validated input. Handlers parse request bodies into these types; past that point the rest of
//! the code can rely on them (a `SourceCode` is never empty or oversize, a `TimeLimit` is in
//! bounds, a language id is in the table).

pub mod limits;
mod source;
pub mod testcases;

pub use limits::{MemoryLimit, TimeLimit};
pub use source::{MAX_SOURCE_CHARS, SourceCode};
pub use testcases::TestcaseSet;

/// The rule for free text (a source, a title) as a JSON Schema pattern, so the OpenAPI
/// document states exactly what [`check_text`] enforces: no NUL anywhere, and at least one
/// character that is not a space, tab, CR or LF.
pub const NON_BLANK_TEXT_PATTERN: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\r ][^\\u0000]*$";
/// No NUL anywhere (test-case input and output, which may be empty).
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// Non-blank (see [`NON_BLANK_TEXT_PATTERN`]), without NUL, at most `max_chars` characters.
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    if text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if text.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters; the limit is {max_chars}"),
        ));
    }
    Ok(())
}

/// serde helpers for integer fields: JSON Schema's `integer` includes `185.0`, so a number
/// with a zero fraction is accepted as the integer it is; `185.5` is not an integer.
pub mod json_integer {
    use serde::{Deserialize, Deserializer, de::Error};

    fn from_number<E: Error>(n: serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
                Ok(f as i64)
            }
            _ => Err(E::custom(format!("expected an integer, got {n}"))),
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        from_number(serde_json::Number::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(from_number)
            .transpose()
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field (`source`, `testcases[2].output`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
