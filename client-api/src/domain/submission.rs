//! A submission as the request describes it, validated: the language is one the judges know,
//! the source is acceptable, and it is judged either against a problem (whose limits apply) or
//! against inline test cases with limits of its own — never both, never neither.

use super::{FieldError, MemoryLimit, SourceCode, TestcaseSet, TimeLimit};
use api_contract::SubmitRequest;
use messaging::Limits;
use messaging::language::LanguageTable;

/// What a submission is judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgedAgainst {
    /// A problem's current test cases and limits (looked up when the submission is stored).
    Problem(i64),
    Inline {
        limits: Limits,
        testcases: TestcaseSet,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubmission {
    pub language: String,
    pub source: SourceCode,
    pub against: JudgedAgainst,
    pub run_all_testcases: bool,
}

impl NewSubmission {
    /// Every broken rule, each with its field, or the submission.
    pub fn parse(
        request: SubmitRequest,
        languages: &LanguageTable,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if languages.get(&request.language).is_none() {
            let known: Vec<&str> = languages.ids().collect();
            errors.push(FieldError::new(
                "language",
                format!(
                    "unknown language `{}`; use one of: {}",
                    request.language,
                    known.join(", ")
                ),
            ));
        }
        let source = SourceCode::parse(request.source).map_err(|e| errors.push(e));
        let against = match (request.problem_id, request.testcases) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "testcases",
                    "give either problem_id or testcases, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "problem_id",
                    "give either problem_id or inline testcases",
                ));
                None
            }
            (Some(problem_id), None) => {
                for (field, given) in [
                    ("time_limit_ms", request.time_limit_ms.is_some()),
                    ("memory_limit_mb", request.memory_limit_mb.is_some()),
                ] {
                    if given {
                        errors.push(FieldError::new(
                            field,
                            "the problem's own limits apply; give limits only with inline testcases",
                        ));
                    }
                }
                Some(JudgedAgainst::Problem(problem_id))
            }
            (None, Some(testcases)) => {
                let time =
                    required("time_limit_ms", request.time_limit_ms, &mut errors).and_then(|ms| {
                        TimeLimit::parse("time_limit_ms", ms)
                            .map_err(|e| errors.push(e))
                            .ok()
                    });
                let memory = required("memory_limit_mb", request.memory_limit_mb, &mut errors)
                    .and_then(|mb| {
                        MemoryLimit::parse("memory_limit_mb", mb)
                            .map_err(|e| errors.push(e))
                            .ok()
                    });
                let set = TestcaseSet::parse("testcases", testcases).map_err(|e| errors.push(e));
                match (time, memory, set) {
                    (Some(time), Some(memory), Ok(testcases)) => Some(JudgedAgainst::Inline {
                        limits: Limits {
                            time_limit_ms: time.ms(),
                            memory_limit_mb: memory.mb(),
                        },
                        testcases,
                    }),
                    _ => None,
                }
            }
        };
        match (source, against) {
            (Ok(source), Some(against)) if errors.is_empty() => Ok(NewSubmission {
                language: request.language,
                source,
                against,
                run_all_testcases: request.run_all_testcases,
            }),
            _ => Err(errors),
        }
    }
}

fn required(field: &str, value: Option<i64>, errors: &mut Vec<FieldError>) -> Option<i64> {
    if value.is_none() {
        errors.push(FieldError::new(field, "is required with inline testcases"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::Testcase;

    fn request() -> SubmitRequest {
        SubmitRequest::for_problem(1, "c", "int main(){}")
    }

    fn fields(result: Result<NewSubmission, Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_problem_or_inline_test_cases_never_both_nor_neither() {
        let languages = LanguageTable::builtin().expect("the built-in table parses");
        let parsed = NewSubmission::parse(request(), &languages);
        assert_eq!(
            parsed.map(|s| s.against).ok(),
            Some(JudgedAgainst::Problem(1))
        );

        let mut both = request();
        both.testcases = Some(vec![Testcase {
            input: String::new(),
            output: String::new(),
        }]);
        assert_eq!(
            fields(NewSubmission::parse(both, &languages)),
            ["testcases"]
        );

        let mut neither = request();
        neither.problem_id = None;
        assert_eq!(
            fields(NewSubmission::parse(neither, &languages)),
            ["problem_id"]
        );

        let mut limits_with_problem = request();
        limits_with_problem.time_limit_ms = Some(1000);
        assert_eq!(
            fields(NewSubmission::parse(limits_with_problem, &languages)),
            ["time_limit_ms"]
        );
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let languages = LanguageTable::builtin().expect("the built-in table parses");
        let mut bad = request();
        bad.language = "rust".into();
        bad.source = " ".into();
        bad.problem_id = None;
        bad.testcases = Some(Vec::new());
        bad.memory_limit_mb = Some(4096);
        assert_eq!(
            fields(NewSubmission::parse(bad, &languages)),
            [
                "language",
                "source",
                "time_limit_ms",
                "memory_limit_mb",
                "testcases"
            ]
        );
    }
}
