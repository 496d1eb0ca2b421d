//! A non-empty, bounded set of test cases.

use super::FieldError;
use messaging::Testcase;

pub const MAX_TESTCASES: usize = 200;
/// Total bytes of inputs and outputs; keeps a message with inline test cases well below the
/// broker's frame and message limits.
pub const MAX_TESTCASE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestcaseSet(Vec<Testcase>);

impl TestcaseSet {
    pub fn parse(field: &str, testcases: Vec<Testcase>) -> Result<Self, FieldError> {
        if testcases.is_empty() {
            return Err(FieldError::new(
                field,
                "must contain at least one test case",
            ));
        }
        if testcases.len() > MAX_TESTCASES {
            return Err(FieldError::new(
                field,
                format!(
                    "has {} test cases; the limit is {MAX_TESTCASES}",
                    testcases.len()
                ),
            ));
        }
        let total: usize = testcases
            .iter()
            .map(|t| t.input.len() + t.output.len())
            .sum();
        if total > MAX_TESTCASE_BYTES {
            return Err(FieldError::new(
                field,
                format!("hold {total} bytes; the limit is {MAX_TESTCASE_BYTES} bytes"),
            ));
        }
        if let Some(i) = testcases
            .iter()
            .position(|t| t.input.contains('\0') || t.output.contains('\0'))
        {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "must not contain NUL bytes",
            ));
        }
        Ok(TestcaseSet(testcases))
    }

    pub fn into_inner(self) -> Vec<Testcase> {
        self.0
    }

    pub fn as_slice(&self) -> &[Testcase] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(i: &str, o: &str) -> Testcase {
        Testcase {
            input: i.into(),
            output: o.into(),
        }
    }

    #[test]
    fn bounds() {
        assert!(TestcaseSet::parse("testcases", vec![]).is_err());
        assert_eq!(
            TestcaseSet::parse("testcases", vec![case("1", "1")])
                .unwrap()
                .as_slice()
                .len(),
            1
        );
        let err =
            TestcaseSet::parse("testcases", vec![case("1", "1"), case("\0", "")]).unwrap_err();
        assert_eq!(err.field, "testcases[1]");
        let many = vec![case("", ""); MAX_TESTCASES + 1];
        assert!(TestcaseSet::parse("testcases", many).is_err());
    }
}
