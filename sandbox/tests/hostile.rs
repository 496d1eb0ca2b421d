//! The hostile-program suite: every program in `sandbox/hostile/` is compiled with gcc/g++
//! *inside* the sandbox, run through `NamespaceSandbox`, and must end as `hostile/MANIFEST`
//! says. After every run: no process of the slot's uid anywhere on the host, the slot
//! cgroup empty, no new mount in the host's mount table, and the slot still runs programs.
//! Some programs get extra host-side checks (a listener that must see no connection, a file
//! that must not appear, a symlink the host must not follow).
//!
//! Every run is bounded by its limits, so every test is bounded in time. Needs root.

mod common;

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use sandbox::namespaces::NamespaceSandbox;
use sandbox::{Limits, Phase, RunReport, Sandbox, SandboxError, Stdin, Termination, Workspace};

struct Case {
    file: &'static str,
    sb: NamespaceSandbox,
    ws: Workspace,
    before: Snapshot,
}

impl Case {
    /// A fresh sandbox and workspace with `file` compiled in it (through the sandbox).
    fn new(file: &'static str) -> Case {
        let before = snapshot();
        let sb = sandbox(1);
        let ws = workspace(&sb, 0);
        compile_ok(&sb, &ws, &hostile(file));
        assert_clean(&sb, 0, &before);
        Case {
            file,
            sb,
            ws,
            before,
        }
    }

    fn run_phase(&self, phase: Phase, args: &[&str], limits: Limits) -> RunReport {
        let mut argv = vec!["./main"];
        argv.extend_from_slice(args);
        let r = self
            .sb
            .run(&self.ws, &phase_spec(phase, &argv, limits))
            .unwrap_or_else(|e| panic!("{}: sandbox failure: {e}", self.file));
        println!("{} {phase:?} {args:?}: {}", self.file, show(&r));
        assert_expected(self.file, &r);
        assert_clean(&self.sb, 0, &self.before);
        r
    }

    fn run_with(&self, args: &[&str], limits: Limits) -> RunReport {
        self.run_phase(Phase::Run, args, limits)
    }

    fn run(&self, args: &[&str]) -> RunReport {
        self.run_with(args, run_limits())
    }
}

fn short_wall() -> Limits {
    Limits {
        wall_time: Duration::from_millis(1500),
        ..run_limits()
    }
}

// ---- resource exhaustion ----

#[test]
fn fork_bomb() {
    let r = Case::new("fork_bomb.c").run(&[]);
    // Whichever limit ended it, it was that limit (not a crash of the bomb itself).
    match r.termination {
        Termination::CpuTimeLimit => assert!(r.cpu_time >= run_limits().cpu_time),
        Termination::MemoryLimit => assert!(r.peak_memory_bytes >= run_limits().memory_bytes / 2),
        _ => {}
    }
}

#[test]
fn thread_bomb() {
    Case::new("thread_bomb.c").run(&[]);
}

#[test]
fn memory_heap() {
    let r = Case::new("memory_heap.c").run(&[]);
    assert!(
        r.peak_memory_bytes >= run_limits().memory_bytes / 2,
        "{}",
        show(&r)
    );
}

#[test]
fn memory_stack() {
    // Judges give the stack as much room as the memory limit or more; then the stack
    // growth is what hits the cgroup limit.
    Case::new("memory_stack.c").run_with(
        &[],
        Limits {
            stack_bytes: 1 << 30,
            ..run_limits()
        },
    );
}

#[test]
fn memory_static() {
    Case::new("memory_static.c").run(&[]);
}

#[test]
fn cpu_spin() {
    let r = Case::new("cpu_spin.c").run(&[]);
    assert!(r.cpu_time >= run_limits().cpu_time, "{}", show(&r));
    assert!(
        r.cpu_time < run_limits().cpu_time + Duration::from_millis(500),
        "{}",
        show(&r)
    );
}

#[test]
fn sleep_forever() {
    let r = Case::new("sleep_forever.c").run_with(&[], short_wall());
    assert!(r.wall_time >= Duration::from_millis(1500), "{}", show(&r));
    assert!(r.cpu_time < Duration::from_millis(200), "{}", show(&r));
}

#[test]
fn sigxcpu_catch() {
    Case::new("sigxcpu_catch.c").run(&[]);
}

#[test]
fn sigstop_self() {
    Case::new("sigstop_self.c").run_with(&[], short_wall());
}

#[test]
fn daemon_escape() {
    let case = Case::new("daemon_escape.c");
    // In the build phase the work dir is the workspace, which the host can read afterwards.
    let r = case.run_phase(Phase::Build, &[], run_limits());
    assert!(stdout(&r).contains("daemon ready"), "{}", show(&r));
    // run() already asserted that no process of the slot's uids is left: the daemon is dead,
    // so the file it would write two seconds later can never appear.
    let late = case.ws.read_file("daemon_wrote_this", 1 << 10);
    assert!(
        matches!(late, Err(SandboxError::Io { ref source, .. }) if source.kind() == ErrorKind::NotFound),
        "{late:?}"
    );
}

#[test]
fn output_flood_lines() {
    let r = Case::new("output_flood_lines.c").run(&[]);
    assert_eq!(r.stdout.len() as u64, run_limits().output_bytes);
}

#[test]
fn output_flood_nonl() {
    let r = Case::new("output_flood_nonl.c").run(&[]);
    assert_eq!(r.stdout.len() as u64, run_limits().output_bytes);
    assert!(r.stdout.iter().all(|&b| b == b'x'));
}

#[test]
fn stderr_flood() {
    let r = Case::new("stderr_flood.c").run(&[]);
    assert_eq!(r.stderr.len() as u64, run_limits().output_bytes);
}

#[test]
fn file_size_bomb() {
    let case = Case::new("file_size_bomb.c");
    case.run(&[]);
    // Where the host can look: the file stopped at the limit.
    case.run_phase(Phase::Build, &[], run_limits());
    let big = case.ws.read_file("big.bin", 1 << 30).unwrap();
    assert!(!big.is_empty() && big.len() as u64 <= run_limits().file_size_bytes);
}

fn number_after(text: &str, word: &str) -> u64 {
    text.split_whitespace()
        .skip_while(|w| *w != word)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {text:?}"))
}

#[test]
fn inode_bomb_tmp() {
    let r = Case::new("inode_bomb_tmp.c").run(&[]);
    let created = number_after(&stdout(&r), "created");
    assert!(created > 0 && created < RUN_DISK.inodes, "{}", show(&r));
}

#[test]
fn fd_exhaustion() {
    let r = Case::new("fd_exhaustion.c").run(&[]);
    let opened = number_after(&stdout(&r), "opened");
    assert!(opened + 3 <= run_limits().open_files, "{}", show(&r));
    assert!(stdout(&r).contains("errno 24"), "{}", show(&r));
}

// ---- file system ----

#[test]
fn read_shadow() {
    let host = TempDir::new("host-secret");
    let secret = host.path().join("secret.txt");
    std::fs::write(&secret, "TOPSECRET").unwrap();
    let r = Case::new("read_shadow.c").run(&[secret.to_str().unwrap()]);
    assert!(stdout(&r).contains("denied /etc/shadow"), "{}", show(&r));
    assert!(!stdout(&r).contains("TOPSECRET"));
}

#[test]
fn write_system_dirs() {
    Case::new("write_system_dirs.c").run(&[]);
    for p in ["/usr/pwned", "/pwned", "/etc/pwned", "/bin/pwned"] {
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
}

#[test]
fn chdir_escape() {
    let host = TempDir::new("host-marker");
    let marker = host.path().join("HOST_MARKER");
    std::fs::write(&marker, "host").unwrap();
    let r = Case::new("chdir_escape.c").run(&[marker.to_str().unwrap()]);
    assert!(
        stdout(&r).contains("cwd after chdir(..) loop: /"),
        "{}",
        show(&r)
    );
}

#[test]
fn symlink_plant() {
    let host = TempDir::new("host-files");
    let secret = host.path().join("secret.txt");
    let target = host.path().join("target.txt");
    std::fs::write(&secret, "TOPSECRET").unwrap();
    std::fs::write(&target, "ORIGINAL").unwrap();
    let case = Case::new("symlink_plant.c");
    // The build phase plants its traps in the workspace, which the host reads afterwards.
    case.run_phase(
        Phase::Build,
        &[secret.to_str().unwrap(), target.to_str().unwrap()],
        run_limits(),
    );
    // The host reads results only through the no-follow helpers.
    for name in ["out.txt", "fifo", "magic"] {
        let r = case.ws.read_file(name, 1 << 20);
        assert!(r.is_err(), "host read {name} through a trap: {r:?}");
    }
    assert!(case.ws.write_file("planted", b"PWNED").is_err());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "ORIGINAL");
    // A test case sees the build output without the traps (links are not shown to runs).
    let r = case
        .sb
        .run(&case.ws, &spec(&["/bin/ls", "-a"], run_limits()))
        .unwrap();
    assert_eq!(stdout(&r), ".\n..\nmain\nmain.c\n", "{}", show(&r));
    // The sandbox itself refuses a symlink as stdin.
    let link = host.path().join("stdin-link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let mut s = spec(&["/bin/true"], run_limits());
    s.stdin = Stdin::File(link);
    assert!(case.sb.run(&case.ws, &s).is_err());
    assert_clean(&case.sb, 0, &case.before);
}

#[test]
fn proc_self_mem() {
    Case::new("proc_self_mem.c").run(&[]);
}

// ---- network ----

#[test]
fn tcp_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    Case::new("tcp_connect.c").run(&[&port]);
    // Nothing may have connected (checked after the run, and the run is over).
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a connection arrived from the sandbox"
    );
}

#[test]
fn dns_lookup() {
    Case::new("dns_lookup.c").run(&[]);
}

#[test]
fn unix_abstract() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("sandbox-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    Case::new("unix_abstract.c").run(&[&name]);
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a connection arrived from the sandbox"
    );
}

// ---- privileges and kernel surface ----

#[test]
fn setuid_root() {
    let r = Case::new("setuid_root.c").run(&[]);
    assert!(stdout(&r).contains("NoNewPrivs:\t1"), "{}", show(&r));
}

#[test]
fn ptrace_attach() {
    Case::new("ptrace_attach.c").run(&[]);
}

#[test]
fn mount_attempt() {
    Case::new("mount_attempt.c").run(&[]);
}

#[test]
fn userns_escape() {
    let r = Case::new("userns_escape.c").run(&[]);
    assert!(stdout(&r).contains("fork works"), "{}", show(&r));
}

#[test]
fn kill_everything() {
    let me = std::process::id().to_string();
    let r = Case::new("kill_everything.c").run(&[&me]);
    let out = stdout(&r);
    assert!(
        out.contains("own child killed") && out.contains("still alive"),
        "{}",
        show(&r)
    );
}

#[test]
fn denied_syscalls() {
    let r = Case::new("denied_syscalls.c").run(&[]);
    assert!(stdout(&r).contains("done"), "{}", show(&r));
}

#[test]
fn i386_abi() {
    Case::new("i386_abi.c").run(&[]);
}

#[test]
fn x32_abi() {
    Case::new("x32_abi.c").run(&[]);
}

// ---- isolation between runs and slots ----

#[test]
fn ipc_leftover() {
    let case = Case::new("ipc_leftover.c");
    let r = case.run(&["leave"]);
    assert!(stdout(&r).contains("left state"), "{}", show(&r));
    let r = case.run(&["look"]);
    assert!(stdout(&r).contains("looked"), "{}", show(&r));
}

/// Runs `holder` (in the build phase, so its "ready" file is visible to the host) in slot 0
/// and, once it is ready, `looker` in slot 1, while the holder is still running.
fn concurrently(file: &'static str, holder: &[&str], looker: &[&str]) -> RunReport {
    let before = snapshot();
    let sb = sandbox(2);
    let a = workspace(&sb, 0);
    let b = workspace(&sb, 1);
    compile_ok(&sb, &a, &hostile(file));
    compile_ok(&sb, &b, &hostile(file));
    let hold_limits = Limits {
        wall_time: Duration::from_secs(4),
        ..run_limits()
    };
    let mut hold_argv = vec!["./main"];
    hold_argv.extend_from_slice(holder);
    let mut look_argv = vec!["./main"];
    look_argv.extend_from_slice(looker);
    let looked = std::thread::scope(|s| {
        let holder = s.spawn(|| sb.run(&a, &build_spec(&hold_argv, hold_limits)));
        // Wait (bounded) until the holder has set up its markers; it says so in its work dir.
        let deadline = Instant::now() + Duration::from_secs(3);
        while a.read_file("ready", 0).is_err() {
            assert!(Instant::now() < deadline, "holder never became ready");
            std::thread::sleep(Duration::from_millis(5));
        }
        let r = sb.run(&b, &spec(&look_argv, run_limits())).unwrap();
        println!("{file} look: {}", show(&r));
        // The holder was alive during the whole look: the runs overlapped.
        assert!(!sb.slot_processes(0).unwrap().is_empty());
        let held = holder.join().unwrap().unwrap();
        println!("{file} hold: {}", show(&held));
        assert_eq!(
            held.termination,
            Termination::WallTimeLimit,
            "{}",
            show(&held)
        );
        r
    });
    assert_expected(file, &looked);
    assert_clean(&sb, 0, &before);
    assert_clean(&sb, 1, &before);
    looked
}

#[test]
fn parallel_peek() {
    let r = concurrently("parallel_peek.c", &["hold"], &["look"]);
    assert!(stdout(&r).contains("looked"), "{}", show(&r));
}

#[test]
fn lock_channel() {
    let r = concurrently("lock_channel.c", &["hold"], &["look"]);
    assert!(stdout(&r).contains("looked"), "{}", show(&r));
}

#[test]
fn raise_segv() {
    Case::new("raise_segv.c").run(&[]);
}

#[test]
fn exit_code() {
    Case::new("exit_code.c").run(&[]);
}

// ---- what a run leaves behind ----

#[test]
fn deep_tree() {
    let case = Case::new("deep_tree.c");
    let r = case.run(&[]);
    let depth = number_after(&stdout(&r), "depth");
    assert!(depth > 100 && depth < RUN_DISK.inodes, "{}", show(&r));
    case.run(&["tmp"]);
    // In the workspace itself (the build phase's work dir): bounded by its quota.
    let r = case.run_phase(Phase::Build, &[], run_limits());
    let depth = number_after(&stdout(&r), "depth");
    assert!(depth > 100 && depth < BUILD_QUOTA.inodes, "{}", show(&r));
    // Dropping the workspace frees the tree at once, whatever its shape, and the next
    // submission in the slot starts from an empty one.
    let Case { sb, ws, before, .. } = case;
    let started = Instant::now();
    drop(ws);
    assert!(started.elapsed() < Duration::from_secs(1));
    let next = workspace(&sb, 0);
    compile_ok(&sb, &next, &program("hello.c"));
    let r = sb
        .run(&next, &spec(&["/bin/ls", "-a"], run_limits()))
        .unwrap();
    assert_eq!(stdout(&r), ".\n..\nmain\nmain.c\n", "{}", show(&r));
    assert_clean(&sb, 0, &before);
}

/// Bytes free for unprivileged users on the file system of the host's temp dir.
fn host_free_bytes() -> u64 {
    let path = std::ffi::CString::new(std::env::temp_dir().to_string_lossy().as_bytes()).unwrap();
    // SAFETY: zeroed statvfs is a valid out-parameter; valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut s) }, 0);
    s.f_bavail * s.f_frsize
}

#[test]
fn disk_fill() {
    let free_before = host_free_bytes();
    let case = Case::new("disk_fill.c");
    // Only the quota may stop it: no file-size limit in the way.
    let limits = Limits {
        file_size_bytes: 8 << 30,
        wall_time: Duration::from_secs(10),
        ..run_limits()
    };
    let r = case.run_with(&[], limits);
    let out = stdout(&r);
    assert!(!out.contains("ALLOCATED"), "{}", show(&r));
    let wrote = number_after(&out, "wrote");
    assert!(wrote > 0 && wrote <= RUN_DISK.bytes, "{}", show(&r));
    // The host's disk did not pay for it (other tests write a little meanwhile).
    let free_after = host_free_bytes();
    assert!(
        free_after + (64 << 20) > free_before,
        "host free space fell from {free_before} to {free_after}"
    );
}

#[test]
fn state_carry() {
    let case = Case::new("state_carry.c");
    let size = case
        .ws
        .read_file("main", 64 << 20)
        .unwrap()
        .len()
        .to_string();
    let r = case.run(&["leave"]);
    let out = stdout(&r);
    // The work dir is writable; the build output in it is not.
    assert!(out.contains("write ./note: DONE"), "{}", show(&r));
    assert!(out.contains("write /tmp/note: DONE"), "{}", show(&r));
    for attempt in [
        "append to ./main",
        "truncate ./main",
        "chmod ./main",
        "rename over ./main",
        "unlink ./main",
    ] {
        assert!(!out.contains(&format!("{attempt}: DONE")), "{}", show(&r));
    }
    let r = case.run(&["look", &size]);
    assert!(stdout(&r).contains("looked"), "{}", show(&r));
}

#[test]
fn socket_linger() {
    let case = Case::new("socket_linger.c");
    let name = format!("judge-linger-{}", std::process::id());
    let r = case.run(&["leave", &name]);
    assert!(stdout(&r).contains("left @"), "{}", show(&r));
    // The next submission in the same slot.
    let next = workspace(&case.sb, 0);
    compile_ok(&case.sb, &next, &hostile("socket_linger.c"));
    let r = case
        .sb
        .run(&next, &spec(&["./main", "look", &name], run_limits()))
        .unwrap();
    println!("look: {}", show(&r));
    assert_expected("socket_linger.c", &r);
    assert!(stdout(&r).contains("looked"), "{}", show(&r));
    assert_clean(&case.sb, 0, &case.before);
}

#[test]
fn mountinfo_leak() {
    let r = Case::new("mountinfo_leak.c").run(&[]);
    let allowed = [
        "/usr", "/lib", "/bin", "/etc", "/box", "/tmp", "/main", "/null", "/zero", "/random",
        "/urandom",
    ];
    let table = stdout(&r);
    assert!(table.lines().count() > 5, "{}", show(&r));
    for line in table.lines() {
        let root = line.split(' ').nth(3).unwrap_or("");
        assert!(
            root == "/" || allowed.iter().any(|a| root.starts_with(a)),
            "mount root {root:?} shows a host path: {line}"
        );
        assert!(
            !line.contains("sbtest") && !line.contains("judge-worker"),
            "host path in {line}"
        );
    }
}

#[test]
fn child_mem() {
    let r = Case::new("child_mem.c").run(&[]);
    assert!(stdout(&r).contains("loginuid"), "{}", show(&r));
}

// ---- compile bombs: the compiler runs in the sandbox too ----

fn compile_bomb(file: &str) {
    let before = snapshot();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    let limits = Limits {
        cpu_time: Duration::from_secs(5),
        wall_time: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        processes: 32,
        output_bytes: 64 << 10,
        ..compile_limits()
    };
    let cpp = file.ends_with(".cpp");
    let name = if cpp { "main.cpp" } else { "main.c" };
    ws.write_file(name, &std::fs::read(hostile(file)).unwrap())
        .unwrap();
    let compiler = if cpp { "/usr/bin/g++" } else { "/usr/bin/gcc" };
    let r = sb
        .run(
            &ws,
            &build_spec(&[compiler, "-O2", "-o", "main", name], limits),
        )
        .unwrap();
    println!("{file}: {}", show(&r));
    assert_expected(file, &r);
    assert_clean(&sb, 0, &before);
}

#[test]
fn include_urandom() {
    compile_bomb("include_urandom.c");
}

#[test]
fn template_bomb() {
    compile_bomb("template_bomb.cpp");
}

// ---- the suite itself ----

/// Every program has a manifest line and a test here, and every manifest line a program.
#[test]
fn manifest_covers_every_program() {
    let entries = manifest();
    let mut files: Vec<String> = std::fs::read_dir(hostile(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "MANIFEST")
        .collect();
    files.sort();
    let mut listed: Vec<String> = entries.iter().map(|(f, _)| f.clone()).collect();
    listed.sort();
    assert_eq!(files, listed);
    // env_leak.c lives in tests/secrets.rs: it needs a process of its own.
    let sources = [include_str!("hostile.rs"), include_str!("secrets.rs")];
    for (file, _) in &entries {
        let stem = file.split('.').next().unwrap();
        assert!(
            sources.iter().any(|s| s.contains(&format!("fn {stem}()"))),
            "no test for {file}"
        );
    }
}

#[test]
fn sandbox_failures_are_errors_not_verdicts() {
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    let missing = sb.run(&ws, &spec(&["./does-not-exist"], run_limits()));
    assert!(
        matches!(missing, Err(SandboxError::Setup(_))),
        "{missing:?}"
    );
    let bad_slot = sb.workspace(7, BUILD_QUOTA);
    assert!(matches!(bad_slot, Err(SandboxError::InvalidSpec(_))));
    let nul = sb.run(&ws, &spec(&["/bin/echo", "a\0b"], run_limits()));
    assert!(matches!(nul, Err(SandboxError::InvalidSpec(_))));
    let mut shadow = spec(&["/bin/true"], run_limits());
    shadow.read_only_binds.push("/etc/shadow".into());
    assert!(matches!(
        sb.run(&ws, &shadow),
        Err(SandboxError::InvalidSpec(_))
    ));
    // A workspace of another sandbox is refused.
    let other = sandbox(1);
    let foreign = workspace(&other, 0);
    assert!(matches!(
        sb.run(&foreign, &spec(&["/bin/true"], run_limits())),
        Err(SandboxError::InvalidSpec(_))
    ));
    // And the slot is fine afterwards.
    assert_clean(&sb, 0, &snapshot());
}
