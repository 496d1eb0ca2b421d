//! Fuzz target; the check itself is `targets::result_message` (fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::result_message(data));
