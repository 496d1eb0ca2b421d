//! The fuzz targets' checks (fuzz/targets.rs) under `cargo test`: every input in the corpus
//! (seeds and any crash a fuzzing run found) plus a deterministic batch of mutations of them.
//! Coverage-guided runs use cargo fuzz (fuzz/Cargo.toml); this keeps their findings fixed.

#[path = "../../fuzz/targets.rs"]
mod targets;

#[path = "../../fuzz/http_targets.rs"]
mod http_targets;

use std::path::PathBuf;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"null",
    b"true",
    b"\"\\u0000\"",
    b"\xf0\x9f\x92\xa9",
    b"\xc3",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, piece.iter().copied());
            }
            2 if !data.is_empty() => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let i = rng.below(data.len() + 1);
                data.insert(i.min(data.len()), rng.next() as u8);
            }
        }
    }
    data
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "corpus {target} is empty");
    inputs
}

fn run(target: &str, check: fn(&[u8]), mutations: usize) {
    let seeds = corpus(target);
    for input in &seeds {
        check(input);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..mutations {
        let input = mutate(&mut rng, &seeds);
        check(&input);
    }
}

#[test]
fn submission_message_decoder() {
    run("submission_message", targets::submission_message, 20_000);
}

#[test]
fn result_message_decoder() {
    run("result_message", targets::result_message, 20_000);
}

#[test]
fn http_request_bodies() {
    run("submit_body", http_targets::submit_body, 20_000);
}

#[test]
fn the_seeds_are_valid_so_mutations_start_from_real_messages() {
    for seed in corpus("submission_message") {
        assert!(messaging::SubmissionMessage::decode(&seed).is_ok());
    }
    for seed in corpus("result_message") {
        assert!(messaging::ResultMessage::decode(&seed).is_ok());
    }
}
