//! Per-slot cgroups: memory limit with swap off, peak memory, OOM-kill detection, a pids
//! limit and CPU time of every process of a run, children included.
//!
//! One interface ([`SlotCgroup`]) over two implementations chosen once at start-up:
//! - [`v1`]: the `memory`, `pids` and `cpuacct` hierarchies (these machines);
//! - [`v2`]: the unified hierarchy (current Docker/Kubernetes hosts), which needs a delegated
//!   subtree with the `memory` and `pids` controllers available (see the module doc of
//!   `namespaces` for what a worker container needs).
//!
//! Each slot's cgroup is created once and reused: before a run it is checked empty, its
//! limits are written only if they changed, and the counters that cannot be reset (CPU time,
//! OOM kills) are read as a baseline and subtracted afterwards. The sandbox's cgroups live
//! under the worker's *own* cgroup, so whatever limits the worker is under also bound the
//! programs it runs.

pub mod v1;
pub mod v2;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Limits, SandboxError};

/// Which cgroup hierarchy to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupVersion {
    /// v2 if the worker's cgroup has the memory and pids controllers, else v1.
    #[default]
    Auto,
    V1,
    V2,
}

/// Counters read before a run, subtracted from those read after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Baseline {
    pub cpu: Duration,
    pub oom_kills: u64,
}

/// What one run used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu: Duration,
    /// Peak of the slot's memory charge during the run (includes up to ~1 MiB left charged
    /// by earlier runs, see `v1`).
    pub peak_memory: u64,
    pub oom_kills: u64,
}

/// How a run's process gets into the slot's cgroup(s) without waiting.
///
/// Moving a process with a write to `cgroup.procs` takes the kernel's global threadgroup
/// lock for writing, which waits for an RCU grace period (8-20 ms) whenever no task has
/// changed cgroups for a while — the normal case for a judge between submissions, and most of
/// a run's cost (BENCHMARKS.md). Two ways around it:
/// - v2: the process is born in the slot (`clone3` with `CLONE_INTO_CGROUP` and the slot's
///   directory), which takes that lock only for reading;
/// - v1: the process moves *itself* by writing "0" to `tasks`: a single thread moving
///   itself needs no threadgroup stability, and the kernel skips the lock.
#[derive(Debug, Clone, Default)]
pub struct Join {
    /// Files a process writes "0" to, to join the slot (v1 `tasks`; v2 `cgroup.procs` as the
    /// fallback where `clone3` is refused).
    pub write_zero: Vec<RawFd>,
    /// The slot's directory, for `CLONE_INTO_CGROUP` (v2).
    pub clone_into: Option<RawFd>,
}

/// One slot's cgroup(s).
pub trait SlotCgroup: Send {
    /// How a process joins the slot (descriptors stay valid until the next `prepare`).
    fn join(&self) -> Join;
    /// Make the cgroup ready for a run under `limits`: empty, limits written, counters noted;
    /// a slot whose leftover charge would count in the run's peak is replaced by a fresh one.
    fn prepare(&mut self, limits: &Limits) -> Result<Baseline, SandboxError>;
    /// CPU time charged to the slot since it was created.
    fn cpu_total(&self) -> Result<Duration, SandboxError>;
    /// What the run since `prepare` used.
    fn usage(&self, base: &Baseline) -> Result<Usage, SandboxError>;
    /// Pids (in the worker's PID namespace) currently in the slot.
    fn processes(&self) -> Result<Vec<libc::pid_t>, SandboxError>;
    /// The slot's `cgroup.procs` files, for reading without holding the slot.
    fn procs_paths(&self) -> Vec<PathBuf>;
    /// SIGKILL everything in the slot and wait (bounded) until it is empty.
    fn kill_all(&self) -> Result<(), SandboxError>;
}

/// The sandbox's cgroup subtree, where slots are created.
pub enum Hierarchy {
    V1(v1::Layout),
    V2(v2::Layout),
}

impl Hierarchy {
    /// Find a usable hierarchy and create `<worker's cgroup>/<name>` in it.
    pub fn open(version: CgroupVersion, name: &str) -> Result<Hierarchy, SandboxError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(SandboxError::InvalidSpec(format!(
                "cgroup name must be a plain directory name, got {name:?}"
            )));
        }
        let mounts = Mounts::read()?;
        match version {
            CgroupVersion::V1 => Ok(Hierarchy::V1(v1::Layout::create(&mounts, name)?)),
            CgroupVersion::V2 => Ok(Hierarchy::V2(v2::Layout::create(&mounts, name)?)),
            CgroupVersion::Auto => match v2::Layout::usable(&mounts) {
                Ok(()) => Ok(Hierarchy::V2(v2::Layout::create(&mounts, name)?)),
                Err(why) => {
                    tracing::debug!(%why, "cgroup v2 not usable, trying v1");
                    Ok(Hierarchy::V1(v1::Layout::create(&mounts, name)?))
                }
            },
        }
    }

    pub fn version(&self) -> CgroupVersion {
        match self {
            Hierarchy::V1(_) => CgroupVersion::V1,
            Hierarchy::V2(_) => CgroupVersion::V2,
        }
    }

    pub fn create_slot(&self, index: usize) -> Result<Box<dyn SlotCgroup>, SandboxError> {
        match self {
            Hierarchy::V1(l) => Ok(Box::new(l.create_slot(index)?)),
            Hierarchy::V2(l) => Ok(Box::new(l.create_slot(index)?)),
        }
    }

    /// Remove the subtree (slots first: drop them before calling this).
    pub fn remove(&self) {
        match self {
            Hierarchy::V1(l) => l.remove(),
            Hierarchy::V2(l) => l.remove(),
        }
    }
}

/// The cgroup mounts and the worker's own cgroup paths, from `/proc/self/{mountinfo,cgroup}`.
pub struct Mounts {
    /// (mount point, mount root, fstype, super options)
    entries: Vec<(PathBuf, String, String, Vec<String>)>,
    /// (controllers, path) from /proc/self/cgroup; v2's line has empty controllers.
    own: Vec<(Vec<String>, String)>,
}

impl Mounts {
    fn read() -> Result<Mounts, SandboxError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| SandboxError::io("reading /proc/self/mountinfo", e))?;
        let mut entries = Vec::new();
        for line in mountinfo.lines() {
            // id parent maj:min root mountpoint options [optional...] - fstype source superopts
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (Some(root), Some(point), Some(fstype)) = (left.get(3), left.get(4), right.first())
            else {
                continue;
            };
            if *fstype != "cgroup" && *fstype != "cgroup2" {
                continue;
            }
            let opts = right
                .get(2)
                .map(|o| o.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            entries.push((
                PathBuf::from(unescape_mountinfo(point)),
                unescape_mountinfo(root),
                (*fstype).to_owned(),
                opts,
            ));
        }
        let cgroup = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| SandboxError::io("reading /proc/self/cgroup", e))?;
        let own = cgroup
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let _id = parts.next()?;
                let ctrls = parts.next()?;
                let path = parts.next()?;
                let ctrls = ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                Some((ctrls, path.to_owned()))
            })
            .collect();
        Ok(Mounts { entries, own })
    }

    /// The directory of the worker's own cgroup in the v1 hierarchy of `controller`.
    fn v1_own_dir(&self, controller: &str) -> Option<PathBuf> {
        let (point, root, _, _) = self
            .entries
            .iter()
            .find(|(_, _, t, opts)| t == "cgroup" && opts.iter().any(|o| o == controller))?;
        let (_, path) = self
            .own
            .iter()
            .find(|(ctrls, _)| ctrls.iter().any(|c| c == controller))?;
        Some(join_cgroup_path(point, root, path))
    }

    /// The directory of the worker's own cgroup in the unified hierarchy.
    fn v2_own_dir(&self) -> Option<PathBuf> {
        let (point, root, _, _) = self.entries.iter().find(|(_, _, t, _)| t == "cgroup2")?;
        let (_, path) = self.own.iter().find(|(ctrls, _)| ctrls.is_empty())?;
        Some(join_cgroup_path(point, root, path))
    }
}

/// `mount point + (own path relative to the mount's root)`.
fn join_cgroup_path(point: &Path, root: &str, own: &str) -> PathBuf {
    let rel = own.strip_prefix(root).unwrap_or(own);
    let mut dir = point.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
    }
    dir
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|oct| c == b'\\' && oct.iter().all(|d| (b'0'..=b'7').contains(d)));
        if let Some(oct) = octal {
            let v = oct
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- small file helpers shared by v1 and v2 ----

fn io_err(what: impl std::fmt::Display, path: &Path, e: io::Error) -> SandboxError {
    SandboxError::io(format!("{what} {}", path.display()), e)
}

/// Open a cgroup control file for reading (pread at 0 re-reads it fresh).
fn open_read(path: &Path) -> Result<File, SandboxError> {
    File::open(path).map_err(|e| io_err("opening", path, e))
}

fn open_write(path: &Path) -> Result<File, SandboxError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err("opening", path, e))
}

fn open_rw(path: &Path) -> Result<File, SandboxError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err("opening", path, e))
}

/// The whole current content of an open control file.
fn read_at0(file: &File, path: &Path) -> Result<String, SandboxError> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = file
            .read_at(&mut buf[len..], len as u64)
            .map_err(|e| io_err("reading", path, e))?;
        if n == 0 {
            break;
        }
        len += n;
    }
    buf.truncate(len);
    String::from_utf8(buf)
        .map_err(|_| SandboxError::Setup(format!("{} is not valid UTF-8", path.display())))
}

fn write_file(path: &Path, value: &str) -> Result<(), SandboxError> {
    std::fs::write(path, value).map_err(|e| io_err(format!("writing {value:?} to"), path, e))
}

fn parse_u64(text: &str, path: &Path) -> Result<u64, SandboxError> {
    text.trim().parse().map_err(|_| {
        SandboxError::Setup(format!(
            "unexpected content in {}: {text:?}",
            path.display()
        ))
    })
}

/// The value of `key` in a flat-keyed file ("key value" per line).
fn keyed(text: &str, key: &str, path: &Path) -> Result<u64, SandboxError> {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .ok_or_else(|| SandboxError::Setup(format!("no {key} in {}", path.display())))
}

fn parse_pids(text: &str) -> Vec<libc::pid_t> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The union of the pids listed in `paths` (`cgroup.procs` files).
pub fn read_procs(paths: &[PathBuf]) -> Result<Vec<libc::pid_t>, SandboxError> {
    let mut all = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SandboxError::io(format!("reading {}", path.display()), e))?;
        for pid in parse_pids(&text) {
            if !all.contains(&pid) {
                all.push(pid);
            }
        }
    }
    Ok(all)
}

/// `mkdir`, accepting an existing directory (a slot left by a crashed worker is reused).
fn ensure_dir(path: &Path) -> Result<(), SandboxError> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err("creating cgroup", path, e)),
    }
}

/// `mkdir -p` for the sandbox's base directory.
fn ensure_dir_all(path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(path).map_err(|e| io_err("creating cgroup", path, e))
}

fn remove_dir(path: &Path) {
    if let Err(e) = std::fs::remove_dir(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove sandbox cgroup");
    }
}

/// SIGKILL the listed pids until `list` returns nothing, for at most two seconds. Only a
/// fallback: runs end by killing their PID namespace, which empties the cgroup by itself.
fn kill_until_empty(
    mut list: impl FnMut() -> Result<Vec<libc::pid_t>, SandboxError>,
    what: &Path,
) -> Result<(), SandboxError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    // Never this process (a slot that somehow lists it must not make it kill itself).
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    loop {
        let pids: Vec<libc::pid_t> = list()?.into_iter().filter(|&p| p != me).collect();
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(SandboxError::Setup(format!(
                "cgroup {} still has processes {pids:?} after SIGKILL",
                what.display()
            )));
        }
        for pid in pids {
            // SAFETY: plain syscall.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Where this process's sandboxes create their cgroups: the worker's own cgroup in each v1
/// hierarchy, and in v2 the delegated cgroup (the parent of the `.supervisor` leaf the worker
/// was moved into, if it was).
fn sandbox_parents(mounts: &Mounts) -> Vec<PathBuf> {
    let mut parents: Vec<PathBuf> = ["memory", "pids", "cpuacct"]
        .iter()
        .filter_map(|c| mounts.v1_own_dir(c))
        .collect();
    if let Some(own) = mounts.v2_own_dir() {
        let in_leaf = own
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".supervisor"));
        match own.parent() {
            Some(parent) if in_leaf => parents.push(parent.to_path_buf()),
            _ => parents.push(own),
        }
    }
    parents.sort();
    parents.dedup();
    parents
}

/// Kill whatever is left in a cgroup directory and everything under it (slots, the
/// sandboxes of a worker that ran inside it), and remove them, deepest first.
fn remove_sandbox_dir(dir: &Path) -> Result<(), SandboxError> {
    // Cgroup trees are the kernel's and shallow (nothing in a run can make one): a plain
    // walk, bounded anyway.
    let mut order = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(d) = order.get(i).cloned() {
        i += 1;
        if order.len() > 4096 {
            break;
        }
        if let Ok(it) = std::fs::read_dir(&d) {
            order.extend(
                it.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    for cg in order.iter().rev() {
        let procs = cg.join("cgroup.procs");
        kill_until_empty(|| read_procs(std::slice::from_ref(&procs)), cg)?;
        remove_dir(cg);
    }
    Ok(())
}

/// Removes the cgroups of sandboxes whose worker died without cleaning up (a SIGKILL, a
/// crash): directories `<prefix><pid>` beside where this process would create its own, whose
/// pid is no longer running. Any process still inside is killed first. Returns how many
/// were removed.
pub fn remove_stale(prefix: &str) -> Result<usize, SandboxError> {
    let mut removed = 0;
    for parent in sandbox_parents(&Mounts::read()?) {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists()
                || !entry.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let dir = entry.path();
            remove_sandbox_dir(&dir)?;
            if !dir.exists() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Removes the cgroups of the sandbox named `name` (its `cgroup_name`) that a process of
/// this worker made and could not remove itself, killing what is left in them.
pub fn remove_named(name: &str) -> Result<(), SandboxError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(SandboxError::InvalidSpec(format!(
            "cgroup name must be a plain directory name, got {name:?}"
        )));
    }
    for parent in sandbox_parents(&Mounts::read()?) {
        let dir = parent.join(name);
        if dir.is_dir() {
            remove_sandbox_dir(&dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_join_under_the_mount_root() {
        let p = join_cgroup_path(Path::new("/sys/fs/cgroup/memory"), "/", "/a/b");
        assert_eq!(p, PathBuf::from("/sys/fs/cgroup/memory/a/b"));
        let p = join_cgroup_path(Path::new("/sys/fs/cgroup"), "/docker/x", "/docker/x/w");
        assert_eq!(p, PathBuf::from("/sys/fs/cgroup/w"));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn keyed_values() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(t, "oom_kill", Path::new("x")).unwrap(), 3);
        assert!(keyed(t, "nope", Path::new("x")).is_err());
    }
}
