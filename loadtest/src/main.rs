//! Open-loop load generator for the grading pipeline. Not built yet: see the load-test issue.

fn main() {
    eprintln!("loadtest: not implemented yet (see the load generator issue)");
    std::process::exit(2);
}
