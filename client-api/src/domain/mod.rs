//! Validated input. Handlers parse request bodies into these types; past that point the rest of
//! the code can rely on them (a `SourceCode` is never empty or oversize, a `TimeLimit` is in
//! bounds, a language id is in the table).

mod limits;
mod source;
mod testcases;

pub use limits::{MemoryLimit, TimeLimit};
pub use source::SourceCode;
pub use testcases::TestcaseSet;

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
