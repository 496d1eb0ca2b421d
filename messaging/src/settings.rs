//! The settings both services take the same way, so that an operator sets them once for both:
//! the broker, the deployment's queue prefix, the language table, and secrets read from a
//! variable or from a file (container secrets).

use std::path::{Path, PathBuf};

/// What client-api and judge-worker must agree on (`#[command(flatten)]` into each service's
/// configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Prefix of every exchange and queue name (tests set a unique one).
    #[arg(long, env = "QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,

    /// Language table to use instead of the built-in one.
    #[arg(long, env = "LANGUAGES_FILE")]
    pub languages_file: Option<PathBuf>,
}

/// The token judges present on the API's internal test-case endpoint: the API checks it, the
/// worker sends it.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerTokenArgs {
    /// Worker token: reads test cases from the API's internal endpoint.
    #[arg(long, env = "WORKER_TOKEN", hide_env_values = true)]
    pub worker_token: Option<String>,

    /// File holding the worker token (for container secrets).
    #[arg(long, env = "WORKER_TOKEN_FILE")]
    pub worker_token_file: Option<PathBuf>,
}

impl WorkerTokenArgs {
    /// The token from `WORKER_TOKEN_FILE` or `WORKER_TOKEN` (trimmed; `None` when unset).
    pub fn read(&self) -> Result<Option<String>, SecretFileError> {
        read_secret(
            "WORKER_TOKEN",
            self.worker_token.as_deref(),
            self.worker_token_file.as_deref(),
        )
    }
}

/// A secret's file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {variable} from {path}: {source}")]
pub struct SecretFileError {
    /// The variable the file stands for (`WORKER_TOKEN` for `WORKER_TOKEN_FILE`).
    pub variable: &'static str,
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// A secret from `file` if one is given, else `value`; trimmed, and `None` when empty.
pub fn read_secret(
    variable: &'static str,
    value: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, SecretFileError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| SecretFileError {
            variable,
            path: path.display().to_string(),
            source,
        })?;
        return Ok(Some(text.trim().to_string()).filter(|s| !s.is_empty()));
    }
    Ok(value
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_wins_over_the_value_and_blank_is_none() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, " from-file \n")?;
        let read = read_secret("X", Some("ignored"), Some(&dir));
        std::fs::remove_file(&dir)?;
        assert_eq!(read?.as_deref(), Some("from-file"));
        assert_eq!(read_secret("X", Some(" v "), None)?.as_deref(), Some("v"));
        assert_eq!(read_secret("X", Some("  "), None)?, None);
        let missing = read_secret("X", None, Some(Path::new("/nonexistent/x")));
        assert!(missing.is_err_and(|e| {
            e.to_string()
                .starts_with("cannot read X from /nonexistent/x")
        }));
        Ok(())
    }
}
