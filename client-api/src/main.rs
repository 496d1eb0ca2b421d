fn main() -> anyhow::Result<()> {
    client_api::main_entry()
}
