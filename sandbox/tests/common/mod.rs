//! Shared helpers of the sandbox's integration tests: a sandbox per test (its own cgroup
//! name and uid range, so tests and test binaries can run side by side), work dirs that
//! clean up after themselves, compiling through the sandbox, the hostile-program manifest,
//! and the leak checks every run ends with.
//!
//! These tests need root and cgroups; they are what CI runs on these machines.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox};
use sandbox::{Limits, RunReport, RunSpec, Sandbox, Stdin, Termination};

/// What the judge binds for every language (see `languages.toml`).
pub const BINDS: [&str; 6] = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/usr/lib/jvm"];
pub const TMP_INODES: u64 = 256;

static SANDBOXES: AtomicU32 = AtomicU32::new(0);
static DIRS: AtomicU32 = AtomicU32::new(0);

fn unique(counter: &AtomicU32) -> (u32, u32) {
    (std::process::id(), counter.fetch_add(1, Ordering::SeqCst))
}

/// A sandbox of its own for one test.
pub fn sandbox(slots: usize) -> NamespaceSandbox {
    let (pid, n) = unique(&SANDBOXES);
    assert!(slots <= 4 && n < 64);
    NamespaceSandbox::new(NamespaceConfig {
        slots,
        base_uid: 1_000_000 + (pid % 20_000) * 256 + n * 4,
        cgroup_name: format!("sbtest-{pid}-{n}"),
        tmp_size_bytes: 16 << 20,
        tmp_inodes: TMP_INODES,
        ..NamespaceConfig::default()
    })
    .expect("creating the namespace sandbox (tests must run as root)")
}

/// A temporary directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let (pid, n) = unique(&DIRS);
        let path = std::env::temp_dir().join(format!("sbtest-{tag}-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn hostile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hostile")
        .join(name)
}

pub fn program(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// Limits of a test-case run.
pub fn run_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(1),
        wall_time: Duration::from_secs(3),
        memory_bytes: 64 << 20,
        processes: 16,
        output_bytes: 64 << 10,
        file_size_bytes: 1 << 20,
        open_files: 64,
        stack_bytes: 8 << 20,
    }
}

/// Limits of a compile step.
pub fn compile_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_secs(20),
        wall_time: Duration::from_secs(60),
        memory_bytes: 768 << 20,
        processes: 96,
        output_bytes: 1 << 20,
        file_size_bytes: 64 << 20,
        open_files: 256,
        stack_bytes: 64 << 20,
    }
}

pub fn spec(dir: &Path, argv: &[&str], limits: Limits) -> RunSpec {
    RunSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        work_dir: dir.to_path_buf(),
        read_only_binds: BINDS.iter().map(PathBuf::from).collect(),
        stdin: Stdin::Null,
        limits,
    }
}

pub fn show(r: &RunReport) -> String {
    format!(
        "{:?} cpu={:?} wall={:?} peak={} KiB\nstdout: {}\nstderr: {}",
        r.termination,
        r.cpu_time,
        r.wall_time,
        r.peak_memory_bytes / 1024,
        String::from_utf8_lossy(&r.stdout[..r.stdout.len().min(4000)]),
        String::from_utf8_lossy(&r.stderr[..r.stderr.len().min(4000)]),
    )
}

pub fn stdout(r: &RunReport) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// Copy `src` into `dir` as `name` and compile it there with gcc/g++ inside the sandbox.
pub fn compile(sb: &NamespaceSandbox, slot: usize, dir: &Path, src: &Path) -> RunReport {
    let cpp = src.extension().is_some_and(|e| e == "cpp");
    let name = if cpp { "main.cpp" } else { "main.c" };
    std::fs::copy(src, dir.join(name)).unwrap();
    let argv: Vec<&str> = if cpp {
        vec![
            "/usr/bin/g++",
            "-O2",
            "-std=c++17",
            "-pipe",
            "-o",
            "main",
            name,
        ]
    } else {
        vec![
            "/usr/bin/gcc",
            "-O2",
            "-std=gnu11",
            "-pipe",
            "-pthread",
            "-o",
            "main",
            name,
            "-lm",
        ]
    };
    sb.run(slot, &spec(dir, &argv, compile_limits()))
        .expect("compile run")
}

/// Compile and require success.
pub fn compile_ok(sb: &NamespaceSandbox, slot: usize, dir: &Path, src: &Path) {
    let r = compile(sb, slot, dir, src);
    assert_eq!(
        r.termination,
        Termination::Exited(0),
        "compile failed: {}",
        show(&r)
    );
}

/// State of the host to compare against after runs.
pub struct Snapshot {
    mounts: HashSet<String>,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        mounts: mountinfo(),
    }
}

fn mountinfo() -> HashSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Pids on the whole host whose real uid is `uid`.
pub fn processes_of_uid(uid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue; // exited meanwhile
        };
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) {
            out.push(pid);
        }
    }
    out
}

/// After a run: nothing of it is left, and the slot still works.
pub fn assert_clean(sb: &NamespaceSandbox, slot: usize, before: &Snapshot) {
    let uid = sb.slot_uid(slot).unwrap();
    assert_eq!(
        sb.slot_processes(slot).unwrap(),
        Vec::<i32>::new(),
        "slot cgroup not empty"
    );
    assert_eq!(
        processes_of_uid(uid),
        Vec::<u32>::new(),
        "processes of uid {uid} left"
    );
    let now = mountinfo();
    let new: Vec<&String> = now.difference(&before.mounts).collect();
    assert!(new.is_empty(), "mounts leaked into the host: {new:?}");
    // The worker keeps serving: the same slot runs a program right after.
    let dir = TempDir::new("alive");
    let r = sb
        .run(slot, &spec(dir.path(), &["/bin/true"], run_limits()))
        .expect("slot still serves");
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
}

/// One acceptable outcome from the manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Exited(i32),
    Signaled(i32),
    Cpu,
    Wall,
    Memory,
    Output,
}

impl Expect {
    fn matches(&self, t: &Termination) -> bool {
        match (self, t) {
            (Expect::Exited(a), Termination::Exited(b)) => a == b,
            (Expect::Signaled(a), Termination::Signaled(b)) => a == b,
            (Expect::Cpu, Termination::CpuTimeLimit) => true,
            (Expect::Wall, Termination::WallTimeLimit) => true,
            (Expect::Memory, Termination::MemoryLimit) => true,
            (Expect::Output, Termination::OutputLimit) => true,
            _ => false,
        }
    }
}

/// The manifest: program file → acceptable terminations.
pub fn manifest() -> Vec<(String, Vec<Expect>)> {
    let text = std::fs::read_to_string(hostile("MANIFEST")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let file = parts.next().unwrap().to_owned();
            let expect = parts
                .next()
                .unwrap_or_else(|| panic!("no expectation for {file}"))
                .split('|')
                .map(|e| match e.split_once(':') {
                    Some(("exited", n)) => Expect::Exited(n.parse().unwrap()),
                    Some(("signaled", n)) => Expect::Signaled(n.parse().unwrap()),
                    None if e == "cpu" => Expect::Cpu,
                    None if e == "wall" => Expect::Wall,
                    None if e == "memory" => Expect::Memory,
                    None if e == "output" => Expect::Output,
                    _ => panic!("bad expectation {e:?} for {file}"),
                })
                .collect();
            (file, expect)
        })
        .collect()
}

pub fn expected(file: &str) -> Vec<Expect> {
    manifest()
        .into_iter()
        .find(|(f, _)| f == file)
        .unwrap_or_else(|| panic!("{file} is not in hostile/MANIFEST"))
        .1
}

pub fn assert_expected(file: &str, r: &RunReport) {
    let want = expected(file);
    assert!(
        want.iter().any(|e| e.matches(&r.termination)),
        "{file}: expected one of {want:?}, got {}",
        show(r)
    );
}
