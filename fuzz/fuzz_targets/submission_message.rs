//! Fuzz target; the check itself is `targets::submission_message` (fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::submission_message(data));
