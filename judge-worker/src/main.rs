fn main() -> anyhow::Result<()> {
    judge_worker::main_entry()
}
