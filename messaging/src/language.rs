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
    fn a_row_without_its_required_fields_is_invalid() {
        assert!(LanguageTable::parse("[[language]]\nid='x'").is_err());
    }
}
