//! The built-in workload: a small problem set (created through the API at start) and programs
//! in every language with known verdicts, planned into a deterministic sequence of
//! submissions by the [`Mix`].
//!
//! - [`ProblemKey`] / [`ProblemSpec`]: the problems, their limits and test cases;
//! - [`Program`]: one source in one language, for one problem, with the verdict it must get;
//! - [`Plan`]: which program submission *i* sends.

mod programs;

use crate::mix::{Kind, KindPicker, Mix};
use messaging::contract::{Limits, Testcase};
use std::collections::HashMap;

/// The problems of the built-in set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKey {
    /// A+B, three test cases.
    APlusB,
    /// The sum of n numbers.
    Sum,
    /// The largest of n numbers.
    Max,
    /// A+B with the smallest limits the API accepts, for the limit verdicts.
    Tight,
}

impl ProblemKey {
    pub const ALL: [ProblemKey; 4] = [
        ProblemKey::APlusB,
        ProblemKey::Sum,
        ProblemKey::Max,
        ProblemKey::Tight,
    ];

    /// Position in [`ProblemKey::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn spec(self) -> ProblemSpec {
        match self {
            ProblemKey::APlusB => ProblemSpec {
                title: "A+B",
                limits: GENEROUS,
                testcases: &[("1 2\n", "3\n"), ("40 2\n", "42\n"), ("-7 7\n", "0\n")],
            },
            ProblemKey::Sum => ProblemSpec {
                title: "Sum of N",
                limits: GENEROUS,
                testcases: &[
                    ("3\n1 2 3\n", "6\n"),
                    ("5\n10 20 30 40 50\n", "150\n"),
                    ("1\n-5\n", "-5\n"),
                ],
            },
            ProblemKey::Max => ProblemSpec {
                title: "Maximum of N",
                limits: GENEROUS,
                testcases: &[
                    ("3\n1 9 3\n", "9\n"),
                    ("4\n-4 -2 -8 -3\n", "-2\n"),
                    ("1\n7\n", "7\n"),
                ],
            },
            ProblemKey::Tight => ProblemSpec {
                title: "A+B (tight limits)",
                limits: TIGHT,
                testcases: &[("1 2\n", "3\n")],
            },
        }
    }
}

/// Limits for problems that programs solve: plenty, the machine is small and busy.
const GENEROUS: Limits = Limits {
    time_limit_ms: 2000,
    memory_limit_mb: 256,
};

/// Limits for time and memory limit verdicts: a busy loop burns `time_limit_ms` of CPU
/// (scaled per language: Java 2×+1 s, Python 3×+1 s), so this is the API's minimum.
const TIGHT: Limits = Limits {
    time_limit_ms: 100,
    memory_limit_mb: 64,
};

/// A problem as the API creates it.
#[derive(Debug, Clone, Copy)]
pub struct ProblemSpec {
    pub title: &'static str,
    pub limits: Limits,
    /// (input, expected output) pairs.
    pub testcases: &'static [(&'static str, &'static str)],
}

impl ProblemSpec {
    pub fn testcases(&self) -> Vec<Testcase> {
        self.testcases
            .iter()
            .map(|(input, output)| Testcase {
                input: (*input).to_string(),
                output: (*output).to_string(),
            })
            .collect()
    }
}

/// One program with the verdict it must get.
#[derive(Debug, Clone)]
pub struct Program {
    pub kind: Kind,
    /// A language id of the API (`c`, `cpp`, `java`, `python3`).
    pub language: &'static str,
    pub problem: ProblemKey,
    pub source: &'static str,
}

/// The languages every program set covers.
pub const LANGUAGES: [&str; 4] = ["c", "cpp", "java", "python3"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("unknown language `{0}`; use c, cpp, java or python3")]
    UnknownLanguage(String),
    #[error("no program of kind `{kind}` in the languages {languages}")]
    NoProgram { kind: Kind, languages: String },
}

/// One planned submission.
#[derive(Debug, Clone)]
pub struct PlannedSubmission {
    /// 0-based sequence number; submission `index` is scheduled at `t0 + index / rate`.
    pub index: u64,
    pub program: Program,
}

impl PlannedSubmission {
    /// The program's source; with `unique`, followed by a comment naming this submission, so
    /// that no two submissions of a run share a source (every compile is a compile-cache miss,
    /// as for contestants' real submissions, and the numbers show the compilers themselves).
    pub fn source(&self, unique: bool) -> std::borrow::Cow<'static, str> {
        if !unique {
            return std::borrow::Cow::Borrowed(self.program.source);
        }
        let comment = if self.program.language == "python3" {
            "#"
        } else {
            "//"
        };
        std::borrow::Cow::Owned(format!(
            "{}\n{comment} loadtest submission {} of process {}\n",
            self.program.source,
            self.index,
            std::process::id()
        ))
    }
}

/// The deterministic sequence of submissions for a mix and a set of languages: the kind
/// comes from the mix; each kind takes its languages in turn (starting where the sequence is
/// when the kind first comes up, so a short run covers every language) and each (kind,
/// language) cycles through its programs (the accepted ones through the problems).
#[derive(Debug, Clone)]
pub struct Plan {
    picker: KindPicker,
    /// The programs in the chosen languages.
    programs: Vec<Program>,
    /// The chosen languages, in turn order.
    languages: Vec<&'static str>,
    /// Position in `languages` where each kind looks for its next language.
    language_turns: HashMap<Kind, usize>,
    /// How many programs of each (kind, language) were picked so far.
    picked: HashMap<(Kind, &'static str), usize>,
    next_index: u64,
}

impl Plan {
    /// `languages` empty means all of them.
    pub fn new(mix: &Mix, languages: &[String]) -> Result<Plan, PlanError> {
        if let Some(unknown) = languages.iter().find(|l| !LANGUAGES.contains(&l.as_str())) {
            return Err(PlanError::UnknownLanguage(unknown.clone()));
        }
        let chosen: Vec<&'static str> = LANGUAGES
            .into_iter()
            .filter(|l| languages.is_empty() || languages.iter().any(|w| w == l))
            .collect();
        let programs: Vec<Program> = programs::all()
            .into_iter()
            .filter(|p| chosen.contains(&p.language))
            .collect();
        if let Some(kind) = mix.kinds().find(|k| !programs.iter().any(|p| p.kind == *k)) {
            return Err(PlanError::NoProgram {
                kind,
                languages: languages.join(","),
            });
        }
        Ok(Plan {
            picker: mix.picker(),
            programs,
            languages: chosen,
            language_turns: HashMap::new(),
            picked: HashMap::new(),
            next_index: 0,
        })
    }

    /// The languages of the plan's programs.
    pub fn languages(&self) -> Vec<&'static str> {
        self.languages.clone()
    }

    /// The problems the plan's programs use (to create only those).
    pub fn problems(&self) -> Vec<ProblemKey> {
        let mut keys: Vec<ProblemKey> = self.programs.iter().map(|p| p.problem).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn programs_of(&self, kind: Kind, language: &str) -> Vec<&Program> {
        self.programs
            .iter()
            .filter(|p| p.kind == kind && p.language == language)
            .collect()
    }
}

impl Iterator for Plan {
    type Item = PlannedSubmission;

    fn next(&mut self) -> Option<PlannedSubmission> {
        let kind = self.picker.next_kind();
        let count = self.languages.len().max(1);
        let start = *self
            .language_turns
            .entry(kind)
            .or_insert(self.next_index as usize % count);
        let position = (start..start + count)
            .find(|p| !self.programs_of(kind, self.languages[p % count]).is_empty())?;
        let language = self.languages[position % count];
        self.language_turns.insert(kind, (position + 1) % count);
        let picked = self.picked.entry((kind, language)).or_insert(0);
        let turn = *picked;
        *picked += 1;
        let candidates = self.programs_of(kind, language);
        let program = candidates.get(turn % candidates.len())?;
        let program = (*program).clone();
        let index = self.next_index;
        self.next_index += 1;
        Some(PlannedSubmission { index, program })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_programs_in_its_languages() {
        let plan = Plan::new(&Mix::default(), &[]).unwrap();
        for kind in Kind::ALL {
            let languages: Vec<&str> = plan
                .programs
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.language)
                .collect();
            let expected: &[&str] = if kind == Kind::Mle {
                &["c", "cpp", "python3"]
            } else {
                &LANGUAGES
            };
            for language in expected {
                assert!(languages.contains(language), "{kind} lacks {language}");
            }
        }
        assert_eq!(plan.problems(), ProblemKey::ALL);
        // Accepted programs cycle through the problems within each language.
        let accepted: Vec<ProblemKey> = Plan::new(&"accepted=1".parse().unwrap(), &[])
            .unwrap()
            .take(12)
            .filter(|s| s.program.language == "c")
            .map(|s| s.program.problem)
            .collect();
        assert_eq!(
            accepted,
            [ProblemKey::APlusB, ProblemKey::Sum, ProblemKey::Max]
        );
    }

    #[test]
    fn a_short_even_mix_covers_every_kind_and_language() {
        let mix: Mix = "accepted=1,wrong=1,tle=1,mle=1,re=1,ce=1".parse().unwrap();
        let six: Vec<PlannedSubmission> = Plan::new(&mix, &[]).unwrap().take(6).collect();
        let mut languages: Vec<&str> = six.iter().map(|s| s.program.language).collect();
        languages.sort();
        languages.dedup();
        assert_eq!(languages, LANGUAGES);
        assert_eq!(
            six.iter().map(|s| s.index).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn every_kind_rotates_through_its_languages() {
        let plan = Plan::new(&Mix::default(), &[]).unwrap();
        let wrong: Vec<&str> = plan
            .take(400)
            .filter(|s| s.program.kind == Kind::Wrong)
            .map(|s| s.program.language)
            .collect();
        assert_eq!(wrong.len(), 20);
        for language in LANGUAGES {
            assert_eq!(wrong.iter().filter(|l| **l == language).count(), 5);
        }
    }

    #[test]
    fn languages_can_be_restricted() {
        let plan = Plan::new(&"accepted=1,re=1".parse().unwrap(), &["c".into()]).unwrap();
        assert!(plan.take(20).all(|s| s.program.language == "c"));
        assert_eq!(
            Plan::new(&"mle=1".parse().unwrap(), &["java".into()]).err(),
            Some(PlanError::NoProgram {
                kind: Kind::Mle,
                languages: "java".into()
            })
        );
        assert!(matches!(
            Plan::new(&Mix::default(), &["rust".into()]),
            Err(PlanError::UnknownLanguage(_))
        ));
    }
}
