//! The language table (`languages.toml`): data, not code.
//!
//! It lives with the contract because both services read the same rows: the API to validate
//! `language` and list languages, the worker to compile and run. Here are only the rows and
//! what makes a table valid; what a row means for a run (limit scaling, the `{memory_mb}`
//! placeholder) is the judge's rule and lives in the judge (`judge-worker/src/judge/spec.rs`).
//! The file at the repository root is compiled in as the default; `LANGUAGES_FILE` points at
//! another one.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The table shipped with this build.
pub const BUILTIN_TABLE: &str = include_str!("../../languages.toml");

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// Stable id used in the API and in messages (`c`, `cpp`, `java`, `python3`).
    pub id: String,
    /// Human-readable name with the toolchain version.
    pub name: String,
    /// File name the source is written to in the work dir.
    pub source_file: String,
    /// Compile argv; empty for languages that need no compile step.
    #[serde(default)]
    pub compile: Vec<String>,
    /// Run argv; the judge replaces `{memory_mb}` with the user's memory limit in MiB, unscaled.
    pub run: Vec<String>,
    /// The whole environment of compile and run (`KEY=VALUE`); nothing is inherited.
    #[serde(default)]
    pub env: Vec<String>,
    /// A test case's CPU-time limit is `user limit × time_factor + time_extra_ms`.
    pub time_factor: f64,
    pub time_extra_ms: u64,
    /// A test case's memory limit is `user limit × memory_factor + memory_extra_mb`.
    pub memory_factor: f64,
    pub memory_extra_mb: u64,
    /// Writable space of the compile (its work dir, and its `/tmp` besides), in MiB.
    #[serde(default = "default_build_disk_mb")]
    pub build_disk_mb: u64,
    #[serde(default = "default_build_disk_inodes")]
    pub build_disk_inodes: u64,
    /// Fresh writable space of each test case (work dir and `/tmp` together), in MiB.
    #[serde(default = "default_run_disk_mb")]
    pub run_disk_mb: u64,
    #[serde(default = "default_run_disk_inodes")]
    pub run_disk_inodes: u64,
    /// Headers (as `#include <...>` names them) the worker precompiles once per toolchain
    /// with exactly this row's compile flags and puts first on every compile's include path;
    /// a source that includes one gets the precompiled form, any other source is unaffected.
    /// GCC only (`.gch`).
    #[serde(default)]
    pub precompiled_headers: Vec<String>,
    /// A class-data-sharing archive of the compiler's own classes (javac), made once per
    /// toolchain by compiling `sample`, so that compiles start warm.
    #[serde(default)]
    pub compiler_class_archive: Option<ClassArchive>,
}

/// How a JVM-based compiler makes and loads a class-data-sharing archive. `{archive}` in
/// either flag is the archive's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassArchive {
    /// Added to the compile argv to write the archive at exit (e.g.
    /// `-J-XX:ArchiveClassesAtExit={archive}`).
    pub create: String,
    /// Added to every compile's argv to start from it (e.g. `-J-XX:SharedArchiveFile={archive}`).
    pub load: String,
    /// A source (written as `source_file`) whose compile loads the classes worth archiving.
    pub sample: String,
}

fn default_build_disk_mb() -> u64 {
    256
}

fn default_build_disk_inodes() -> u64 {
    4096
}

fn default_run_disk_mb() -> u64 {
    32
}

fn default_run_disk_inodes() -> u64 {
    1024
}

/// All languages, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageTable {
    #[serde(rename = "language")]
    pub languages: Vec<Language>,
}

#[derive(Debug, thiserror::Error)]
pub enum LanguageTableError {
    #[error("cannot read language table {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("language table is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("language table is not valid: {0}")]
    Invalid(String),
}

impl LanguageTable {
    pub fn builtin() -> Result<Self, LanguageTableError> {
        Self::parse(BUILTIN_TABLE)
    }

    /// The table at `path`, or the built-in one when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, LanguageTableError> {
        match path {
            None => Self::builtin(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| LanguageTableError::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                Self::parse(&text)
            }
        }
    }

    pub fn parse(text: &str) -> Result<Self, LanguageTableError> {
        let table: LanguageTable = toml::from_str(text)?;
        let mut seen = std::collections::HashSet::new();
        for lang in &table.languages {
            if !seen.insert(lang.id.as_str()) {
                return Err(LanguageTableError::Invalid(format!(
                    "language id `{}` appears twice",
                    lang.id
                )));
            }
            if lang.run.is_empty() {
                return Err(LanguageTableError::Invalid(format!(
                    "language `{}` has an empty run command",
                    lang.id
                )));
            }
            if [
                lang.build_disk_mb,
                lang.build_disk_inodes,
                lang.run_disk_mb,
                lang.run_disk_inodes,
            ]
            .contains(&0)
            {
                return Err(LanguageTableError::Invalid(format!(
                    "language `{}`: disk quotas must be positive",
                    lang.id
                )));
            }
            for (name, factor) in [
                ("time_factor", lang.time_factor),
                ("memory_factor", lang.memory_factor),
            ] {
                // A NaN or negative factor would make every limit nonsense (`as` turns NaN
                // into 0, a zero CPU limit).
                if !(factor.is_finite() && factor > 0.0) {
                    return Err(LanguageTableError::Invalid(format!(
                        "language `{}`: {name} must be a positive number, not {factor}",
                        lang.id
                    )));
                }
            }
            for header in &lang.precompiled_headers {
                let plain = !header.is_empty()
                    && !header.starts_with('/')
                    && header
                        .split('/')
                        .all(|part| !matches!(part, "" | "." | ".."))
                    && header.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
                if !plain || lang.compile.is_empty() {
                    return Err(LanguageTableError::Invalid(format!(
                        "language `{}`: precompiled header {header:?} must be a relative include \
                         name (like `bits/stdc++.h`) of a language with a compile step",
                        lang.id
                    )));
                }
            }
            if let Some(archive) = &lang.compiler_class_archive
                && (lang.compile.is_empty()
                    || !archive.create.contains("{archive}")
                    || !archive.load.contains("{archive}")
                    || archive.sample.trim().is_empty())
            {
                return Err(LanguageTableError::Invalid(format!(
                    "language `{}`: compiler_class_archive needs a compile step, `{{archive}}` in \
                     both flags and a sample source",
                    lang.id
                )));
            }
            if lang.source_file.contains('/') || lang.source_file.is_empty() {
                return Err(LanguageTableError::Invalid(format!(
                    "language `{}`: source_file must be a plain file name",
                    lang.id
                )));
            }
        }
        Ok(table)
    }

    pub fn get(&self, id: &str) -> Option<&Language> {
        self.languages.iter().find(|l| l.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(|l| l.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_has_the_four_languages() {
        let table = LanguageTable::builtin().unwrap();
        let ids: Vec<_> = table.ids().collect();
        assert_eq!(ids, ["c", "cpp", "java", "python3"]);
        for lang in &table.languages {
            let exe = lang.run.first().unwrap();
            assert!(exe.starts_with('/') || exe.starts_with("./"), "{exe}");
        }
    }

    #[test]
    fn warm_up_fields_are_checked() {
        let row = |extra: &str| {
            format!(
                "[[language]]\nid='x'\nname='X'\nsource_file='a.cpp'\ncompile=['/usr/bin/g++', 'a.cpp']\n\
                 run=['./a']\ntime_factor=1.0\ntime_extra_ms=0\nmemory_factor=1.0\nmemory_extra_mb=0\n{extra}"
            )
        };
        let table = LanguageTable::parse(&row("precompiled_headers = ['bits/stdc++.h']")).unwrap();
        assert_eq!(table.languages[0].precompiled_headers, ["bits/stdc++.h"]);
        for bad in ["/usr/include/x.h", "../x.h", "a//b.h", "", "a b.h"] {
            let err = LanguageTable::parse(&row(&format!("precompiled_headers = [{bad:?}]")));
            assert!(err.is_err(), "{bad:?} accepted");
        }
        let archive = "[language.compiler_class_archive]\ncreate='-J-XX:ArchiveClassesAtExit={archive}'\n\
                       load='-J-XX:SharedArchiveFile={archive}'\nsample='class Main {}'";
        assert!(LanguageTable::parse(&row(archive)).is_ok());
        assert!(
            LanguageTable::parse(&row(&archive
                .replace("At Exit", "")
                .replace("ArchiveClassesAtExit={archive}", "x")))
            .is_err()
        );
        let builtin = LanguageTable::builtin().unwrap();
        assert_eq!(
            builtin.get("cpp").unwrap().precompiled_headers,
            ["bits/stdc++.h"]
        );
        assert!(
            builtin
                .get("java")
                .unwrap()
                .compiler_class_archive
                .is_some()
        );
    }

    #[test]
    fn limit_factors_must_be_positive_numbers() {
        let row = |time: &str, memory: &str| {
            format!(
                "[[language]]\nid='x'\nname='X'\nsource_file='a.py'\nrun=['/usr/bin/python3']\n\
                 time_factor={time}\ntime_extra_ms=0\nmemory_factor={memory}\nmemory_extra_mb=0\n"
            )
        };
        assert!(LanguageTable::parse(&row("1.5", "1.0")).is_ok());
        for (time, memory) in [
            ("nan", "1.0"),
            ("-1.0", "1.0"),
            ("0.0", "1.0"),
            ("1.0", "inf"),
            ("1.0", "-0.5"),
        ] {
            let err = LanguageTable::parse(&row(time, memory))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("must be a positive number"),
                "{time} {memory}: {err}"
            );
        }
    }

    #[test]
    fn a_row_without_its_required_fields_is_invalid() {
        assert!(LanguageTable::parse("[[language]]\nid='x'").is_err());
    }
}
