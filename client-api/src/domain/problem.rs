//! A problem as the request describes it, validated.

use super::{FieldError, MemoryLimit, TestcaseSet, TimeLimit, check_text};
use api_contract::CreateProblem;

pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProblem {
    /// Trimmed.
    pub title: String,
    pub time: TimeLimit,
    pub memory: MemoryLimit,
    pub testcases: TestcaseSet,
}

impl NewProblem {
    /// Every broken rule, each with its field, or the problem.
    pub fn parse(request: CreateProblem) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(e) = check_text("title", &request.title, MAX_TITLE_CHARS) {
            errors.push(e);
        }
        let time =
            TimeLimit::parse("time_limit_ms", request.time_limit_ms).map_err(|e| errors.push(e));
        let memory = MemoryLimit::parse("memory_limit_mb", request.memory_limit_mb)
            .map_err(|e| errors.push(e));
        let testcases =
            TestcaseSet::parse("testcases", request.testcases).map_err(|e| errors.push(e));
        match (time, memory, testcases) {
            (Ok(time), Ok(memory), Ok(testcases)) if errors.is_empty() => Ok(NewProblem {
                title: request.title.trim().to_string(),
                time,
                memory,
                testcases,
            }),
            _ => Err(errors),
        }
    }
}
