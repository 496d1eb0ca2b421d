//! Fuzz target; the check itself is `http_targets::submit_body` (fuzz/http_targets.rs).
#![no_main]

#[path = "../http_targets.rs"]
mod http_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_targets::submit_body(data));
