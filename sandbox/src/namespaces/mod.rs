//! The isolated sandbox: Linux namespaces, a fresh read-only root, per-slot cgroups, an
//! unprivileged uid without capabilities, `no_new_privs`, a seccomp filter and rlimits.
//!
//! # How a run goes
//! 1. The worker prepares everything while it may still allocate: argv/env as C strings, the
//!    root template for this set of binds (built once, cached; `root.rs`), a detached bind
//!    mount of the work dir (`open_tree`), stdin (a sealed memfd, a regular file opened
//!    `O_NOFOLLOW`, or `/dev/null`), pipes, the slot cgroup's limits and counters.
//! 2. It clones **init** into new PID, IPC and UTS namespaces (sharing the worker's memory,
//!    on a stack of its own: no page tables are copied, whatever the worker's size; see
//!    `child.rs`). Init joins the slot's empty network namespace (`netns.rs`) and the root
//!    template, copies it into a private mount namespace, mounts `/proc`
//!    (`hidepid=invisible`), a size- and inode-capped `/tmp` and the work dir at
//!    [`WORK_DIR`], and clones the program's process, vfork-style.
//! 3. The program's process joins the slot cgroup, unshares a cgroup namespace, resets its
//!    signal state, drops to the slot's uid/gid with every capability gone, sets
//!    `no_new_privs` and rlimits, installs the seccomp filter (`seccomp.rs`) and execs.
//! 4. The worker reads output (capped), samples the cgroup's CPU time, and on a limit
//!    SIGKILLs init, which takes the whole PID namespace with it (`supervise.rs`). When the
//!    program's main process ends, init reports its status and exits, which kills anything
//!    it left behind. The verdict comes from init's report, the kill reason and the cgroup
//!    (OOM kills, CPU time, peak memory). The slot cgroup is checked empty before returning.
//!
//! What is reused, because creating it per run is what makes sandboxes slow: the network
//! namespace (one per slot), the cgroups (one set per slot), the root (one per bind set).
//! What is fresh per run: PID, IPC, UTS, cgroup and (a copy of the) mount namespace, `/proc`,
//! `/tmp`. Nothing survives a run: not a process (PID namespace), not a mount (they live in
//! the run's mount namespace only), not a SysV object (IPC namespace), not a file in `/tmp`.
//!
//! # Using it from the judge
//! `RunSpec::read_only_binds` lists host paths as the language table names them (`/usr`,
//! `/lib`, `/lib64`, `/bin`, `/etc`, the JDK home...). Symlinks among them are recreated as
//! symlinks, paths under another bind are skipped, missing ones are skipped. `/etc` is
//! special: only [`NamespaceConfig::etc_allow`] entries of it are bound (never `shadow`),
//! plus a synthetic `passwd`/`group`/`hosts`. The work dir is shown at [`WORK_DIR`] (`/box`)
//! and is the cwd, so `./main` works; it is chowned to the slot's uid before each run.
//! argv[0] must be absolute inside the sandbox or relative to the work dir (no `PATH`
//! lookup). The environment is exactly `RunSpec::env`. Afterwards, read and write work-dir
//! files only with [`read_work_file`] / [`create_work_file`] (no symlinks followed, regular
//! files only). Put work dirs on a size-capped file system (a tmpfs): `RLIMIT_FSIZE` caps one
//! file, not how many files a program creates there.
//!
//! # Requirements
//! Root (real `CAP_SYS_ADMIN` in the initial user namespace) and Linux ≥ 5.12 (`open_tree`,
//! `move_mount`, `mount_setattr`, `close_range`, pidfds). Slot uids `base_uid..base_uid+slots`
//! must belong to nobody else on the host (RLIMIT_NPROC and file ownership are per uid).
//!
//! cgroup v1 (these machines): the `memory`, `pids` and `cpuacct` hierarchies mounted; swap
//! accounting (`memory.memsw.*`) for "no swap". cgroup v2: the worker's own cgroup must have
//! the `memory` and `pids` controllers in `cgroup.controllers` and be writable by the worker
//! (a delegated subtree: systemd `Delegate=yes`); if that cgroup holds processes, the worker
//! moves itself into a leaf `<cgroup_name>.supervisor` so it can enable them for its
//! children. `memory.peak` resets per run on kernel ≥ 6.12 (older: slot cgroup recreated per
//! run).
//!
//! # What a worker container needs
//! - Root in the host's user namespace (no `userns-remap`), with `CAP_SYS_ADMIN` (mounts,
//!   `setns`, `unshare`, `pivot_root`, `open_tree`/`move_mount`, `sethostname`),
//!   `CAP_SYS_CHROOT` (`setns` into a mount namespace), `CAP_SETUID`, `CAP_SETGID`,
//!   `CAP_SETPCAP` (emptying the bounding set), `CAP_CHOWN` (the work dir), `CAP_KILL`
//!   (stragglers of another uid) and `CAP_SYS_RESOURCE` if limits exceed its own hard rlimits.
//!   `--privileged` covers all of it.
//! - No seccomp or AppArmor profile that forbids those calls: Docker's default profiles do
//!   (`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, implied by
//!   `--privileged`).
//! - A writable cgroup subtree with `memory` and `pids`: with cgroup v2, a private cgroup
//!   namespace (`--cgroupns=private`, Docker's default on v2) and `/sys/fs/cgroup` mounted
//!   read-write (Docker mounts it read-only unless `--privileged`); the worker then moves
//!   itself into a leaf cgroup as described above. Kubernetes: a privileged container (or the
//!   capabilities above with `seccompProfile: Unconfined` and AppArmor unconfined) on a
//!   cgroup v2 node.
//! - Nothing for networking: runs get an empty network namespace made here. The container's
//!   own network is never shared with a run.
//! - The toolchains at the paths the language table names, and work dirs on a size-capped
//!   file system.
//!
//! The supervisor's own environment and memory never reach a run: the program gets exactly
//! `RunSpec::env`, and init (a copy of the worker) is another uid, untraceable and hidden.

mod cgroup;
mod child;
mod hostfs;
mod netns;
mod prepare;
mod root;
mod seccomp;
mod supervise;
mod sys;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libc::c_int;

pub use cgroup::CgroupVersion;
pub use cgroup::remove_stale as remove_stale_cgroups;

pub use hostfs::{create_work_file, read_work_file};

use crate::{Limits, RunReport, RunSpec, Sandbox, SandboxError, Termination};
use cgroup::{Hierarchy, SlotCgroup};
use child::{InitPlan, KIND_EXITED, KIND_FAILED, ProgramPlan, RECORD_SIZE, Record, Stage};
use netns::EmptyNetns;
use prepare::{CStrings, above_stdio, check_spec, open_stdin, pipe, rlimits, work_dir_tree};
use root::{RootConfig, RootTemplate};
use supervise::{Kill, Watch};

/// Where the work dir appears inside the sandbox; the program's cwd.
pub const WORK_DIR: &str = "/box";

/// Configuration of a [`NamespaceSandbox`]; per sandbox, not per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Number of slots: `run` accepts slot indexes `0..slots`.
    pub slots: usize,
    /// Slot `n` runs as uid and gid `base_uid + n`. These ids must belong to nobody else.
    pub base_uid: u32,
    /// Directory created under the worker's own cgroup for the slots' cgroups.
    pub cgroup_name: String,
    pub cgroup_version: CgroupVersion,
    /// Size cap of each run's private `/tmp` (charged to the run's memory too).
    pub tmp_size_bytes: u64,
    /// Inode cap of each run's `/tmp`.
    pub tmp_inodes: u64,
    /// Entries of the host's `/etc` a run sees when it binds `/etc`.
    pub etc_allow: Vec<String>,
    /// Hostname inside the sandbox.
    pub hostname: String,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig {
            slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
            base_uid: 60_000,
            cgroup_name: "judge-sandbox".into(),
            cgroup_version: CgroupVersion::Auto,
            tmp_size_bytes: 64 << 20,
            tmp_inodes: 4096,
            etc_allow: [
                "alternatives",
                "ld.so.cache",
                "ld.so.conf",
                "ld.so.conf.d",
                "localtime",
                "timezone",
                "nsswitch.conf",
                "java-17-openjdk",
                "java-21-openjdk",
            ]
            .map(String::from)
            .to_vec(),
            hostname: "sandbox".into(),
        }
    }
}

struct Slot {
    cgroup: Box<dyn SlotCgroup>,
    netns: EmptyNetns,
    /// Stacks of the run's init and of the program's process before exec (`child.rs`).
    init_stack: sys::ChildStack,
    program_stack: sys::ChildStack,
}

/// Size of each child stack; the code between clone and exec needs a few KiB.
const CHILD_STACK: usize = 256 << 10;

/// What can be read about a slot without waiting for its run to end.
struct SlotInfo {
    procs_paths: Vec<std::path::PathBuf>,
}

/// The isolated sandbox; see the module documentation.
pub struct NamespaceSandbox {
    config: NamespaceConfig,
    slots: Vec<Mutex<Slot>>,
    info: Vec<SlotInfo>,
    hierarchy: Hierarchy,
    filters: seccomp::Filters,
    roots: Mutex<Vec<(Vec<std::path::PathBuf>, Arc<RootTemplate>)>>,
    users: Vec<(String, u32, u32)>,
    worker_pidfd: OwnedFd,
    cap_last: c_int,
    cpus: u32,
    hostname: CString,
    proc_options: CString,
    tmp_options: CString,
}

impl std::fmt::Debug for NamespaceSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceSandbox")
            .field("config", &self.config)
            .field("cgroup", &self.hierarchy.version())
            .finish_non_exhaustive()
    }
}

fn setup(msg: impl Into<String>) -> SandboxError {
    SandboxError::Setup(msg.into())
}

fn invalid(msg: impl Into<String>) -> SandboxError {
    SandboxError::InvalidSpec(msg.into())
}

fn cap_last_cap() -> c_int {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl NamespaceSandbox {
    /// Set up the slots: a cgroup set and an empty network namespace each, and the seccomp
    /// filters. Roots are built on first use per bind set (or ahead with [`Self::prepare_root`]).
    pub fn new(config: NamespaceConfig) -> Result<Self, SandboxError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(setup("the namespace sandbox must run as root"));
        }
        if config.slots == 0 {
            return Err(invalid("slots must be at least 1"));
        }
        let last_uid = u64::from(config.base_uid) + config.slots as u64;
        if config.base_uid < 1000 || last_uid >= u64::from(u32::MAX) {
            return Err(invalid(format!(
                "base_uid {} (+{} slots) is not a usable unprivileged uid range",
                config.base_uid, config.slots
            )));
        }
        if config.tmp_size_bytes == 0 || config.tmp_inodes == 0 {
            return Err(invalid("the /tmp size and inode caps must be positive"));
        }
        let hostname = CString::new(config.hostname.as_bytes())
            .ok()
            .filter(|h| !h.is_empty() && h.as_bytes().len() <= 64)
            .ok_or_else(|| invalid("hostname must be 1-64 bytes without NUL"))?;
        let tmp_options = CString::new(format!(
            "size={},nr_inodes={},mode=1777",
            config.tmp_size_bytes, config.tmp_inodes
        ))
        .map_err(|_| invalid("tmp options"))?;

        // Fail now, not at the first run, where the new mount API is missing or forbidden.
        sys::detached_bind(libc::AT_FDCWD, c"/dev/null", false, 0).map_err(|e| {
            SandboxError::io(
                "probing open_tree/mount_setattr (Linux >= 5.12 and CAP_SYS_ADMIN needed)",
                e,
            )
        })?;
        let filters = seccomp::Filters::build()?;
        let hierarchy = Hierarchy::open(config.cgroup_version, &config.cgroup_name)?;
        let mut slots = Vec::with_capacity(config.slots);
        let mut info = Vec::with_capacity(config.slots);
        for i in 0..config.slots {
            let cgroup = hierarchy.create_slot(i)?;
            info.push(SlotInfo {
                procs_paths: cgroup.procs_paths(),
            });
            let stack = || {
                sys::ChildStack::new(CHILD_STACK)
                    .map_err(|e| SandboxError::io("mapping a child stack", e))
            };
            slots.push(Mutex::new(Slot {
                cgroup,
                netns: EmptyNetns::create()?,
                init_stack: stack()?,
                program_stack: stack()?,
            }));
        }
        let worker_pidfd = sys::pidfd_open(std::process::id() as libc::pid_t)
            .map_err(|e| SandboxError::io("pidfd_open of the worker", e))?;
        let users = (0..config.slots)
            .map(|i| {
                let id = config.base_uid + i as u32;
                (format!("sandbox{i}"), id, id)
            })
            .collect();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        tracing::info!(
            slots = config.slots,
            base_uid = config.base_uid,
            cgroup = ?hierarchy.version(),
            "namespace sandbox ready"
        );
        Ok(NamespaceSandbox {
            config,
            slots,
            info,
            hierarchy,
            filters,
            roots: Mutex::new(Vec::new()),
            users,
            worker_pidfd,
            cap_last: cap_last_cap(),
            cpus,
            hostname,
            proc_options: c"hidepid=invisible".into(),
            tmp_options,
        })
    }

    pub fn config(&self) -> &NamespaceConfig {
        &self.config
    }

    /// The cgroup hierarchy chosen at start-up (never `Auto`).
    pub fn cgroup_version(&self) -> CgroupVersion {
        self.hierarchy.version()
    }

    /// The uid (and gid) programs in `slot` run as.
    pub fn slot_uid(&self, slot: usize) -> Option<u32> {
        (slot < self.config.slots).then(|| self.config.base_uid + slot as u32)
    }

    /// Processes currently in the slot's cgroup (empty between runs). Does not wait for a
    /// run in progress.
    pub fn slot_processes(&self, slot: usize) -> Result<Vec<libc::pid_t>, SandboxError> {
        let info = self
            .info
            .get(slot)
            .ok_or_else(|| invalid(format!("no slot {slot}")))?;
        cgroup::read_procs(&info.procs_paths)
    }

    /// Build (and cache) the root for this bind set now rather than on the first run.
    pub fn prepare_root(&self, binds: &[std::path::PathBuf]) -> Result<(), SandboxError> {
        self.root_for(binds).map(drop)
    }

    fn root_for(&self, binds: &[std::path::PathBuf]) -> Result<Arc<RootTemplate>, SandboxError> {
        let key = root::normalize_binds(binds)?;
        let mut roots = self.roots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, r)) = roots.iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(r));
        }
        let started = Instant::now();
        let template = Arc::new(root::build(
            &key,
            &RootConfig {
                etc_allow: &self.config.etc_allow,
                users: &self.users,
            },
        )?);
        tracing::debug!(binds = ?key, elapsed = ?started.elapsed(), "sandbox root prepared");
        roots.push((key, Arc::clone(&template)));
        Ok(template)
    }
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // A panic while holding the lock leaves nothing half-done that the next run's checks
    // (empty cgroup, fresh namespaces) would not catch.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for NamespaceSandbox {
    fn drop(&mut self) {
        // Slots (their cgroups) before the directory that holds them.
        self.slots.clear();
        self.hierarchy.remove();
    }
}

/// Kills and reaps init when dropped, unless it is already reaped: init shares the worker's
/// memory and reads the run's plan, so it must be gone before the plan is freed, also when
/// the run ends early by an error or a panic.
struct KillOnDrop<'a>(&'a OwnedFd);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        // Harmless when init was already reaped: the pidfd then refers to no process.
        let _ = sys::pidfd_send_signal(self.0.as_raw_fd(), libc::SIGKILL);
        let _ = supervise::reap(self.0);
    }
}

fn decode_records(bytes: &[u8]) -> Vec<Record> {
    bytes
        .chunks_exact(RECORD_SIZE)
        .filter_map(|c| {
            <&[u8; RECORD_SIZE]>::try_from(c)
                .ok()
                .map(Record::from_bytes)
        })
        .collect()
}

impl NamespaceSandbox {
    fn run_in_slot(
        &self,
        index: usize,
        slot: &mut Slot,
        spec: &RunSpec,
    ) -> Result<RunReport, SandboxError> {
        check_spec(spec)?;
        let uid = self.config.base_uid + index as u32;
        let argv = CStrings::new(&spec.argv, "argv")?;
        let env = CStrings::new(&spec.env, "environment")?;
        let root = self.root_for(&spec.read_only_binds)?;
        let work_tree = above_stdio(work_dir_tree(spec, uid)?)?;
        let stdin = above_stdio(open_stdin(&spec.stdin)?)?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let baseline = slot.cgroup.prepare(&spec.limits)?;
        let rlimits = rlimits(&spec.limits);
        let fprogs = self.filters.fprogs();
        let procs_fds = slot.cgroup.procs_fds();

        let mut keep: Vec<RawFd> = vec![
            self.worker_pidfd.as_raw_fd(),
            status_w.as_raw_fd(),
            slot.netns.fd().as_raw_fd(),
            root.fd(),
            work_tree.as_raw_fd(),
            stdin.as_raw_fd(),
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
        ];
        keep.extend(&procs_fds);
        keep.sort_unstable();
        keep.dedup();

        let plan = InitPlan {
            keep_fds: &keep,
            worker_pidfd: self.worker_pidfd.as_raw_fd(),
            status_fd: status_w.as_raw_fd(),
            netns_fd: slot.netns.fd().as_raw_fd(),
            root_fd: root.fd(),
            work_tree_fd: work_tree.as_raw_fd(),
            hostname: &self.hostname,
            proc_options: &self.proc_options,
            tmp_options: &self.tmp_options,
            program_stack: slot.program_stack.top(),
            program: ProgramPlan {
                stdin_fd: stdin.as_raw_fd(),
                stdout_fd: out_w.as_raw_fd(),
                stderr_fd: err_w.as_raw_fd(),
                cgroup_procs_fds: &procs_fds,
                rlimits: &rlimits,
                cap_last: self.cap_last,
                uid,
                gid: uid,
                filters: &fprogs,
                path: argv.ptrs[0],
                argv: argv.ptrs.as_ptr(),
                envp: env.ptrs.as_ptr(),
            },
        };

        let started = Instant::now();
        let flags = (libc::CLONE_VM
            | libc::CLONE_PIDFD
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::SIGCHLD) as libc::c_ulong;
        let mut raw_pidfd: c_int = -1;
        // Init inherits this mask and keeps it: none of the worker's signal handlers may run
        // in a process that shares the worker's memory.
        let mask = sys::block_all_signals();
        // SAFETY: init runs child::init_entry on its own stack; it reads `plan`, which stays
        // alive and unchanged until `_init` below has made sure init is gone.
        let pid = unsafe {
            sys::clone_on_stack(
                flags,
                slot.init_stack.top(),
                &mut raw_pidfd,
                child::init_entry,
                &plan as *const InitPlan as *mut libc::c_void,
            )
        };
        sys::restore_signals(mask);
        if pid < 0 {
            return Err(SandboxError::io(
                "cloning the sandbox init",
                std::io::Error::from_raw_os_error((-pid) as i32),
            ));
        }
        // SAFETY: CLONE_PIDFD stored a new descriptor that we now own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw_pidfd) };
        // Declared after `plan`, so dropped (init killed and reaped) before it, on every path.
        let _init = KillOnDrop(&pidfd);
        // The child's ends: once they are closed here, EOF means the run's processes are gone.
        drop((out_w, err_w, status_w, stdin, work_tree));

        let outcome = supervise::watch(Watch {
            pidfd: &pidfd,
            stdout: out_r,
            stderr: err_r,
            status: status_r,
            limits: &spec.limits,
            cgroup: slot.cgroup.as_ref(),
            cpu_base: baseline.cpu,
            cpus: self.cpus,
            started,
        });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // Never leave a run behind: kill it and empty the cgroup before reporting.
                let _ = sys::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL);
                let _ = supervise::reap(&pidfd);
                let _ = slot.cgroup.kill_all();
                return Err(e);
            }
        };
        let usage = slot.cgroup.usage(&baseline)?;
        if !slot.cgroup.processes()?.is_empty() {
            tracing::warn!(
                slot = index,
                "processes left in the slot cgroup after the run"
            );
            slot.cgroup.kill_all()?;
        }

        let records = decode_records(&outcome.status);
        if let Some(f) = records.iter().find(|r| r.kind == KIND_FAILED) {
            let stage = Stage::from_u32(f.stage).map_or("sandbox setup", Stage::describe);
            let err = std::io::Error::from_raw_os_error(f.errno);
            return Err(if f.stage == Stage::Exec as u32 {
                setup(format!("{stage} {:?}: {err}", spec.argv[0]))
            } else {
                setup(format!("{stage}: {err}"))
            });
        }
        let exit = records
            .iter()
            .find(|r| r.kind == KIND_EXITED)
            .map(|r| r.status);
        if exit.is_none() && outcome.kill.is_none() {
            return Err(setup(
                "the sandbox init ended without reporting the program's status",
            ));
        }

        let termination = decide(&spec.limits, outcome.kill, exit, usage.cpu, usage.oom_kills);
        Ok(RunReport {
            termination,
            cpu_time: usage.cpu,
            wall_time: outcome.wall,
            peak_memory_bytes: usage.peak_memory,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
        })
    }
}

/// How the run ended, most specific cause first: a limit the sandbox enforced beats the exit
/// status it caused (a SIGKILL from the OOM killer is a memory limit, not a signal).
fn decide(
    limits: &Limits,
    kill: Option<Kill>,
    exit: Option<c_int>,
    cpu: Duration,
    oom_kills: u64,
) -> Termination {
    let signal = exit
        .filter(|s| libc::WIFSIGNALED(*s))
        .map(|s| libc::WTERMSIG(s));
    if kill == Some(Kill::Output) {
        Termination::OutputLimit
    } else if oom_kills > 0 {
        Termination::MemoryLimit
    } else if kill == Some(Kill::Cpu) || cpu > limits.cpu_time || signal == Some(libc::SIGXCPU) {
        Termination::CpuTimeLimit
    } else if kill == Some(Kill::Wall) {
        Termination::WallTimeLimit
    } else {
        match exit {
            Some(s) if libc::WIFEXITED(s) => Termination::Exited(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => Termination::Signaled(libc::WTERMSIG(s)),
            // Unreachable by construction (checked by the caller); report it honestly.
            _ => Termination::WallTimeLimit,
        }
    }
}

impl Sandbox for NamespaceSandbox {
    fn run(&self, slot: usize, spec: &RunSpec) -> Result<RunReport, SandboxError> {
        let cell = self.slots.get(slot).ok_or_else(|| {
            invalid(format!(
                "slot {slot} out of range (0..{})",
                self.slots.len()
            ))
        })?;
        let mut guard = lock(cell);
        let span = tracing::debug_span!("sandbox.run", slot, argv0 = %spec.argv.first().map_or("", String::as_str));
        let _enter = span.enter();
        let report = self.run_in_slot(slot, &mut guard, spec);
        if let Err(e) = &report {
            tracing::warn!(slot, error = %e, "sandbox run failed");
        }
        report
    }

    fn kind(&self) -> &'static str {
        "namespaces"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            processes: 8,
            output_bytes: 1024,
            file_size_bytes: 1024,
            open_files: 16,
            stack_bytes: 8 << 20,
        }
    }

    #[test]
    fn verdict_priorities() {
        let l = limits();
        let exited0 = Some(0);
        let killed9 = Some(libc::SIGKILL);
        let ms = Duration::from_millis;
        assert_eq!(decide(&l, None, exited0, ms(10), 0), Termination::Exited(0));
        assert_eq!(
            decide(&l, None, Some(3 << 8), ms(10), 0),
            Termination::Exited(3)
        );
        assert_eq!(
            decide(&l, None, killed9, ms(10), 0),
            Termination::Signaled(9)
        );
        assert_eq!(
            decide(&l, None, killed9, ms(10), 1),
            Termination::MemoryLimit
        );
        assert_eq!(
            decide(&l, Some(Kill::Output), None, ms(10), 1),
            Termination::OutputLimit
        );
        assert_eq!(
            decide(&l, Some(Kill::Wall), None, ms(1500), 0),
            Termination::CpuTimeLimit
        );
        assert_eq!(
            decide(&l, Some(Kill::Wall), None, ms(10), 0),
            Termination::WallTimeLimit
        );
        assert_eq!(
            decide(&l, None, Some(libc::SIGXCPU), ms(900), 0),
            Termination::CpuTimeLimit
        );
        assert_eq!(
            decide(&l, None, exited0, ms(1001), 0),
            Termination::CpuTimeLimit
        );
    }
}
