//! Ordinary programs through the namespace sandbox: C, Python and Java hello (compiled in the
//! sandbox where the language compiles), stdin from bytes and from a file, what the program
//! sees of its environment, many submissions in a row on one slot, and two slots in
//! parallel. After each run nothing is left.

mod common;

use std::time::Duration;

use common::*;
use sandbox::namespaces::CgroupVersion;
use sandbox::{Limits, Sandbox, Stdin, Termination};

#[test]
fn c_hello_and_stdin() {
    let before = snapshot();
    let sb = sandbox(1);
    assert_ne!(sb.cgroup_version(), CgroupVersion::Auto);
    let ws = workspace(&sb, 0);
    compile_ok(&sb, &ws, &program("hello.c"));
    let r = sb.run(&ws, &spec(&["./main"], run_limits())).unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    assert_eq!(stdout(&r), "hello from C\n");
    assert!(
        r.peak_memory_bytes > 0 && r.peak_memory_bytes < 64 << 20,
        "{}",
        show(&r)
    );
    assert!(r.wall_time < Duration::from_secs(3));
    assert_clean(&sb, 0, &before);

    let ws = workspace(&sb, 0);
    compile_ok(&sb, &ws, &program("sum.c"));
    let mut s = spec(&["./main"], run_limits());
    s.stdin = Stdin::Bytes(b"40 2\n".to_vec());
    let r = sb.run(&ws, &s).unwrap();
    assert_eq!(
        (r.termination.clone(), stdout(&r)),
        (Termination::Exited(0), "42\n".into())
    );
    let input = TempDir::new("input");
    std::fs::write(input.path().join("in.txt"), "-5 7\n").unwrap();
    s.stdin = Stdin::File(input.path().join("in.txt"));
    let r = sb.run(&ws, &s).unwrap();
    assert_eq!(
        (r.termination.clone(), stdout(&r)),
        (Termination::Exited(0), "2\n".into())
    );
    assert_clean(&sb, 0, &before);
}

#[test]
fn the_view_from_inside() {
    let before = snapshot();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    let script = "id -u; pwd; hostname; cat /proc/self/cgroup | tail -n 1; ls /; ls /dev; \
                  ls /proc | grep -c '^[0-9]'; test -e /etc/shadow || echo no-shadow; \
                  touch /box/w && echo box-writable; touch /usr/x 2>/dev/null || echo usr-ro; \
                  touch /tmp/t && echo tmp-writable; \
                  grep -E '^Sig(Ign|Blk)' /proc/self/status";
    let r = sb
        .run(&ws, &spec(&["/bin/sh", "-c", script], run_limits()))
        .unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], sb.slot_uid(0).unwrap().to_string());
    assert_eq!(lines[1], "/box");
    assert_eq!(lines[2], "sandbox");
    assert!(lines[3].ends_with(":/"), "cgroup namespace: {}", lines[3]);
    for want in [
        "no-shadow",
        "box-writable",
        "tmp-writable",
        "usr-ro",
        "urandom",
        "usr",
        "SigBlk:\t0000000000000000",
        "SigIgn:\t0000000000000000",
    ] {
        assert!(out.contains(want), "missing {want}: {}", show(&r));
    }
    assert_clean(&sb, 0, &before);
}

#[test]
fn python_hello() {
    let before = snapshot();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    ws.write_file("main.py", &std::fs::read(program("hello.py")).unwrap())
        .unwrap();
    // The compile step of the language table: byte-compile, so syntax errors surface there.
    let compile = [
        "/usr/bin/python3",
        "-I",
        "-c",
        "import py_compile, sys; py_compile.compile('main.py', cfile='main.pyc', doraise=True)",
    ];
    let r = sb
        .run(&ws, &build_spec(&compile, compile_limits()))
        .unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    let r = sb
        .run(
            &ws,
            &spec(&["/usr/bin/python3", "-I", "-S", "main.pyc"], run_limits()),
        )
        .unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    assert_eq!(stdout(&r), "hello from Python 3\n");
    assert_clean(&sb, 0, &before);
}

#[test]
fn java_hello() {
    let before = snapshot();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    ws.write_file("Main.java", &std::fs::read(program("Main.java")).unwrap())
        .unwrap();
    let jdk = "/usr/lib/jvm/java-17-openjdk-amd64/bin";
    let javac = format!("{jdk}/javac");
    let compile = [
        javac.as_str(),
        "-J-Xms32m",
        "-J-Xmx256m",
        "-J-XX:+UseSerialGC",
        "-J-XX:TieredStopAtLevel=1",
        "-encoding",
        "UTF-8",
        "-d",
        ".",
        "Main.java",
    ];
    let r = sb
        .run(&ws, &build_spec(&compile, compile_limits()))
        .unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    let java = format!("{jdk}/java");
    let run = [
        java.as_str(),
        "-Xmx64m",
        "-Xss64m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dfile.encoding=UTF-8",
        "-cp",
        ".",
        "Main",
    ];
    // The JVM needs its threads and memory beyond the heap.
    let limits = Limits {
        cpu_time: Duration::from_secs(5),
        wall_time: Duration::from_secs(15),
        memory_bytes: 256 << 20,
        processes: 64,
        ..run_limits()
    };
    let mut s = spec(&run, limits);
    s.env
        .push("JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64".into());
    let r = sb.run(&ws, &s).unwrap();
    assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
    assert_eq!(stdout(&r), "hello from Java 17\n");
    assert_clean(&sb, 0, &before);
}

#[test]
fn two_slots_in_parallel() {
    let before = snapshot();
    let sb = sandbox(2);
    let workspaces = [workspace(&sb, 0), workspace(&sb, 1)];
    for ws in &workspaces {
        compile_ok(&sb, ws, &program("hello.c"));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = workspaces
            .iter()
            .map(|ws| {
                let sb = &sb;
                s.spawn(move || {
                    for _ in 0..20 {
                        let r = sb.run(ws, &spec(&["./main"], run_limits())).unwrap();
                        assert_eq!(r.termination, Termination::Exited(0), "{}", show(&r));
                        assert_eq!(stdout(&r), "hello from C\n");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_clean(&sb, 0, &before);
    assert_clean(&sb, 1, &before);
}

/// How a worker uses one slot for weeks: submission after submission, each in a fresh
/// workspace, some of them leaving whatever they can behind. Every one starts clean.
#[test]
fn many_submissions_in_a_row_on_one_slot() {
    let before = snapshot();
    let sb = sandbox(1);
    let litter = "mkdir -p a/b/c; head -c 100000 /dev/zero > a/b/c/f; \
                  for i in 1 2 3 4 5 6 7 8; do : > /tmp/t$i; : > f$i; done; \
                  (sleep 30 &) ; echo littered";
    for n in 0..12 {
        let ws = workspace(&sb, 0);
        // Each submission starts with an empty workspace.
        let r = sb
            .run(
                &ws,
                &build_spec(&["/bin/ls", "-a", "/box", "/tmp"], run_limits()),
            )
            .unwrap();
        assert_eq!(
            stdout(&r),
            "/box:\n.\n..\n\n/tmp:\n.\n..\n",
            "submission {n}: {}",
            show(&r)
        );
        compile_ok(&sb, &ws, &program("hello.c"));
        for _ in 0..3 {
            let r = sb.run(&ws, &spec(&["./main"], run_limits())).unwrap();
            assert_eq!(stdout(&r), "hello from C\n", "{}", show(&r));
            let r = sb
                .run(&ws, &spec(&["/bin/sh", "-c", litter], run_limits()))
                .unwrap();
            assert!(r.success(), "{}", show(&r));
            assert_clean(&sb, 0, &before);
        }
    }
}
