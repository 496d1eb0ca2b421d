//! The HTTP-body fuzz check, shared by fuzz/fuzz_targets/submit_body.rs and the corpus replay
//! under `cargo test` (tests/tests/fuzz_corpus.rs). Separate from targets.rs because it needs
//! the client-api crate.

use client_api::domain::{MemoryLimit, SourceCode, TestcaseSet, TimeLimit};
use client_api::routes::{CreateProblem, SubmitRequest};

/// HTTP request bodies as the API decodes them (`serde_json`, as axum's `Json` does), then the
/// domain checks the handlers apply: never a panic, whatever the bytes.
pub fn submit_body(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<SubmitRequest>(data) {
        let _ = SourceCode::parse(request.source);
        if let Some(ms) = request.time_limit_ms {
            let _ = TimeLimit::parse("time_limit_ms", ms);
        }
        if let Some(mb) = request.memory_limit_mb {
            let _ = MemoryLimit::parse("memory_limit_mb", mb);
        }
        if let Some(cases) = request.testcases {
            let _ = TestcaseSet::parse("testcases", cases);
        }
    }
    if let Ok(problem) = serde_json::from_slice::<CreateProblem>(data) {
        let _ = TimeLimit::parse("time_limit_ms", problem.time_limit_ms);
        let _ = MemoryLimit::parse("memory_limit_mb", problem.memory_limit_mb);
        let _ = TestcaseSet::parse("testcases", problem.testcases);
    }
}
