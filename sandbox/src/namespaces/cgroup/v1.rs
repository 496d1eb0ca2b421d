//! cgroup v1: one directory per slot in each of the `memory`, `pids` and `cpuacct`
//! hierarchies.
//!
//! - Memory: `memory.limit_in_bytes`, and `memory.memsw.limit_in_bytes` set to the same value
//!   so that nothing can be swapped out (memsw is memory + swap); `memory.swappiness` 0.
//!   Peak: `memory.max_usage_in_bytes`, reset by writing 0 before each run. OOM kills:
//!   the `oom_kill` counter of `memory.oom_control` (kernel ≥ 4.13).
//! - Processes: `pids.max`.
//! - CPU: `cpuacct.usage` (nanoseconds, every task that ever ran in the cgroup).
//!
//! Memory still charged to an empty slot (page cache of files earlier runs wrote, e.g. the
//! compiled binary; kernel objects of the last run's namespaces, freed only after an RCU grace
//! period) would be part of the next run's peak. When it exceeds [`RECLAIM_ABOVE`], the slot's
//! memory cgroup is replaced by a fresh one before the run: removing a cgroup takes ~2 ms
//! whatever is still charged to it (the kernel frees that later), while reclaiming the charge
//! in place (`memory.force_empty`) took ~100 ms whenever part of it could not be freed yet,
//! which under load was most runs (see BENCHMARKS.md). Below the threshold the leftover stays
//! and may be counted in the run's peak.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Baseline, Join, Mounts, SlotCgroup, Usage, ensure_dir, keyed, kill_until_empty, open_read,
    open_rw, open_write, parse_u64, read_at0, read_procs, remove_dir, write_file,
};
use crate::{Limits, SandboxError};

/// Start a run in a fresh memory cgroup when the slot's leftover charge exceeds this.
const RECLAIM_ABOVE: u64 = 1 << 20;

/// `<worker's cgroup>/<name>` in each of the three hierarchies.
pub struct Layout {
    memory: PathBuf,
    pids: PathBuf,
    cpuacct: PathBuf,
    memsw: bool,
}

impl Layout {
    pub fn create(mounts: &Mounts, name: &str) -> Result<Layout, SandboxError> {
        let dir = |ctrl: &str| {
            mounts
                .v1_own_dir(ctrl)
                .map(|d| d.join(name))
                .ok_or_else(|| {
                    SandboxError::Setup(format!(
                        "no cgroup v1 hierarchy with the {ctrl} controller is mounted"
                    ))
                })
        };
        let layout = Layout {
            memory: dir("memory")?,
            pids: dir("pids")?,
            cpuacct: dir("cpuacct")?,
            memsw: false,
        };
        for d in layout.dirs() {
            super::ensure_dir_all(d)?;
        }
        let memsw = layout.memory.join("memory.memsw.limit_in_bytes").exists();
        if !memsw {
            tracing::warn!(
                "cgroup v1 without swap accounting (memory.memsw.*): programs could be \
                 swapped out if the host has swap; boot with swapaccount=1 or disable swap"
            );
        }
        Ok(Layout { memsw, ..layout })
    }

    fn dirs(&self) -> [&Path; 3] {
        [&self.memory, &self.pids, &self.cpuacct]
    }

    pub fn create_slot(&self, index: usize) -> Result<Slot, SandboxError> {
        let name = format!("slot-{index}");
        let memory = self.memory.join(&name);
        let pids = self.pids.join(&name);
        let cpuacct = self.cpuacct.join(&name);
        let mut procs = Vec::new();
        for d in [&memory, &pids, &cpuacct] {
            ensure_dir(d)?;
            // Several controllers can share one hierarchy ("cpu,cpuacct"): join each once.
            if !procs.iter().any(|(p, _): &(PathBuf, File)| p == d) {
                let f = open_write(&d.join("tasks"))?;
                procs.push((d.clone(), f));
            }
        }
        // Swap off for this slot; harmless where the host has no swap.
        let _ = write_file(&memory.join("memory.swappiness"), "0");
        let slot = Slot {
            cpu_usage: open_read(&cpuacct.join("cpuacct.usage"))?,
            mem_usage: open_read(&memory.join("memory.usage_in_bytes"))?,
            mem_max_usage: open_rw(&memory.join("memory.max_usage_in_bytes"))?,
            oom_control: open_read(&memory.join("memory.oom_control"))?,
            memory,
            pids,
            cpuacct,
            procs,
            memsw: self.memsw,
            last_memory: None,
            last_pids: None,
        };
        slot.kill_all()?;
        Ok(slot)
    }

    pub fn remove(&self) {
        for d in self.dirs() {
            remove_dir(d);
        }
    }
}

pub struct Slot {
    memory: PathBuf,
    pids: PathBuf,
    cpuacct: PathBuf,
    /// Each hierarchy's directory and its open `tasks` file (see [`Join`]).
    procs: Vec<(PathBuf, File)>,
    cpu_usage: File,
    mem_usage: File,
    mem_max_usage: File,
    oom_control: File,
    memsw: bool,
    last_memory: Option<u64>,
    last_pids: Option<u64>,
}

impl Slot {
    fn read_u64(&self, file: &File, name: &str) -> Result<u64, SandboxError> {
        let path = self.memory.join(name);
        parse_u64(&read_at0(file, &path)?, &path)
    }

    fn memory_usage(&self) -> Result<u64, SandboxError> {
        self.read_u64(&self.mem_usage, "memory.usage_in_bytes")
    }

    fn oom_kills(&self) -> Result<u64, SandboxError> {
        let path = self.memory.join("memory.oom_control");
        keyed(&read_at0(&self.oom_control, &path)?, "oom_kill", &path)
    }

    /// Replaces the (empty) slot's memory cgroup with a fresh one, leaving earlier runs'
    /// charges behind with the old one.
    fn renew_memory(&mut self) -> Result<(), SandboxError> {
        if self.memory == self.pids || self.memory == self.cpuacct {
            // One hierarchy holds several controllers: renewing would reset them too.
            let _ = write_file(&self.memory.join("memory.force_empty"), "0");
            return Ok(());
        }
        std::fs::remove_dir(&self.memory)
            .map_err(|e| super::io_err("removing the slot's memory cgroup", &self.memory, e))?;
        ensure_dir(&self.memory)?;
        let _ = write_file(&self.memory.join("memory.swappiness"), "0");
        self.mem_usage = open_read(&self.memory.join("memory.usage_in_bytes"))?;
        self.mem_max_usage = open_rw(&self.memory.join("memory.max_usage_in_bytes"))?;
        self.oom_control = open_read(&self.memory.join("memory.oom_control"))?;
        for (dir, file) in &mut self.procs {
            if *dir == self.memory {
                *file = open_write(&dir.join("tasks"))?;
            }
        }
        self.last_memory = None;
        Ok(())
    }

    fn set_memory_limit(&mut self, bytes: u64) -> Result<(), SandboxError> {
        if self.last_memory == Some(bytes) {
            return Ok(());
        }
        let limit = self.memory.join("memory.limit_in_bytes");
        let memsw = self.memory.join("memory.memsw.limit_in_bytes");
        let value = bytes.to_string();
        if self.memsw {
            // memsw must stay >= limit at every step: lift it, set the limit, lower it again.
            write_file(&memsw, "-1")?;
            write_file(&limit, &value)?;
            write_file(&memsw, &value)?;
        } else {
            write_file(&limit, &value)?;
        }
        self.last_memory = Some(bytes);
        Ok(())
    }
}

impl SlotCgroup for Slot {
    fn join(&self) -> Join {
        Join {
            write_zero: self.procs.iter().map(|(_, f)| f.as_raw_fd()).collect(),
            clone_into: None,
        }
    }

    fn prepare(&mut self, limits: &Limits) -> Result<Baseline, SandboxError> {
        if !self.processes()?.is_empty() {
            tracing::warn!(cgroup = %self.memory.display(), "slot cgroup not empty before a run");
            self.kill_all()?;
        }
        if self.memory_usage()? > RECLAIM_ABOVE {
            self.renew_memory()?;
        }
        self.set_memory_limit(limits.memory_bytes.max(1 << 20))?;
        let pids = limits.processes.max(1);
        if self.last_pids != Some(pids) {
            write_file(&self.pids.join("pids.max"), &pids.to_string())?;
            self.last_pids = Some(pids);
        }
        self.mem_max_usage.write_at(b"0", 0).map_err(|e| {
            SandboxError::io(
                format!(
                    "resetting {}/memory.max_usage_in_bytes",
                    self.memory.display()
                ),
                e,
            )
        })?;
        Ok(Baseline {
            cpu: self.cpu_total()?,
            oom_kills: self.oom_kills()?,
        })
    }

    fn cpu_total(&self) -> Result<Duration, SandboxError> {
        let path = self.cpuacct.join("cpuacct.usage");
        Ok(Duration::from_nanos(parse_u64(
            &read_at0(&self.cpu_usage, &path)?,
            &path,
        )?))
    }

    fn usage(&self, base: &Baseline) -> Result<Usage, SandboxError> {
        let max = self.read_u64(&self.mem_max_usage, "memory.max_usage_in_bytes")?;
        Ok(Usage {
            cpu: self.cpu_total()?.saturating_sub(base.cpu),
            peak_memory: max,
            oom_kills: self.oom_kills()?.saturating_sub(base.oom_kills),
        })
    }

    fn processes(&self) -> Result<Vec<libc::pid_t>, SandboxError> {
        read_procs(&self.procs_paths())
    }

    fn procs_paths(&self) -> Vec<PathBuf> {
        self.procs
            .iter()
            .map(|(d, _)| d.join("cgroup.procs"))
            .collect()
    }

    fn kill_all(&self) -> Result<(), SandboxError> {
        kill_until_empty(|| self.processes(), &self.memory)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Err(e) = self.kill_all() {
            tracing::warn!(error = %e, "sandbox slot cgroup could not be emptied");
        }
        for d in [&self.memory, &self.pids, &self.cpuacct] {
            remove_dir(d);
        }
    }
}
