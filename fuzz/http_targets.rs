//! The HTTP-body fuzz check, shared by fuzz/fuzz_targets/submit_body.rs and the corpus replay
//! under `cargo test` (tests/tests/fuzz_corpus.rs). Separate from targets.rs because it needs
//! the client-api crate.

use api_contract::{CreateProblem, SubmitRequest};
use client_api::domain::{NewProblem, NewSubmission};
use messaging::language::LanguageTable;

/// HTTP request bodies as the API decodes them (`serde_json`, as axum's `Json` does), then the
/// domain parsing the handlers apply: never a panic, whatever the bytes.
pub fn submit_body(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<SubmitRequest>(data)
        && let Ok(languages) = LanguageTable::builtin()
    {
        let _ = NewSubmission::parse(request, &languages);
    }
    if let Ok(problem) = serde_json::from_slice::<CreateProblem>(data) {
        let _ = NewProblem::parse(problem);
    }
}
