//! Time and memory limits within the bounds the judge supports.

use super::FieldError;

pub const MIN_TIME_LIMIT_MS: u32 = 100;
pub const MAX_TIME_LIMIT_MS: u32 = 10_000;
pub const MIN_MEMORY_LIMIT_MB: u32 = 16;
pub const MAX_MEMORY_LIMIT_MB: u32 = 1024;

/// CPU-time limit per test case, 100 ms to 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimit(u32);

impl TimeLimit {
    pub fn parse(field: &str, ms: i64) -> Result<Self, FieldError> {
        if (i64::from(MIN_TIME_LIMIT_MS)..=i64::from(MAX_TIME_LIMIT_MS)).contains(&ms) {
            Ok(TimeLimit(ms as u32))
        } else {
            Err(FieldError::new(
                field,
                format!("must be between {MIN_TIME_LIMIT_MS} and {MAX_TIME_LIMIT_MS} ms, got {ms}"),
            ))
        }
    }

    pub fn ms(self) -> u32 {
        self.0
    }
}

/// Memory limit, 16 to 1024 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit(u32);

impl MemoryLimit {
    pub fn parse(field: &str, mb: i64) -> Result<Self, FieldError> {
        if (i64::from(MIN_MEMORY_LIMIT_MB)..=i64::from(MAX_MEMORY_LIMIT_MB)).contains(&mb) {
            Ok(MemoryLimit(mb as u32))
        } else {
            Err(FieldError::new(
                field,
                format!(
                    "must be between {MIN_MEMORY_LIMIT_MB} and {MAX_MEMORY_LIMIT_MB} MiB, got {mb}"
                ),
            ))
        }
    }

    pub fn mb(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert!(TimeLimit::parse("t", 99).is_err());
        assert_eq!(TimeLimit::parse("t", 100).unwrap().ms(), 100);
        assert_eq!(TimeLimit::parse("t", 10_000).unwrap().ms(), 10_000);
        assert!(TimeLimit::parse("t", 10_001).is_err());
        assert!(TimeLimit::parse("t", -5).is_err());
        assert!(MemoryLimit::parse("m", 15).is_err());
        assert_eq!(MemoryLimit::parse("m", 1024).unwrap().mb(), 1024);
        let err = MemoryLimit::parse("memory_limit_mb", 2048).unwrap_err();
        assert_eq!(err.field, "memory_limit_mb");
        assert!(err.message.contains("2048"));
    }
}
