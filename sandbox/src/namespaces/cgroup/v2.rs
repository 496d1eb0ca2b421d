//! cgroup v2: one directory per slot under `<worker's cgroup>/<name>` in the unified
//! hierarchy.
//!
//! - Memory: `memory.max`, `memory.swap.max` = 0, `memory.oom.group` = 1 (an OOM kills the
//!   whole run, not one random process of it). Peak: `memory.peak`, reset per run by writing
//!   to the slot's open descriptor (kernel ≥ 6.12; on older kernels the slot directory is
//!   recreated before each run instead). A slot still charged with more than 1 MiB by earlier
//!   runs (tmpfs pages of a build, kernel objects freed after a grace period) is recreated
//!   too, as in v1: those pages cannot be reclaimed without swap, and would count in the next
//!   run's peak and limit. OOM kills: `oom_kill` in `memory.events`.
//! - Processes: `pids.max`. CPU: `usage_usec` in `cpu.stat` (present without the cpu
//!   controller). Killing: `cgroup.kill` (kernel ≥ 5.14). Joining: the program's process is
//!   born in the slot (`CLONE_INTO_CGROUP`, see [`Join`]).
//!
//! What it needs (a *delegated subtree*): the worker's own cgroup must list `memory` and
//! `pids` in `cgroup.controllers`, and the worker must be able to write its
//! `cgroup.subtree_control`. Because of the "no internal processes" rule a cgroup that
//! holds processes cannot enable controllers for its children, so if the worker's cgroup has
//! processes they are all moved into a leaf `<name>.supervisor` first: the worker, and
//! whatever shares its container's cgroup (`docker run --init`, a shell that did not `exec`). Under systemd
//! that is a unit with `Delegate=yes`; in Docker, a private cgroup namespace with a writable
//! cgroup mount (see the `namespaces` module doc).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Baseline, Join, Mounts, SlotCgroup, Usage, ensure_dir, ensure_dir_all, keyed, kill_until_empty,
    open_read, open_rw, open_write, parse_u64, read_at0, read_procs, remove_dir, write_file,
};
use crate::{Limits, SandboxError};

const NEEDED: [&str; 2] = ["memory", "pids"];
/// Start a run in a fresh slot cgroup when the leftover charge exceeds this.
const RENEW_ABOVE: u64 = 1 << 20;

pub struct Layout {
    base: PathBuf,
}

fn controllers(dir: &Path, file: &str) -> Result<Vec<String>, SandboxError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| SandboxError::io(format!("reading {}", path.display()), e))?;
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

fn missing(have: &[String]) -> Vec<&'static str> {
    NEEDED
        .iter()
        .copied()
        .filter(|c| !have.iter().any(|h| h == c))
        .collect()
}

fn enable_controllers(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids")
}

/// Move every process of `from` into `to`; processes that exit meanwhile are skipped.
fn move_all_processes(from: &Path, to: &Path) -> Result<usize, SandboxError> {
    let target = to.join("cgroup.procs");
    let mut moved = 0;
    // A few passes: a process may fork while we move its siblings.
    for _ in 0..3 {
        let pids = read_procs(&[from.join("cgroup.procs")])?;
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            match std::fs::write(&target, pid.to_string()) {
                Ok(()) => moved += 1,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    return Err(SandboxError::io(
                        format!("moving process {pid} into {}", to.display()),
                        e,
                    ));
                }
            }
        }
    }
    Ok(moved)
}

impl Layout {
    /// Whether the unified hierarchy can host the sandbox (why not, if it can't).
    pub fn usable(mounts: &Mounts) -> Result<(), String> {
        let own = mounts
            .v2_own_dir()
            .ok_or("no cgroup2 mount or no unified entry in /proc/self/cgroup")?;
        let have = controllers(&own, "cgroup.controllers").map_err(|e| e.to_string())?;
        let missing = missing(&have);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "controllers {missing:?} are not delegated to {}",
                own.display()
            ))
        }
    }

    pub fn create(mounts: &Mounts, name: &str) -> Result<Layout, SandboxError> {
        Layout::usable(mounts).map_err(|why| {
            SandboxError::Setup(format!("cgroup v2 cannot host the sandbox: {why}"))
        })?;
        let mut own = mounts
            .v2_own_dir()
            .ok_or_else(|| SandboxError::Setup("no cgroup2 mount".into()))?;
        // Already moved into a supervisor leaf by an earlier sandbox in this process: the
        // delegated cgroup is its parent.
        let supervisor = format!("{name}.supervisor");
        let in_leaf = own
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".supervisor"));
        if in_leaf && let Some(parent) = own.parent() {
            own = parent.to_path_buf();
        }
        let needs_enabling = !missing(&controllers(&own, "cgroup.subtree_control")?).is_empty();
        if needs_enabling && let Err(e) = enable_controllers(&own) {
            if e.raw_os_error() != Some(libc::EBUSY) {
                return Err(SandboxError::io(
                    format!("enabling controllers in {}", own.display()),
                    e,
                ));
            }
            // "No internal processes": move every process of the cgroup into a leaf (the
            // worker and whatever else shares it), then retry.
            let leaf = own.join(&supervisor);
            ensure_dir(&leaf)?;
            let moved = move_all_processes(&own, &leaf)?;
            tracing::info!(cgroup = %leaf.display(), processes = moved, "moved the worker's cgroup into a leaf");
            enable_controllers(&own).map_err(|e| {
                SandboxError::io(
                    format!(
                        "enabling controllers in {} (a process keeps joining it: start the worker \
                         in a cgroup of its own, or have its parent exec it)",
                        own.display()
                    ),
                    e,
                )
            })?;
        }
        let base = own.join(name);
        ensure_dir_all(&base)?;
        enable_controllers(&base).map_err(|e| {
            SandboxError::io(format!("enabling controllers in {}", base.display()), e)
        })?;
        Ok(Layout { base })
    }

    pub fn create_slot(&self, index: usize) -> Result<Slot, SandboxError> {
        let dir = self.base.join(format!("slot-{index}"));
        ensure_dir(&dir)?;
        let mut slot = Slot::open(dir)?;
        slot.kill_all()?;
        slot.peak_resettable = slot
            .files
            .memory_peak
            .as_ref()
            .is_some_and(|f| f.write_at(b"0", 0).is_ok());
        if !slot.peak_resettable {
            tracing::info!(
                "memory.peak cannot be reset (kernel < 6.12): slot cgroups are recreated per run"
            );
        }
        Ok(slot)
    }

    pub fn remove(&self) {
        remove_dir(&self.base);
    }
}

/// The slot's open control files; replaced as a whole when the directory is recreated.
struct Files {
    /// The directory itself, for `CLONE_INTO_CGROUP`.
    dir: File,
    procs: File,
    cpu_stat: File,
    memory_current: File,
    memory_events: File,
    memory_peak: Option<File>,
}

impl Files {
    /// Open the control files of a (new or reused) slot directory and set its fixed knobs.
    fn open(dir: &Path) -> Result<Files, SandboxError> {
        let peak = dir.join("memory.peak");
        let files = Files {
            dir: open_read(dir)?,
            procs: open_write(&dir.join("cgroup.procs"))?,
            cpu_stat: open_read(&dir.join("cpu.stat"))?,
            memory_current: open_read(&dir.join("memory.current"))?,
            memory_events: open_read(&dir.join("memory.events"))?,
            memory_peak: if peak.exists() {
                Some(open_rw(&peak)?)
            } else {
                None
            },
        };
        if dir.join("memory.swap.max").exists() {
            write_file(&dir.join("memory.swap.max"), "0")?;
        }
        write_file(&dir.join("memory.oom.group"), "1")?;
        Ok(files)
    }
}

pub struct Slot {
    dir: PathBuf,
    files: Files,
    peak_resettable: bool,
    last_memory: Option<u64>,
    last_pids: Option<u64>,
}

impl Slot {
    fn open(dir: PathBuf) -> Result<Slot, SandboxError> {
        Ok(Slot {
            files: Files::open(&dir)?,
            dir,
            peak_resettable: false,
            last_memory: None,
            last_pids: None,
        })
    }

    fn read(&self, file: &File, name: &str) -> Result<String, SandboxError> {
        read_at0(file, &self.dir.join(name))
    }

    fn memory_current(&self) -> Result<u64, SandboxError> {
        parse_u64(
            &self.read(&self.files.memory_current, "memory.current")?,
            &self.dir.join("memory.current"),
        )
    }

    fn oom_kills(&self) -> Result<u64, SandboxError> {
        keyed(
            &self.read(&self.files.memory_events, "memory.events")?,
            "oom_kill",
            &self.dir.join("memory.events"),
        )
    }

    /// A fresh slot directory: a new `memory.peak` on kernels that cannot reset it, and a
    /// charge of zero. Its limits are the defaults again, so they are rewritten.
    fn recreate(&mut self) -> Result<(), SandboxError> {
        std::fs::remove_dir(&self.dir)
            .map_err(|e| SandboxError::io(format!("removing {}", self.dir.display()), e))?;
        ensure_dir(&self.dir)?;
        self.files = Files::open(&self.dir)?;
        self.last_memory = None;
        self.last_pids = None;
        Ok(())
    }
}

impl SlotCgroup for Slot {
    fn join(&self) -> Join {
        Join {
            write_zero: vec![self.files.procs.as_raw_fd()],
            clone_into: Some(self.files.dir.as_raw_fd()),
        }
    }

    fn prepare(&mut self, limits: &Limits) -> Result<Baseline, SandboxError> {
        if !self.processes()?.is_empty() {
            tracing::warn!(cgroup = %self.dir.display(), "slot cgroup not empty before a run");
            self.kill_all()?;
        }
        if !self.peak_resettable || self.memory_current()? > RENEW_ABOVE {
            self.recreate()?;
        }
        let memory = limits.memory_bytes.max(1 << 20);
        if self.last_memory != Some(memory) {
            write_file(&self.dir.join("memory.max"), &memory.to_string())?;
            self.last_memory = Some(memory);
        }
        let pids = limits.processes.max(1);
        if self.last_pids != Some(pids) {
            write_file(&self.dir.join("pids.max"), &pids.to_string())?;
            self.last_pids = Some(pids);
        }
        if let (true, Some(peak)) = (self.peak_resettable, &self.files.memory_peak) {
            peak.write_at(b"0", 0).map_err(|e| {
                SandboxError::io(format!("resetting {}/memory.peak", self.dir.display()), e)
            })?;
        }
        Ok(Baseline {
            cpu: self.cpu_total()?,
            oom_kills: self.oom_kills()?,
        })
    }

    fn cpu_total(&self) -> Result<Duration, SandboxError> {
        let path = self.dir.join("cpu.stat");
        let usec = keyed(&read_at0(&self.files.cpu_stat, &path)?, "usage_usec", &path)?;
        Ok(Duration::from_micros(usec))
    }

    fn usage(&self, base: &Baseline) -> Result<Usage, SandboxError> {
        let peak = match &self.files.memory_peak {
            Some(f) => parse_u64(&self.read(f, "memory.peak")?, &self.dir.join("memory.peak"))?,
            None => self.memory_current()?,
        };
        Ok(Usage {
            cpu: self.cpu_total()?.saturating_sub(base.cpu),
            peak_memory: peak,
            oom_kills: self.oom_kills()?.saturating_sub(base.oom_kills),
        })
    }

    fn processes(&self) -> Result<Vec<libc::pid_t>, SandboxError> {
        read_procs(&self.procs_paths())
    }

    fn procs_paths(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn kill_all(&self) -> Result<(), SandboxError> {
        // cgroup.kill also stops new forks racing the kill; fall back to pid-by-pid.
        let _ = write_file(&self.dir.join("cgroup.kill"), "1");
        kill_until_empty(|| self.processes(), &self.dir)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Err(e) = self.kill_all() {
            tracing::warn!(error = %e, "sandbox slot cgroup could not be emptied");
        }
        remove_dir(&self.dir);
    }
}
