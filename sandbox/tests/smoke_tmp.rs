use sandbox::namespaces::*;
use sandbox::*;
use std::time::Duration;
#[test]
fn smoke() {
    let cfg = NamespaceConfig { slots: 1, base_uid: 3_000_000, cgroup_name: format!("smoke-{}", std::process::id()), ..Default::default() };
    let sb = NamespaceSandbox::new(cfg).unwrap();
    println!("{:?}", sb);
    let dir = std::env::temp_dir().join(format!("smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let limits = Limits { cpu_time: Duration::from_secs(1), wall_time: Duration::from_secs(3), memory_bytes: 64<<20, processes: 16, output_bytes: 1<<20, file_size_bytes: 1<<20, open_files: 64, stack_bytes: 8<<20 };
    for argv in [vec!["/bin/sh", "-c", "echo hi; id; pwd; ls -la / /dev /etc; cat /proc/self/cgroup; hostname; ls /proc; cat /etc/shadow; echo x > /tmp/a && ls -la /tmp; ulimit -a"]] {
        let spec = RunSpec { argv: argv.iter().map(|s| s.to_string()).collect(), env: vec!["PATH=/usr/bin:/bin".into()], work_dir: dir.clone(), read_only_binds: ["/usr","/lib","/lib64","/bin","/etc","/usr/lib/jvm"].iter().map(Into::into).collect(), stdin: Stdin::Null, limits };
        for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = sb.run(0, &spec);
        println!("{:?}", t.elapsed());
        match r { Ok(r) => { println!("{:?} cpu={:?} wall={:?} mem={}", r.termination, r.cpu_time, r.wall_time, r.peak_memory_bytes); println!("{}", String::from_utf8_lossy(&r.stdout)); println!("ERR {}", String::from_utf8_lossy(&r.stderr)); } Err(e) => println!("ERR {e}") }
        }
    }
}
