//! Both mechanisms reach the same [`Termination`] for the same behaviour: one C program
//! (`tests/programs/conform.c`, one behaviour per argument) compiled once per mechanism, each
//! case run under both, each result compared with what it must be.
//!
//! The namespace mechanism needs root (as CI runs); the plain one runs anywhere. Cases the
//! plain runner cannot bound safely (an unbounded fork bomb as root: `RLIMIT_NPROC` does not
//! apply to root) are bounded by their CPU time instead.

mod common;

use std::time::Duration;

use common::*;
use sandbox::plain::PlainProcess;
use sandbox::{Limits, Sandbox, Stdin, Termination, Workspace};

/// A mechanism with the conformance program built in a workspace of its own.
struct Mechanism {
    sandbox: Box<dyn Sandbox>,
    workspace: Workspace,
    _root: Option<TempDir>,
}

fn mechanisms() -> Vec<Mechanism> {
    let plain_root = TempDir::new("conform-plain");
    let plain: Box<dyn Sandbox> = Box::new(PlainProcess::new(plain_root.path()));
    let namespaces: Box<dyn Sandbox> = Box::new(sandbox(1));
    [(plain, Some(plain_root)), (namespaces, None)]
        .into_iter()
        .map(|(sandbox, root)| {
            let workspace = sandbox.workspace(0, BUILD_QUOTA).unwrap();
            compile_ok(sandbox.as_ref(), &workspace, &program("conform.c"));
            Mechanism {
                sandbox,
                workspace,
                _root: root,
            }
        })
        .collect()
}

fn limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_millis(1500),
        memory_bytes: 128 << 20,
        processes: 32,
        output_bytes: 64 << 10,
        file_size_bytes: 1 << 20,
        open_files: 64,
        stack_bytes: 8 << 20,
        disk: RUN_DISK,
    }
}

/// Run `mode` under every mechanism; each must end as `want`.
fn case(mechanisms: &[Mechanism], args: &[&str], stdin: Stdin, want: Termination) -> Vec<String> {
    let mut argv = vec!["./main"];
    argv.extend_from_slice(args);
    let mut outputs = Vec::new();
    for m in mechanisms {
        let mut s = spec(&argv, limits());
        s.stdin = stdin.clone();
        let r = m
            .sandbox
            .run(&m.workspace, &s)
            .unwrap_or_else(|e| panic!("{} {args:?}: {e}", m.sandbox.kind()));
        assert_eq!(
            r.termination,
            want,
            "{} {args:?}: {}",
            m.sandbox.kind(),
            show(&r)
        );
        outputs.push(stdout(&r));
    }
    outputs
}

#[test]
fn terminations_agree() {
    let m = mechanisms();
    use Termination::*;
    for (args, want) in [
        (&["exit0"][..], Exited(0)),
        (&["exit3"], Exited(3)),
        (&["exit255"], Exited(255)),
        (&["segv"], Signaled(libc::SIGSEGV)),
        (&["abort"], Signaled(libc::SIGABRT)),
        (&["term"], Signaled(libc::SIGTERM)),
        (&["spin"], CpuTimeLimit),
        (&["spin-catching-xcpu"], CpuTimeLimit),
        (&["spin-in-children"], CpuTimeLimit),
        (&["fork-bomb"], CpuTimeLimit),
        (&["sleep"], WallTimeLimit),
        (&["alloc"], MemoryLimit),
        (&["flood"], OutputLimit),
        (&["flood-stderr"], OutputLimit),
        (&["big-file"], FileSizeLimit),
    ] {
        case(&m, args, Stdin::Null, want);
    }
}

#[test]
fn output_at_the_cap_and_stdin_agree() {
    let m = mechanisms();
    let cap = limits().output_bytes.to_string();
    let out = case(&m, &["exactly", &cap], Stdin::Null, Termination::Exited(0));
    assert!(out.iter().all(|o| o.len() as u64 == limits().output_bytes));
    // Input just below the output cap, echoed back.
    let input: Vec<u8> = (0..60_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = case(
        &m,
        &["echo"],
        Stdin::Bytes(input.clone()),
        Termination::Exited(0),
    );
    for o in out {
        assert_eq!(o.as_bytes(), input.as_slice());
    }
}
