//! A worker that is not alone in its cgroup (`docker run --init`, a shell wrapper that does
//! not `exec`): on cgroup v2 a non-root cgroup with processes cannot hand controllers to its
//! children, so the sandbox moves *every* process of it into a leaf, not only itself (it used
//! to move only itself and then refuse to start, EBUSY). A test binary of its own: the first
//! sandbox of a process is the one that moves it.

mod common;

use std::process::Command;

use common::*;
use sandbox::Sandbox;
use sandbox::namespaces::CgroupVersion;

fn v2_cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_process_of_the_workers_cgroup_moves_to_the_leaf() {
    let before = v2_cgroup_of(std::process::id());
    // Another process in the worker's cgroup, as an init or a wrapper shell would be.
    let mut neighbour = Command::new("/bin/sleep").arg("60").spawn().unwrap();
    let sb = sandbox(1);
    let ws = workspace(&sb, 0);
    let r = sb.run(&ws, &spec(&["/bin/true"], run_limits())).unwrap();
    assert!(r.success(), "{}", show(&r));
    let me = v2_cgroup_of(std::process::id());
    let other = v2_cgroup_of(neighbour.id());
    let _ = neighbour.kill();
    let _ = neighbour.wait();
    println!("cgroup before {before:?}, after {me:?}, neighbour {other:?}");
    // A non-root v2 cgroup (a container's, even when its cgroup namespace calls it "/") has
    // `memory.max`; the root has none and may keep processes beside enabled controllers.
    let own_dir = std::path::Path::new("/sys/fs/cgroup").join(before.trim_start_matches('/'));
    if sb.cgroup_version() == CgroupVersion::V2 && own_dir.join("memory.max").exists() {
        assert!(
            me.ends_with(".supervisor"),
            "the worker moved into the leaf: {me}"
        );
        assert_eq!(other, me, "the neighbour moved with it");
    }
}
