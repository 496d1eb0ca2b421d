//! Shared helpers of the sandbox's integration tests: a sandbox per test (its own cgroup
//! name and uid range, so tests and test binaries can run side by side), temporary host
//! directories that clean up after themselves, compiling through the sandbox, the
//! hostile-program manifest, and the leak checks every run ends with.
//!
//! These tests need root and cgroups; they are what CI runs on these machines, and in a
//! cgroup v2 guest (`sandbox/vm/run-v2.sh`), where `SANDBOX_EXPECT_CGROUP=v2` makes every
//! sandbox assert that the v2 hierarchy is the one in use.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sandbox::namespaces::{CgroupVersion, NamespaceConfig, NamespaceSandbox};
use sandbox::{
    DiskQuota, Limits, Phase, RunReport, RunSpec, Sandbox, Stdin, Termination, Workspace,
};

/// What the judge binds for every language (see `languages.toml`).
pub const BINDS: [&str; 6] = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/usr/lib/jvm"];
/// A test case's fresh writable space.
pub const RUN_DISK: DiskQuota = DiskQuota::mib(16, 256);
/// A workspace's build directory.
pub const BUILD_QUOTA: DiskQuota = DiskQuota::mib(64, 1024);

static SANDBOXES: AtomicU32 = AtomicU32::new(0);
static DIRS: AtomicU32 = AtomicU32::new(0);

fn unique(counter: &AtomicU32) -> (u32, u32) {
    (std::process::id(), counter.fetch_add(1, Ordering::SeqCst))
}

/// A sandbox of its own for one test.
pub fn sandbox(slots: usize) -> NamespaceSandbox {
    let (pid, n) = unique(&SANDBOXES);
    assert!(slots <= 4 && n < 64);
    let sb = NamespaceSandbox::new(NamespaceConfig {
        slots,
        base_uid: 1_000_000 + (pid % 20_000) * 256 + n * 4,
        cgroup_name: format!("sbtest-{pid}-{n}"),
        ..NamespaceConfig::default()
    })
    .expect("creating the namespace sandbox (tests must run as root)");
    assert_expected_cgroup(&sb);
    sb
}

/// In the cgroup v2 guest, prove that the v2 backend is the one being tested.
pub fn assert_expected_cgroup(sb: &NamespaceSandbox) {
    match std::env::var("SANDBOX_EXPECT_CGROUP").as_deref() {
        Ok("v2") => assert_eq!(sb.cgroup_version(), CgroupVersion::V2),
        Ok("v1") => assert_eq!(sb.cgroup_version(), CgroupVersion::V1),
        _ => assert_ne!(sb.cgroup_version(), CgroupVersion::Auto),
    }
}

/// A fresh workspace in `slot`.
pub fn workspace(sb: &NamespaceSandbox, slot: usize) -> Workspace {
    sb.workspace(slot, BUILD_QUOTA)
        .expect("opening a workspace")
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
        disk: RUN_DISK,
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
        disk: BUILD_QUOTA,
    }
}

/// A test case's spec (the build output read-only, fresh writable space).
pub fn spec(argv: &[&str], limits: Limits) -> RunSpec {
    phase_spec(Phase::Run, argv, limits)
}

/// A compile-like spec: the workspace's build directory is the writable work dir.
pub fn build_spec(argv: &[&str], limits: Limits) -> RunSpec {
    phase_spec(Phase::Build, argv, limits)
}

pub fn phase_spec(phase: Phase, argv: &[&str], limits: Limits) -> RunSpec {
    RunSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        phase,
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

/// Write `src` into the workspace as `main.c`/`main.cpp` and compile it there with gcc/g++
/// inside the sandbox.
pub fn compile(sb: &dyn Sandbox, ws: &Workspace, src: &Path) -> RunReport {
    let cpp = src.extension().is_some_and(|e| e == "cpp");
    let name = if cpp { "main.cpp" } else { "main.c" };
    let _ = ws.write_file(name, &std::fs::read(src).unwrap());
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
    sb.run(ws, &build_spec(&argv, compile_limits()))
        .expect("compile run")
}

/// Compile and require success.
pub fn compile_ok(sb: &dyn Sandbox, ws: &Workspace, src: &Path) {
    let r = compile(sb, ws, src);
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
    assert_eq!(
        sb.slot_processes(slot).unwrap(),
        Vec::<i32>::new(),
        "slot cgroup not empty"
    );
    let uid = sb.slot_uid(slot).unwrap();
    assert_eq!(
        processes_of_uid(uid),
        Vec::<u32>::new(),
        "processes of uid {uid} left"
    );
    let now = mountinfo();
    let new: Vec<&String> = now.difference(&before.mounts).collect();
    assert!(new.is_empty(), "mounts leaked into the host: {new:?}");
    // The worker keeps serving: the same slot runs a program right after.
    let ws = workspace(sb, slot);
    let r = sb
        .run(&ws, &spec(&["/bin/true"], run_limits()))
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
    FileSize,
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
            (Expect::FileSize, Termination::FileSizeLimit) => true,
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
                    None if e == "filesize" => Expect::FileSize,
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
