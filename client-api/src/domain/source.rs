//! Source code as the judge accepts it.

use super::FieldError;

/// Largest accepted source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// Non-blank source code of at most 64 KiB, without NUL bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCode(String);

impl SourceCode {
    pub fn parse(source: String) -> Result<Self, FieldError> {
        if source.trim().is_empty() {
            return Err(FieldError::new("source", "must not be empty"));
        }
        if source.len() > MAX_SOURCE_BYTES {
            return Err(FieldError::new(
                "source",
                format!(
                    "is {} bytes; the limit is {MAX_SOURCE_BYTES} bytes (64 KiB)",
                    source.len()
                ),
            ));
        }
        if source.contains('\0') {
            return Err(FieldError::new("source", "must not contain NUL bytes"));
        }
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
        assert!(SourceCode::parse("x".repeat(MAX_SOURCE_BYTES)).is_ok());
        let err = SourceCode::parse("x".repeat(MAX_SOURCE_BYTES + 1)).unwrap_err();
        assert!(err.message.contains("65537"));
    }
}
