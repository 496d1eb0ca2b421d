//! Validated input. Handlers parse request bodies into these types
//! ([`NewSubmission::parse`], [`NewProblem::parse`]); past that point the rest of the code can
//! rely on them (a `SourceCode` is never blank or oversize, a `TimeLimit` is in bounds, a
//! language id is in the table).

pub mod limits;
mod problem;
mod source;
mod submission;
pub mod testcases;

pub use api_contract::FieldError;
pub use limits::{MemoryLimit, TimeLimit};
pub use problem::{MAX_TITLE_CHARS, NewProblem};
pub use source::{MAX_SOURCE_CHARS, SourceCode};
pub use submission::{JudgedAgainst, NewSubmission};
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
