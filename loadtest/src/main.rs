//! `loadtest`: see the library ([`loadtest`]) for what it does and `loadtest --help` for how.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    loadtest::cli::main_entry().await
}
