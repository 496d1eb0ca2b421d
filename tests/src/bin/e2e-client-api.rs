//! client-api, built inside the test crate so tests can find it (`CARGO_BIN_EXE_*`).

fn main() -> anyhow::Result<()> {
    client_api::main_entry()
}
