//! Source code as the judge accepts it.

use super::FieldError;

/// Largest accepted source, in characters (a JSON Schema `maxLength` counts characters, so
/// the limit is stated the way the OpenAPI document can say it).
pub const MAX_SOURCE_CHARS: usize = 64 * 1024;

/// Non-blank source code of at most 64 Ki characters, without NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCode(String);

impl SourceCode {
    pub fn parse(source: String) -> Result<Self, FieldError> {
        super::check_text("source", &source, MAX_SOURCE_CHARS)?;
        Ok(SourceCode(source))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_oversize_and_nul() {
        assert!(SourceCode::parse(String::new()).is_err());
        assert!(SourceCode::parse(" \n\t".into()).is_err());
        assert!(SourceCode::parse("a\0b".into()).is_err());
        assert!(SourceCode::parse("x".repeat(MAX_SOURCE_CHARS)).is_ok());
        let err = SourceCode::parse("x".repeat(MAX_SOURCE_CHARS + 1)).unwrap_err();
        assert!(err.message.contains("65537"));
        // Characters, not bytes: 64 Ki two-byte characters are fine.
        assert!(SourceCode::parse("é".repeat(MAX_SOURCE_CHARS)).is_ok());
        // Blank means spaces, tabs and line breaks only.
        assert!(SourceCode::parse("\u{3000}".into()).is_ok());
    }
}
