//! What each fuzz target checks, shared by the libFuzzer targets (fuzz/fuzz_targets/) and the
//! corpus replay under `cargo test` (tests/tests/fuzz_corpus.rs).

use messaging::{ResultMessage, SubmissionMessage};

/// The worker's decoder of `judge.submission` bodies: never panics, and whatever it accepts
/// survives a round trip.
pub fn submission_message(data: &[u8]) {
    if let Ok(message) = SubmissionMessage::decode(data) {
        let again = serde_json::to_vec(&message).expect("a decoded message encodes");
        assert_eq!(SubmissionMessage::decode(&again).ok(), Some(message));
    }
}

/// The API's decoder of `judge.result` bodies: never panics, and whatever it accepts survives
/// a round trip.
pub fn result_message(data: &[u8]) {
    if let Ok(message) = ResultMessage::decode(data) {
        let again = serde_json::to_vec(&message).expect("a decoded message encodes");
        assert_eq!(ResultMessage::decode(&again).ok(), Some(message));
    }
}
