//! Per-run overhead of the namespace sandbox over a bare fork/exec, and hello-world
//! throughput at concurrency 1 and 2.
//!
//! Run as root: `cargo run --release -p sandbox --example overhead [-- --runs N --hello-runs M
//! --idle-runs K --idle-ms I --worker-rss-mb R]`
//!
//! - Overhead: the same tiny static binary (`gcc -static -O2`, it writes 3 bytes) run N times
//!   (default 1000) bare (`std::process::Command`, stdout/stderr piped, like the sandbox
//!   captures them) and through `NamespaceSandbox`; median and p99 of each, and the
//!   difference of the medians. Then K times (default 100) each after I ms (default 100) of
//!   idleness, which is how a judge usually meets its next run.
//! - Per-submission isolation: opening a workspace (a fresh tmpfs build directory and a fresh
//!   network namespace) and dropping it, W times (default 200).
//! - Throughput: C hello (dynamically linked, `printf`) and Python hello (`/usr/bin/python3`)
//!   through the sandbox, M runs per thread (default 200), one slot per thread.
//! - `--worker-rss-mb R` first touches R MiB in this process, to see what a bigger worker
//!   costs (its page tables are copied when the sandbox clones).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox};
use sandbox::{DiskQuota, Limits, Phase, RunSpec, Sandbox, Stdin, Termination, Workspace};

const BINDS: [&str; 6] = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/usr/lib/jvm"];

fn limits() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(2),
        wall_time: Duration::from_secs(5),
        memory_bytes: 128 << 20,
        processes: 16,
        output_bytes: 1 << 20,
        file_size_bytes: 1 << 20,
        open_files: 64,
        stack_bytes: 8 << 20,
        disk: DiskQuota::mib(16, 256),
    }
}

fn spec(phase: Phase, argv: &[&str]) -> RunSpec {
    RunSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/bin:/bin".into()],
        phase,
        read_only_binds: BINDS.iter().map(PathBuf::from).collect(),
        stdin: Stdin::Null,
        limits: limits(),
    }
}

fn report(title: &str, mut bare: Vec<Duration>, mut boxed: Vec<Duration>) {
    bare.sort();
    boxed.sort();
    let (bm, bp) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
    let (sm, sp) = (percentile(&boxed, 0.5), percentile(&boxed, 0.99));
    println!("{title}");
    println!("  bare fork/exec : median {}  p99 {}", ms(bm), ms(bp));
    println!("  sandbox        : median {}  p99 {}", ms(sm), ms(sp));
    println!(
        "  overhead       : median {}  p99 {}",
        ms(sm.saturating_sub(bm)),
        ms(sp.saturating_sub(bp))
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn gcc(dir: &Path, src: &str, name: &str, extra: &[&str]) {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).expect("write source");
    let status = Command::new("/usr/bin/gcc")
        .args(extra)
        .args(["-O2", "-o"])
        .arg(dir.join(name))
        .arg(&c)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc failed");
}

/// A workspace in `slot` with the tiny and hello programs built in it (by gcc in the sandbox).
fn prepared_workspace(sandbox: &NamespaceSandbox, slot: usize) -> Workspace {
    let ws = sandbox
        .workspace(slot, DiskQuota::mib(64, 1024))
        .expect("workspace");
    ws.write_file("tiny.c", TINY.as_bytes()).expect("tiny.c");
    ws.write_file("hello.c", HELLO.as_bytes()).expect("hello.c");
    ws.write_file("hello.py", b"print('hello')\n")
        .expect("hello.py");
    for (out, src, extra) in [("tiny", "tiny.c", "-static"), ("hello", "hello.c", "-O2")] {
        let r = sandbox
            .run(
                &ws,
                &RunSpec {
                    limits: Limits {
                        cpu_time: Duration::from_secs(20),
                        wall_time: Duration::from_secs(60),
                        memory_bytes: 512 << 20,
                        processes: 64,
                        file_size_bytes: 64 << 20,
                        ..limits()
                    },
                    ..spec(
                        Phase::Build,
                        &["/usr/bin/gcc", extra, "-O2", "-o", out, src],
                    )
                },
            )
            .expect("gcc in the sandbox");
        assert_eq!(r.termination, Termination::Exited(0), "{r:?}");
    }
    ws
}

const TINY: &str = "#include <unistd.h>\nint main(void){ write(1, \"hi\\n\", 3); return 0; }\n";
const HELLO: &str = "#include <stdio.h>\nint main(void){ printf(\"hello\\n\"); return 0; }\n";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runs = arg("--runs", 1000);
    let hello_runs = arg("--hello-runs", 200);
    let ballast_mb = arg("--worker-rss-mb", 0);
    let ballast: Vec<u8> = vec![1u8; ballast_mb << 20];
    println!("worker ballast: {} MiB", ballast.len() >> 20);
    let dir = std::env::temp_dir().join(format!("sandbox-overhead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create work dir");
    gcc(&dir, TINY, "tiny", &["-static"]);

    let sandbox = Arc::new(
        NamespaceSandbox::new(NamespaceConfig {
            slots: 2,
            base_uid: 4_000_000,
            cgroup_name: format!("overhead-{}", std::process::id()),
            ..NamespaceConfig::default()
        })
        .expect("sandbox"),
    );
    println!("cgroup: {:?}", sandbox.cgroup_version());
    let workspaces: Arc<Vec<Workspace>> = Arc::new(
        (0..2)
            .map(|slot| prepared_workspace(&sandbox, slot))
            .collect(),
    );

    // Bare fork/exec.
    let tiny = dir.join("tiny");
    let mut bare = Vec::with_capacity(runs);
    for i in 0..runs + 20 {
        let t = Instant::now();
        let out = Command::new(&tiny)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("bare run");
        let d = t.elapsed();
        assert_eq!(out.stdout, b"hi\n");
        if i >= 20 {
            bare.push(d);
        }
    }
    // Through the sandbox.
    let tiny_spec = spec(Phase::Run, &["./tiny"]);
    let mut boxed = Vec::with_capacity(runs);
    for i in 0..runs + 20 {
        let t = Instant::now();
        let r = sandbox
            .run(&workspaces[0], &tiny_spec)
            .expect("sandbox run");
        let d = t.elapsed();
        assert_eq!(r.termination, Termination::Exited(0));
        assert_eq!(r.stdout, b"hi\n");
        if i >= 20 {
            boxed.push(d);
        }
    }
    report(
        &format!("tiny static binary, back to back, {runs} runs each"),
        bare,
        boxed,
    );

    let idle_runs = arg("--idle-runs", 100);
    let idle = Duration::from_millis(arg("--idle-ms", 100) as u64);
    let mut bare = Vec::with_capacity(idle_runs);
    let mut boxed = Vec::with_capacity(idle_runs);
    for _ in 0..idle_runs {
        std::thread::sleep(idle);
        let t = Instant::now();
        let out = Command::new(&tiny)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("bare run");
        bare.push(t.elapsed());
        assert_eq!(out.stdout, b"hi\n");
        std::thread::sleep(idle);
        let t = Instant::now();
        let r = sandbox
            .run(&workspaces[0], &tiny_spec)
            .expect("sandbox run");
        boxed.push(t.elapsed());
        assert_eq!(r.stdout, b"hi\n");
    }
    report(
        &format!(
            "tiny static binary, each run after {} ms idle, {idle_runs} runs each",
            idle.as_millis()
        ),
        bare,
        boxed,
    );

    let workspace_runs = arg("--workspaces", 200);
    let mut open = Vec::with_capacity(workspace_runs);
    let mut close = Vec::with_capacity(workspace_runs);
    for _ in 0..workspace_runs {
        let t = Instant::now();
        let ws = sandbox
            .workspace(1, DiskQuota::mib(256, 4096))
            .expect("workspace");
        open.push(t.elapsed());
        let t = Instant::now();
        drop(ws);
        close.push(t.elapsed());
    }
    open.sort();
    close.sort();
    println!(
        "per-submission isolation (tmpfs build dir + network namespace), {workspace_runs} times"
    );
    println!(
        "  open  : median {}  p99 {}",
        ms(percentile(&open, 0.5)),
        ms(percentile(&open, 0.99))
    );
    println!(
        "  drop  : median {}  p99 {}",
        ms(percentile(&close, 0.5)),
        ms(percentile(&close, 0.99))
    );

    for (name, argv, expect) in [
        ("C hello", vec!["./hello"], "hello\n"),
        (
            "Python hello",
            vec!["/usr/bin/python3", "-I", "-S", "hello.py"],
            "hello\n",
        ),
    ] {
        for concurrency in [1usize, 2] {
            let start = Instant::now();
            let threads: Vec<_> = (0..concurrency)
                .map(|slot| {
                    let sandbox = Arc::clone(&sandbox);
                    let workspaces = Arc::clone(&workspaces);
                    let s = spec(Phase::Run, &argv);
                    std::thread::spawn(move || {
                        let mut lat = Vec::with_capacity(hello_runs);
                        for _ in 0..hello_runs {
                            let t = Instant::now();
                            let r = sandbox.run(&workspaces[slot], &s).expect("hello run");
                            lat.push(t.elapsed());
                            assert_eq!(r.termination, Termination::Exited(0), "{r:?}");
                            assert_eq!(r.stdout, expect.as_bytes());
                        }
                        lat
                    })
                })
                .collect();
            let mut lat: Vec<Duration> = threads
                .into_iter()
                .flat_map(|t| t.join().expect("thread"))
                .collect();
            let elapsed = start.elapsed();
            lat.sort();
            let total = hello_runs * concurrency;
            println!(
                "{name:13} concurrency {concurrency}: {:7.1} runs/s  (median {}  p99 {}, {total} runs)",
                total as f64 / elapsed.as_secs_f64(),
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
            );
        }
    }
    drop(workspaces);
    drop(sandbox);
    drop(ballast);
    let _ = std::fs::remove_dir_all(&dir);
}
