//! The worker's environment must not reach sandboxed code: not through the program's own
//! environment, `/proc/self/environ`, init's `/proc/1/environ` (init is a fork of the worker,
//! so its environment block *is* the worker's), nor `/proc/<worker pid>/environ`.
//!
//! A test binary of its own: it puts a secret into its process environment, which is only
//! sound while no other test thread runs.

mod common;

use common::*;
use sandbox::Sandbox;

#[test]
fn env_leak() {
    let secret = format!("s3cr3t-{}-do-not-leak", std::process::id());
    // SAFETY: the only test in this binary; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("JUDGE_DATABASE_PASSWORD", &secret) };
    let before = snapshot();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    compile_ok(&sb, &ws, &hostile("env_leak.c"));
    let me = std::process::id().to_string();
    let r = sb.run(&ws, &spec(&["./main", &me], run_limits())).unwrap();
    assert_expected("env_leak.c", &r);
    let out = stdout(&r);
    assert!(out.contains("PATH=/usr/bin:/bin"), "{}", show(&r));
    assert!(!out.contains(&secret), "secret leaked: {}", show(&r));
    assert!(!String::from_utf8_lossy(&r.stderr).contains(&secret));
    assert!(!out.contains("JUDGE_DATABASE_PASSWORD"));
    assert_clean(&sb, 0, &before);

    // Python sees only what the language table gives it.
    let py = sb
        .run(
            &ws,
            &spec(
                &[
                    "/usr/bin/python3",
                    "-I",
                    "-S",
                    "-c",
                    "import os; print(sorted(os.environ))",
                ],
                run_limits(),
            ),
        )
        .unwrap();
    assert_eq!(stdout(&py).trim(), "['LANG', 'PATH']", "{}", show(&py));
    assert_clean(&sb, 0, &before);
}
