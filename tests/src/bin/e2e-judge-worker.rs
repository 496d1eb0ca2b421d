//! judge-worker, built inside the test crate so tests can find it (`CARGO_BIN_EXE_*`).

fn main() -> anyhow::Result<()> {
    judge_worker::main_entry()
}
