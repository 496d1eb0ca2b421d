//! The namespace mechanism: Linux namespaces, a fresh read-only root, tmpfs workspaces,
//! per-slot cgroups, unprivileged uids without capabilities, `no_new_privs`, a seccomp filter.
//!
//! # How a run goes
//! 1. The worker prepares everything while it may still allocate: argv/env as C strings, the
//!    root template for this set of binds (built once, cached; `root.rs`), the run's `/box`
//!    and `/tmp` as detached tmpfs mounts (`mounts.rs`), stdin, pipes, the slot cgroup's
//!    limits and counters.
//! 2. It clones **init** into new PID, IPC and UTS namespaces (sharing the worker's memory,
//!    on a stack of its own: no page tables are copied, whatever the worker's size; see
//!    `child.rs`). Init joins the workspace's empty network namespace (`netns.rs`) and the
//!    root template, copies it into a private mount namespace, mounts `/proc`
//!    (`hidepid=invisible`), attaches `/box`, `/tmp` and the build output, and clones the
//!    program's process, vfork-style.
//! 3. The program's process is born in the slot cgroup (or joins it; `cgroup::Join`),
//!    unshares a cgroup namespace, resets its
//!    signal state, drops to the slot's uids with every capability gone, sets
//!    `no_new_privs` and rlimits, installs the seccomp filter (`seccomp.rs`) and execs.
//! 4. The shared supervision loop (`watch.rs`) reads output, samples the cgroup's CPU time,
//!    and on a limit SIGKILLs init, which takes the whole PID namespace with it. When the
//!    program's main process ends, init reports its status and exits, which kills anything it
//!    left behind. The facts (init's report, the cgroup's CPU time, peak memory and OOM
//!    kills, whether the writable space filled up) go to the one `decide`. The slot cgroup is
//!    checked empty before returning.
//!
//! What is reused, because creating it per run is what makes sandboxes slow: the cgroups (one
//! set per slot), the root (one per bind set), the network namespace (one per workspace). A
//! workspace's build fs and network namespace are made ahead, one spare per slot
//! (`spare.rs`), so a submission does not wait for them.
//! What is fresh per run: PID, IPC, UTS, cgroup and (a copy of the) mount namespace, `/proc`,
//! the writable space. Nothing survives a run: not a process (PID namespace), not a mount
//! (they live in the run's mount namespace only), not a SysV object (IPC namespace), not a
//! file outside the build output; and nothing survives a submission: its tmpfs and network
//! namespace go with its [`Workspace`].
//!
//! # Using it from the judge
//! `RunSpec::read_only_binds` lists host paths as the language table names them (`/usr`,
//! `/lib`, `/lib64`, `/bin`, `/etc`, the JDK home...). Symlinks among them are recreated as
//! symlinks, paths under another bind are skipped, missing ones are skipped. `/etc` is
//! special: only [`NamespaceConfig::etc_allow`] entries of it are bound (never `shadow`),
//! plus a synthetic `passwd`/`group`/`hosts`. The work dir is [`WORK_DIR`] (`/box`) and is
//! the cwd, so `./main` works. argv[0] must be absolute inside the sandbox or relative to the
//! work dir (no `PATH` lookup). The environment is exactly `RunSpec::env`.
//!
//! # Requirements
//! Root (real `CAP_SYS_ADMIN` in the initial user namespace) and Linux ≥ 5.12 (`open_tree`,
//! `move_mount`, `mount_setattr`, `fsmount`, `close_range`, pidfds). Slot uids
//! `base_uid..base_uid + slots` must belong to nobody else on the host (RLIMIT_NPROC and
//! file ownership are per uid): slot `n` runs as `base_uid + n`.
//!
//! cgroup v1: the `memory`, `pids` and `cpuacct` hierarchies mounted; swap accounting
//! (`memory.memsw.*`) for "no swap". cgroup v2: the worker's own cgroup must have the
//! `memory` and `pids` controllers in `cgroup.controllers` and be writable by the worker (a
//! delegated subtree: systemd `Delegate=yes`, or a container's private cgroup namespace with
//! `/sys/fs/cgroup` mounted read-write); if that cgroup holds processes, they are all moved
//! into a leaf `<cgroup_name>.supervisor` so controllers can be enabled for the slots.
//!
//! # What a worker container needs
//! - Root in the host's user namespace (no `userns-remap`), with `CAP_SYS_ADMIN` (mounts,
//!   `setns`, `unshare`, `pivot_root`, `open_tree`/`move_mount`/`fsmount`, `sethostname`),
//!   `CAP_SYS_CHROOT` (`setns` into a mount namespace), `CAP_SETUID`, `CAP_SETGID`,
//!   `CAP_SETPCAP` (emptying the bounding set), `CAP_CHOWN` (making the build output's
//!   executables root's and execute-only, `mounts.rs`), `CAP_KILL` (stragglers of another uid)
//!   and `CAP_SYS_RESOURCE` if limits exceed its own hard rlimits. Nothing that overrides file
//!   permissions: the worker never enters or writes a directory a run owns (`mounts.rs`).
//! - No seccomp or AppArmor profile that forbids those calls: Docker's default profiles do
//!   (`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`).
//! - A writable cgroup subtree with `memory` and `pids` (see above).
//! - Nothing for networking or disk: runs get empty network namespaces and tmpfs space made
//!   here, bounded by the quotas the judge asks for (and charged to the run's memory).
//!
//! The supervisor's own environment and memory never reach a run: the program gets exactly
//! `RunSpec::env`, and init (a copy of the worker) is another uid, untraceable and hidden.

mod cgroup;
mod child;
mod mounts;
mod netns;
mod root;
mod seccomp;
mod spare;
mod sys;
mod workspace_ns;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libc::c_int;

pub use cgroup::CgroupVersion;
pub use cgroup::remove_named as remove_cgroup;
pub use cgroup::remove_stale as remove_stale_cgroups;
pub use mounts::MAX_BUILD_ENTRIES;

use crate::decide::Facts;
use crate::pipeline::{self, ChildIo, Mechanism};
use crate::watch::{RunningTree, Sample, Watched};
use crate::workspace::{MechanismWorkspace, next_owner_id};
use crate::{DiskQuota, RunReport, RunSpec, Sandbox, SandboxError, Workspace};
use cgroup::{Hierarchy, SlotCgroup};
use child::{
    InitPlan, KIND_DISK_FULL, KIND_EXITED, KIND_FAILED, ProgramPlan, RECORD_SIZE, Record, Stage,
};
use mounts::Tmpfs;
use netns::EmptyNetns;
use root::{RootConfig, RootTemplate};

/// Where the work dir appears inside the sandbox; the program's cwd.
pub const WORK_DIR: &str = "/box";

/// Configuration of a [`NamespaceSandbox`]; per sandbox, not per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Number of slots: workspaces are opened in slots `0..slots`.
    pub slots: usize,
    /// Slot `n` runs as uid and gid `base_uid + n`. These ids must belong to nobody else.
    pub base_uid: u32,
    /// Directory created under the worker's own cgroup for the slots' cgroups.
    pub cgroup_name: String,
    pub cgroup_version: CgroupVersion,
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
    /// Stacks of the run's init and of the program's process before exec (`child.rs`).
    init_stack: sys::ChildStack,
    program_stack: sys::ChildStack,
}

/// Size of each child stack; the code between clone and exec needs a few KiB.
const CHILD_STACK: usize = 256 << 10;
/// How often the supervisor reads the slot cgroup's CPU time, at least.
const CPU_SAMPLE_MAX: Duration = Duration::from_millis(100);

/// What can be read about a slot without waiting for its run to end.
struct SlotInfo {
    procs_paths: Vec<std::path::PathBuf>,
}

/// A workspace of this mechanism: its build directory is a tmpfs (the workspace's
/// descriptor); this is what else belongs to the submission.
pub(crate) struct TmpfsWorkspace {
    netns: EmptyNetns,
    /// The workspace's mount namespace (`workspace_ns.rs`), made at its first run, for the
    /// root template of that run's binds.
    space: Mutex<Option<(Arc<RootTemplate>, OwnedFd)>>,
}

/// The isolated sandbox; see the module documentation.
pub struct NamespaceSandbox {
    config: NamespaceConfig,
    owner: u64,
    slots: Vec<Mutex<Slot>>,
    info: Vec<SlotInfo>,
    hierarchy: Hierarchy,
    filters: seccomp::Filters,
    roots: Mutex<Vec<(Vec<std::path::PathBuf>, Arc<RootTemplate>)>>,
    users: Vec<(String, u32, u32)>,
    worker_pidfd: OwnedFd,
    /// The host's `/proc` (`workspace_ns.rs`).
    proc_fd: OwnedFd,
    cap_last: c_int,
    hostname: CString,
    proc_options: CString,
    /// Each slot's next build fs and network namespace, made ahead (`spare.rs`).
    spares: spare::SpareSpaces,
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
    /// Set up the slots (a cgroup set each) and the seccomp filters. Roots are built on
    /// first use per bind set (or ahead with [`Self::prepare_root`]).
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
        let hostname = CString::new(config.hostname.as_bytes())
            .ok()
            .filter(|h| !h.is_empty() && h.as_bytes().len() <= 64)
            .ok_or_else(|| invalid("hostname must be 1-64 bytes without NUL"))?;

        // Fail now, not at the first run, where the new mount API is missing or forbidden.
        sys::detached_bind(libc::AT_FDCWD, c"/dev/null", false, 0).map_err(|e| {
            SandboxError::io(
                "probing open_tree/mount_setattr (Linux >= 5.12 and CAP_SYS_ADMIN needed)",
                e,
            )
        })?;
        drop(Tmpfs::new(DiskQuota::mib(1, 16))?);
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
                init_stack: stack()?,
                program_stack: stack()?,
            }));
        }
        let worker_pidfd = crate::sys::pidfd_open(std::process::id() as libc::pid_t)
            .map_err(|e| SandboxError::io("pidfd_open of the worker", e))?;
        let proc_fd: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open("/proc")
            .map_err(|e| SandboxError::io("opening /proc", e))?
            .into();
        let users = (0..config.slots)
            .map(|i| {
                let id = config.base_uid + i as u32;
                (format!("sandbox{i}"), id, id)
            })
            .collect();
        tracing::info!(
            slots = config.slots,
            base_uid = config.base_uid,
            cgroup = ?hierarchy.version(),
            "namespace sandbox ready"
        );
        let config_slots = config.slots;
        Ok(NamespaceSandbox {
            config,
            owner: next_owner_id(),
            slots,
            info,
            hierarchy,
            filters,
            roots: Mutex::new(Vec::new()),
            users,
            worker_pidfd,
            proc_fd,
            cap_last: cap_last_cap(),
            hostname,
            proc_options: c"hidepid=invisible".into(),
            spares: spare::SpareSpaces::new(config_slots),
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

    fn slot(&self, index: usize) -> Result<&Mutex<Slot>, SandboxError> {
        self.slots.get(index).ok_or_else(|| {
            invalid(format!(
                "slot {index} out of range (0..{})",
                self.slots.len()
            ))
        })
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

impl Sandbox for NamespaceSandbox {
    fn workspace(&self, slot: usize, quota: DiskQuota) -> Result<Workspace, SandboxError> {
        self.slot(slot)?;
        if quota.bytes == 0 || quota.inodes == 0 {
            return Err(invalid("the workspace quota must be positive"));
        }
        let (build, netns) = match self.spares.take(slot, quota) {
            Some(spare) => (spare.build, spare.netns),
            None => (Tmpfs::new(quota)?, EmptyNetns::create()?),
        };
        // The next submission of this slot finds its space made.
        self.spares.request(slot, quota);
        Ok(Workspace::new(
            slot,
            self.owner,
            build.into_fd(),
            MechanismWorkspace::Namespaces(TmpfsWorkspace {
                netns,
                space: Mutex::new(None),
            }),
        ))
    }

    fn run(&self, workspace: &Workspace, spec: &RunSpec) -> Result<RunReport, SandboxError> {
        workspace.check_owner(self.owner)?;
        let index = workspace.slot();
        let mut guard = lock(self.slot(index)?);
        let span = tracing::debug_span!("sandbox.run", slot = index, argv0 = %spec.argv.first().map_or("", String::as_str));
        let _enter = span.enter();
        let mut run = SlotRun {
            sandbox: self,
            index,
            slot: &mut guard,
        };
        let report = pipeline::run(&mut run, workspace, spec);
        if let Err(e) = &report {
            tracing::warn!(slot = index, error = %e, "sandbox run failed");
        }
        report
    }

    fn kind(&self) -> &'static str {
        "namespaces"
    }
}

/// One run in a locked slot.
struct SlotRun<'a> {
    sandbox: &'a NamespaceSandbox,
    index: usize,
    slot: &'a mut Slot,
}

/// The run's init, as the supervision loop sees it. Kills and reaps init when dropped unless
/// it is already reaped: init shares the worker's memory and reads the run's plan, so it must
/// be gone before the plan is freed, also when the run ends early by an error or a panic.
struct InitTree<'a> {
    pidfd: OwnedFd,
    cgroup: &'a dyn SlotCgroup,
    cpu_base: Duration,
    started: Instant,
    reaped: bool,
}

impl InitTree<'_> {
    fn kill_init(&self) {
        if let Err(e) = crate::sys::pidfd_send_signal(self.pidfd.as_raw_fd(), libc::SIGKILL) {
            // ESRCH: it is already gone, which is what we wanted.
            if e.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(error = %e, "could not kill the sandbox init");
            }
        }
    }
}

impl Drop for InitTree<'_> {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_init();
            let _ = crate::sys::reap(&self.pidfd);
        }
    }
}

impl RunningTree for InitTree<'_> {
    fn started(&self) -> Instant {
        self.started
    }

    fn exit_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    fn sample(&mut self) -> Result<Sample, SandboxError> {
        Ok(Sample {
            cpu: self.cgroup.cpu_total()?.saturating_sub(self.cpu_base),
            memory: None,
        })
    }

    fn max_sample_interval(&self) -> Duration {
        CPU_SAMPLE_MAX
    }

    fn kill(&mut self) {
        // Killing init takes the whole PID namespace with it; forks in a dying namespace
        // fail, so a fork bomb cannot outrun the kill.
        self.kill_init();
    }

    fn root_ended(&mut self) -> Result<(), SandboxError> {
        crate::sys::reap(&self.pidfd)?;
        self.reaped = true;
        Ok(())
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

/// Everything in the report pipe; its writers are gone (init was reaped), but a copy of the
/// write end may linger for a moment in a concurrent clone, so read without waiting for EOF.
fn read_records(status: &OwnedFd) -> Vec<Record> {
    // SAFETY: F_SETFL on a valid descriptor.
    unsafe { libc::fcntl(status.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(status.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 || bytes.len() > 64 * RECORD_SIZE {
            break;
        }
        bytes.extend_from_slice(&buf[..n as usize]);
    }
    decode_records(&bytes)
}

impl Mechanism for SlotRun<'_> {
    fn execute(
        &mut self,
        workspace: &Workspace,
        spec: &RunSpec,
        io: ChildIo,
        watch: &mut dyn FnMut(&mut dyn RunningTree) -> Result<Watched, SandboxError>,
    ) -> Result<(Watched, Facts), SandboxError> {
        let MechanismWorkspace::Namespaces(tmpfs_workspace) = &workspace.mechanism else {
            return Err(invalid("not a workspace of the namespace sandbox"));
        };
        let sb = self.sandbox;
        let config = &sb.config;
        let uid = config.base_uid + self.index as u32;
        let loginuid = CString::new(uid.to_string()).map_err(|_| invalid("uid"))?;
        let argv = crate::sys::CStrings::new(&spec.argv, "argv")?;
        let env = crate::sys::CStrings::new(&spec.env, "environment")?;
        let root = sb.root_for(&spec.read_only_binds)?;
        let mut space = tmpfs_workspace
            .space
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let workspace_ns = match &*space {
            Some((made_for, ns)) if Arc::ptr_eq(made_for, &root) => ns.as_raw_fd(),
            Some(_) => {
                return Err(invalid(
                    "the runs of one workspace must bind the same read-only paths",
                ));
            }
            None => {
                let ns = workspace_ns::create(
                    root.fd(),
                    workspace.dir_fd(),
                    sb.proc_fd.as_raw_fd(),
                    &self.slot.init_stack,
                )?;
                let fd = ns.as_raw_fd();
                *space = Some((Arc::clone(&root), ns));
                fd
            }
        };
        let mounts = mounts::for_phase(workspace, spec.phase, spec.limits.disk)?;
        let (status_r, status_w) = crate::sys::pipe()?;
        let netns = tmpfs_workspace.netns.fd().as_raw_fd();
        let baseline = self.slot.cgroup.prepare(&spec.limits)?;
        let fprogs = sb.filters.fprogs();
        let join = self.slot.cgroup.join();
        let cgroup_dir_fd = join.clone_into.unwrap_or(-1);

        let mut keep: Vec<RawFd> = vec![
            sb.worker_pidfd.as_raw_fd(),
            status_w.as_raw_fd(),
            netns,
            workspace_ns,
            io.stdin.as_raw_fd(),
            io.stdout.as_raw_fd(),
            io.stderr.as_raw_fd(),
        ];
        keep.extend(&join.write_zero);
        keep.extend(join.clone_into);
        keep.sort_unstable();
        keep.dedup();

        let plan = InitPlan {
            keep_fds: &keep,
            worker_pidfd: sb.worker_pidfd.as_raw_fd(),
            status_fd: status_w.as_raw_fd(),
            netns_fd: netns,
            workspace_ns_fd: workspace_ns,
            mounts: &mounts,
            hostname: &sb.hostname,
            proc_options: &sb.proc_options,
            program_stack: self.slot.program_stack.top(),
            program_stack_region: self.slot.program_stack.region(),
            cgroup_dir_fd,
            program: ProgramPlan {
                stdin_fd: io.stdin.as_raw_fd(),
                stdout_fd: io.stdout.as_raw_fd(),
                stderr_fd: io.stderr.as_raw_fd(),
                cgroup_procs_fds: &join.write_zero,
                rlimits: &io.rlimits,
                cap_last: sb.cap_last,
                uid,
                gid: uid,
                loginuid: &loginuid,
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
        // alive and unchanged until `tree` below has made sure init is gone.
        let pid = unsafe {
            sys::clone_on_stack(
                flags,
                self.slot.init_stack.top(),
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
        // Declared after `plan`, so dropped (init killed and reaped) before it, on every path.
        let mut tree = InitTree {
            // SAFETY: CLONE_PIDFD stored a new descriptor that we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(raw_pidfd) },
            cgroup: self.slot.cgroup.as_ref(),
            cpu_base: baseline.cpu,
            started,
            reaped: false,
        };
        // The child's ends: once they are closed here, EOF means the run's processes are gone.
        drop((io.stdin, io.stdout, io.stderr, status_w));

        let watched = match watch(&mut tree) {
            Ok(w) => w,
            Err(e) => {
                // Never leave a run behind: kill it and empty the cgroup before reporting.
                drop(tree);
                let _ = self.slot.cgroup.kill_all();
                return Err(e);
            }
        };
        let records = read_records(&status_r);
        let usage = self.slot.cgroup.usage(&baseline)?;
        if !self.slot.cgroup.processes()?.is_empty() {
            tracing::warn!(
                slot = self.index,
                "processes left in the slot cgroup after the run"
            );
            self.slot.cgroup.kill_all()?;
        }

        if let Some(f) = records.iter().find(|r| r.kind == KIND_FAILED) {
            let stage = Stage::from_u32(f.stage).map_or("sandbox setup", Stage::describe);
            let err = std::io::Error::from_raw_os_error(f.errno);
            return Err(if f.stage == Stage::Exec as u32 {
                setup(format!("{stage} {:?}: {err}", spec.argv[0]))
            } else {
                setup(format!("{stage}: {err}"))
            });
        }
        let status = records
            .iter()
            .find(|r| r.kind == KIND_EXITED)
            .map(|r| r.status);
        if status.is_none() && watched.kill.is_none() {
            return Err(setup(
                "the sandbox init ended without reporting the program's status",
            ));
        }
        let facts = Facts {
            status,
            cpu: usage.cpu,
            peak_memory: usage.peak_memory,
            oom_killed: usage.oom_kills > 0,
            disk_full: records.iter().any(|r| r.kind == KIND_DISK_FULL),
        };
        Ok((watched, facts))
    }
}
