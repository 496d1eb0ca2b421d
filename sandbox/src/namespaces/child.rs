//! The code between `clone` and `execve`: the run's init and the program's process.
//!
//! The worker clones **init** into fresh PID, IPC and UTS namespaces. Init joins the slot's
//! empty network namespace and the prepared root (see `root.rs`), takes a private copy of that
//! mount namespace, mounts the run's `/proc`, `/tmp` and `/box` into it, and clones the
//! **program**'s process. That one joins the slot's cgroups, resets its signal state, drops
//! every privilege, installs the seccomp filter and execs. Init waits for it, sends its wait status to the worker and
//! exits; the kernel then kills everything else left in the PID namespace (double-forked
//! daemons included), so a run can never outlive its main process.
//!
//! Init stays root, outside the slot cgroup and out of the program's reach (another uid, so
//! it cannot be signalled or traced; `hidepid` hides it in `/proc`). The program is not PID 1:
//! PID 1 ignores default-action signals, and `raise(SIGSEGV)` must still kill a program.
//!
//! Neither process copies the worker's address space: init is cloned with `CLONE_VM` onto a
//! stack of its own, and the program's process is cloned from init with `CLONE_VM |
//! CLONE_VFORK` (init waits until it execs). Copying the page tables of a worker with a few
//! hundred MiB resident would cost tens of milliseconds per run; sharing costs nothing. The
//! price is discipline: this code runs inside the worker's memory, next to its other threads,
//! so it only reads the plan the worker prepared (kept alive and unchanged until init is
//! gone), writes only its own stack, and makes system calls with inline `syscall`
//! instructions (`sys::raw`) so it never touches `errno` or anything else in the worker
//! thread's TLS. No allocation, no locks, no panics, no libc, no Rust I/O. Signals are
//! blocked in init for its whole life (the worker blocks them around the clone) so none of
//! the worker's handlers can run in it. Failures go to the worker as a fixed-size [`Record`]
//! on a pipe that closes on `execve`.
//!
//! One visible side effect: the uid change in the program's process, made while it still
//! shares the worker's memory, marks that memory non-dumpable (`commit_creds`), so the worker
//! stops producing core dumps after its first run (as with `posix_spawn` + `RESETIDS`).

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_char, c_int};

use super::mounts::{BUILD_STAGING, RunMounts, SCRATCH};
use super::sys;
use crate::Phase;

/// Where setup failed, reported to the worker with the errno.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    ParentGone = 1,
    CloseFds,
    JoinNetns,
    JoinWorkspace,
    CopyRoot,
    MountProc,
    MountWorkDir,
    MountTmp,
    MountScratch,
    MountBuildOutput,
    HideStaging,
    Hostname,
    ForkProgram,
    WaitProgram,
    JoinCgroup,
    UnshareCgroup,
    Setsid,
    Stdio,
    Chdir,
    Signals,
    Rlimit,
    DropCapabilities,
    Groups,
    Gid,
    Uid,
    NoNewPrivs,
    Seccomp,
    Exec,
    // Stages of the root-template helper (root.rs).
    RootNamespace,
    RootPrivate,
    RootTmpfs,
    RootBuild,
    RootPivot,
    RootReadOnly,
    // Stages of the workspace-namespace helper (workspace_ns.rs).
    SpaceJoin,
    SpaceCopy,
    SpaceAttach,
    SpaceOpen,
}

impl Stage {
    const ALL: [Stage; 38] = [
        Stage::ParentGone,
        Stage::CloseFds,
        Stage::JoinNetns,
        Stage::JoinWorkspace,
        Stage::CopyRoot,
        Stage::MountProc,
        Stage::MountWorkDir,
        Stage::MountTmp,
        Stage::MountScratch,
        Stage::MountBuildOutput,
        Stage::HideStaging,
        Stage::Hostname,
        Stage::ForkProgram,
        Stage::WaitProgram,
        Stage::JoinCgroup,
        Stage::UnshareCgroup,
        Stage::Setsid,
        Stage::Stdio,
        Stage::Chdir,
        Stage::Signals,
        Stage::Rlimit,
        Stage::DropCapabilities,
        Stage::Groups,
        Stage::Gid,
        Stage::Uid,
        Stage::NoNewPrivs,
        Stage::Seccomp,
        Stage::Exec,
        Stage::RootNamespace,
        Stage::RootPrivate,
        Stage::RootTmpfs,
        Stage::RootBuild,
        Stage::RootPivot,
        Stage::RootReadOnly,
        Stage::SpaceJoin,
        Stage::SpaceCopy,
        Stage::SpaceAttach,
        Stage::SpaceOpen,
    ];

    pub fn from_u32(v: u32) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|s| *s as u32 == v)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Stage::ParentGone => "worker exited during setup",
            Stage::CloseFds => "closing inherited descriptors",
            Stage::JoinNetns => "joining the empty network namespace",
            Stage::JoinWorkspace => "joining the workspace's mount namespace",
            Stage::CopyRoot => "copying the root mount namespace",
            Stage::MountProc => "mounting /proc",
            Stage::MountWorkDir => "mounting the work dir",
            Stage::MountTmp => "mounting /tmp",
            Stage::MountScratch => "mounting the run's writable space",
            Stage::MountBuildOutput => "binding the build output",
            Stage::HideStaging => "detaching the staging mounts",
            Stage::Hostname => "setting the hostname",
            Stage::ForkProgram => "forking the program",
            Stage::WaitProgram => "waiting for the program",
            Stage::JoinCgroup => "joining the slot cgroup",
            Stage::UnshareCgroup => "unsharing the cgroup namespace",
            Stage::Setsid => "setsid",
            Stage::Stdio => "setting up stdin/stdout/stderr",
            Stage::Chdir => "entering the work dir",
            Stage::Signals => "resetting signal dispositions",
            Stage::Rlimit => "setting rlimits",
            Stage::DropCapabilities => "dropping capabilities",
            Stage::Groups => "clearing supplementary groups",
            Stage::Gid => "setting the gid",
            Stage::Uid => "setting the uid",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Exec => "executing the program",
            Stage::RootNamespace => "root template: unsharing the mount namespace",
            Stage::RootPrivate => "root template: making mounts private",
            Stage::RootTmpfs => "root template: mounting the root tmpfs",
            Stage::RootBuild => "root template: populating the root",
            Stage::RootPivot => "root template: pivot_root",
            Stage::RootReadOnly => "root template: making the root read-only",
            Stage::SpaceJoin => "workspace: joining the root template",
            Stage::SpaceCopy => "workspace: copying the root template",
            Stage::SpaceAttach => "workspace: attaching its build directory",
            Stage::SpaceOpen => "workspace: opening its mount namespace",
        }
    }
}

/// One message from a child to the worker. 16 bytes, so each write is atomic on a pipe.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub kind: u32,
    pub stage: u32,
    pub errno: i32,
    pub status: i32,
}

pub const RECORD_SIZE: usize = std::mem::size_of::<Record>();
/// Setup failed at `stage` with `errno`.
pub const KIND_FAILED: u32 = 1;
/// The program ended; `status` is its wait status.
pub const KIND_EXITED: u32 = 2;
/// The root template is ready (root.rs helper).
pub const KIND_READY: u32 = 3;
/// The run's writable space was full when the program ended.
pub const KIND_DISK_FULL: u32 = 4;

impl Record {
    pub fn to_bytes(self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.stage.to_ne_bytes());
        out[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        out[12..16].copy_from_slice(&self.status.to_ne_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; RECORD_SIZE]) -> Record {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Record {
            kind: u32::from_ne_bytes(word(0)),
            stage: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
            status: i32::from_ne_bytes(word(12)),
        }
    }
}

/// Send a record to the worker.
pub fn report(fd: RawFd, record: Record) {
    sys::raw_write_all(fd, &record.to_bytes());
}

/// Report a failure at `stage` with `errno` and exit.
pub fn fail(fd: RawFd, stage: Stage, errno: i32) -> ! {
    report(
        fd,
        Record {
            kind: KIND_FAILED,
            stage: stage as u32,
            errno,
            status: 0,
        },
    );
    sys::raw_exit(127)
}

/// What init does, prepared by the worker before cloning.
pub struct InitPlan<'a> {
    /// Descriptors init keeps (sorted); every other inherited one is closed first thing, so
    /// init does not hold another slot's pipes open for the length of this run.
    pub keep_fds: &'a [RawFd],
    /// The worker process; if it is already gone, setup stops.
    pub worker_pidfd: RawFd,
    /// Write end of the report pipe (close-on-exec).
    pub status_fd: RawFd,
    pub netns_fd: RawFd,
    /// The workspace's mount namespace: the prepared root with the build fs at `/.build`.
    pub workspace_ns_fd: RawFd,
    /// What to mount for this run (`mounts.rs`).
    pub mounts: &'a RunMounts,
    pub hostname: &'a CStr,
    pub proc_options: &'a CStr,
    /// The stack the program's process starts on: top (for `clone`), and lowest address and
    /// size (for `clone3`).
    pub program_stack: *mut u8,
    pub program_stack_region: (u64, u64),
    /// The slot cgroup's directory where the process can be born in it (v2), else -1.
    pub cgroup_dir_fd: RawFd,
    pub program: ProgramPlan<'a>,
}

/// What the program's process does before `execve`.
pub struct ProgramPlan<'a> {
    pub stdin_fd: RawFd,
    pub stdout_fd: RawFd,
    pub stderr_fd: RawFd,
    /// Files of the slot cgroup a process writes "0" to, to join it (`cgroup::Join`); used
    /// when the process was not born in the cgroup.
    pub cgroup_procs_fds: &'a [RawFd],
    pub rlimits: &'a [(libc::__rlimit_resource_t, libc::rlimit)],
    pub cap_last: c_int,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// The uid in decimal, written to `/proc/self/loginuid` before the uid change: once a
    /// process's audit login uid is set, changing it takes `CAP_AUDIT_CONTROL`, so the program
    /// can never forge the one the host's audit log records (and if the worker's own is set
    /// already, the program inherits that one, equally fixed).
    pub loginuid: &'a CStr,
    pub filters: &'a [libc::sock_fprog],
    pub path: *const c_char,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
}

pub const WORK_DIR: &CStr = c"/box";

/// The kernel's `struct sigaction` (x86-64), for `rt_sigaction`.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Fail at `stage` if a raw system call returned `-errno`.
fn check(ret: isize, fd: RawFd, stage: Stage) -> isize {
    if ret < 0 {
        fail(fd, stage, (-ret) as i32);
    }
    ret
}

fn ptr<T: ?Sized>(p: *const T) -> usize {
    p.cast::<u8>() as usize
}

/// Where the worker's clone of init starts.
///
/// # Safety
/// `arg` points to an [`InitPlan`] that the worker keeps alive and unchanged until init is
/// gone; init runs on its own stack with all signals blocked (see the module doc).
pub unsafe extern "C" fn init_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: per the contract above.
    unsafe { init_main(&*(arg as *const InitPlan)) }
}

/// Init's whole life. Never returns.
///
/// # Safety
/// As [`init_entry`].
unsafe fn init_main(plan: &InitPlan) -> ! {
    let st = plan.status_fd;
    // SAFETY (whole block): raw syscalls on descriptors and C strings prepared by the worker.
    unsafe {
        // If the worker dies, so does the run (and with init, the whole PID namespace).
        check(
            sys::raw3(
                libc::SYS_prctl,
                libc::PR_SET_PDEATHSIG as usize,
                libc::SIGKILL as usize,
                0,
            ),
            st,
            Stage::ParentGone,
        );
        // ...unless it died before the line above: then nobody would kill us.
        let mut pfd = libc::pollfd {
            fd: plan.worker_pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        if sys::raw3(libc::SYS_poll, ptr(&mut pfd as *mut libc::pollfd), 1, 0) != 0 {
            fail(st, Stage::ParentGone, libc::ESRCH);
        }
        sys::raw_close_all_but(plan.keep_fds);

        let setns = |fd: RawFd, kind: c_int, stage: Stage| {
            check(
                sys::raw3(libc::SYS_setns, fd as usize, kind as usize, 0),
                st,
                stage,
            )
        };
        setns(plan.netns_fd, libc::CLONE_NEWNET, Stage::JoinNetns);
        setns(
            plan.workspace_ns_fd,
            libc::CLONE_NEWNS,
            Stage::JoinWorkspace,
        );
        // A private copy: this run's /proc, /tmp and /box must not appear in the namespace
        // other runs of the workspace share, and they vanish with the copy when the run ends.
        check(
            sys::raw3(libc::SYS_unshare, libc::CLONE_NEWNS as usize, 0, 0),
            st,
            Stage::CopyRoot,
        );
        let common = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as usize;
        let mount = |src: &CStr, dst: &CStr, data: &CStr, stage: Stage| {
            check(
                sys::raw(
                    libc::SYS_mount,
                    [
                        ptr(src.as_ptr()),
                        ptr(dst.as_ptr()),
                        ptr(src.as_ptr()),
                        common,
                        ptr(data.as_ptr()),
                        0,
                    ],
                ),
                st,
                stage,
            )
        };
        mount(c"proc", c"/proc", plan.proc_options, Stage::MountProc);
        let watched = mount_work_dir(plan.mounts, st);
        let name = plan.hostname.to_bytes();
        check(
            sys::raw3(libc::SYS_sethostname, ptr(name.as_ptr()), name.len(), 0),
            st,
            Stage::Hostname,
        );
        for fd in [plan.netns_fd, plan.workspace_ns_fd, plan.worker_pidfd] {
            sys::raw3(libc::SYS_close, fd as usize, 0, 0);
        }

        // vfork-style: the program's process shares this memory (the worker's) on its own
        // stack until it execs, and init waits meanwhile. No page tables are copied. Born in
        // the slot's cgroup where the kernel can (v2), so it need not move there itself.
        let vfork = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        let arg = plan as *const InitPlan as *mut libc::c_void;
        let mut pid = -(libc::ENOSYS as isize);
        if plan.cgroup_dir_fd >= 0 {
            let args = sys::CloneArgs {
                flags: vfork | sys::CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                stack: plan.program_stack_region.0,
                stack_size: plan.program_stack_region.1,
                cgroup: plan.cgroup_dir_fd as u64,
                ..sys::CloneArgs::default()
            };
            pid = sys::clone3_on_stack(&args, program_entry_in_cgroup, arg);
        }
        // No cgroup to be born in (v1), or clone3 refused (a seccomp profile that returns
        // ENOSYS, as Docker's default does): clone, and the program joins by itself.
        if pid == -(libc::ENOSYS as isize) {
            pid = sys::clone_on_stack(
                vfork as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
                plan.program_stack,
                std::ptr::null_mut(),
                program_entry,
                arg,
            );
        }
        check(pid, st, Stage::ForkProgram);
        // Init's copies of the program's stdio: the worker sees EOF only when they are gone.
        for fd in [
            plan.program.stdin_fd,
            plan.program.stdout_fd,
            plan.program.stderr_fd,
        ] {
            sys::raw3(libc::SYS_close, fd as usize, 0, 0);
        }

        let status = loop {
            let mut status: c_int = 0;
            // Orphans re-parented to init are reaped here too, in passing.
            let r = sys::raw(
                libc::SYS_wait4,
                [
                    -1isize as usize,
                    ptr(&mut status as *mut c_int),
                    libc::__WALL as usize,
                    0,
                    0,
                    0,
                ],
            );
            if r == pid {
                break status;
            }
            if r < 0 && r != -(libc::EINTR as isize) {
                fail(st, Stage::WaitProgram, (-r) as i32);
            }
        };
        if watched.iter().any(|&fd| fd >= 0 && is_full(fd)) {
            report(
                st,
                Record {
                    kind: KIND_DISK_FULL,
                    stage: 0,
                    errno: 0,
                    status: 0,
                },
            );
        }
        report(
            st,
            Record {
                kind: KIND_EXITED,
                stage: 0,
                errno: 0,
                status,
            },
        );
        // Exiting kills whatever the program left behind in this PID namespace.
        sys::raw_exit(0)
    }
}

/// `mount(2)` as a raw call; fails the run at `stage`.
///
/// # Safety
/// Valid C strings (or null), in init.
unsafe fn mount_raw(
    src: *const c_char,
    dst: &CStr,
    fstype: *const c_char,
    flags: libc::c_ulong,
    data: *const c_char,
    st: RawFd,
    stage: Stage,
) {
    // SAFETY: forwarded contract.
    unsafe {
        check(
            sys::raw(
                libc::SYS_mount,
                [
                    ptr(src),
                    ptr(dst.as_ptr()),
                    ptr(fstype),
                    flags as usize,
                    ptr(data),
                    0,
                ],
            ),
            st,
            stage,
        );
    }
}

/// Bind `src` at `dst`, then give the bind `flags` (`MS_RDONLY`, `MS_NOEXEC`...).
///
/// # Safety
/// As [`mount_raw`].
unsafe fn bind(src: &CStr, dst: &CStr, flags: libc::c_ulong, st: RawFd, stage: Stage) {
    let none = std::ptr::null();
    // SAFETY: forwarded contract.
    unsafe {
        mount_raw(src.as_ptr(), dst, none, libc::MS_BIND, none, st, stage);
        mount_raw(
            none,
            dst,
            none,
            libc::MS_REMOUNT | libc::MS_BIND | flags,
            none,
            st,
            stage,
        );
    }
}

/// An `O_PATH` descriptor of `path`, kept to ask at the end whether its file system filled
/// up; -1 if it cannot be opened (then nothing is reported).
///
/// # Safety
/// In init.
unsafe fn watch_fs(path: &CStr) -> RawFd {
    // SAFETY: valid C string.
    let fd = unsafe {
        sys::raw(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                ptr(path.as_ptr()),
                (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize,
                0,
                0,
                0,
            ],
        )
    };
    fd as RawFd
}

/// Whether the file system of `fd` is (nearly) out of space or inodes: a write that failed
/// for lack of room leaves less than a page or two, or no inode.
fn is_full(fd: RawFd) -> bool {
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-parameter.
    let r = unsafe {
        sys::raw3(
            libc::SYS_fstatfs,
            fd as usize,
            ptr(&mut s as *mut libc::statfs),
            0,
        )
    };
    if r < 0 {
        return false;
    }
    let free = (s.f_bavail as u64).saturating_mul(s.f_bsize as u64);
    free < 8192 || s.f_ffree == 0
}

/// Init's work dir and `/tmp` for this run (see `mounts.rs`). Returns the descriptors whose
/// file systems are checked for fullness when the program has ended.
///
/// # Safety
/// In init, in its private mount namespace.
unsafe fn mount_work_dir(m: &RunMounts, st: RawFd) -> [RawFd; 2] {
    let none = std::ptr::null();
    let tmpfs = c"tmpfs".as_ptr();
    let private = libc::MS_NOSUID | libc::MS_NODEV;
    let noexec = private | libc::MS_NOEXEC;
    // SAFETY (whole block): raw syscalls on C strings prepared by the worker.
    unsafe {
        let watched = match m.phase {
            Phase::Build => {
                // The build fs itself: its mount flags (nosuid, nodev) come with it.
                mount_raw(
                    BUILD_STAGING.as_ptr(),
                    c"/box",
                    none,
                    libc::MS_BIND,
                    none,
                    st,
                    Stage::MountWorkDir,
                );
                mount_raw(
                    tmpfs,
                    c"/tmp",
                    tmpfs,
                    noexec,
                    m.fresh_options.as_ptr(),
                    st,
                    Stage::MountTmp,
                );
                [watch_fs(c"/box"), watch_fs(c"/tmp")]
            }
            Phase::Run => {
                mount_raw(
                    tmpfs,
                    SCRATCH,
                    tmpfs,
                    private,
                    m.fresh_options.as_ptr(),
                    st,
                    Stage::MountScratch,
                );
                // Exact modes for what is made here (the worker's umask would apply).
                sys::raw3(libc::SYS_umask, 0, 0, 0);
                for dir in [c"/.scratch/box", c"/.scratch/tmp"] {
                    check(
                        sys::raw3(libc::SYS_mkdir, ptr(dir.as_ptr()), 0o1777, 0),
                        st,
                        Stage::MountScratch,
                    );
                }
                for e in &m.entries {
                    if e.is_dir {
                        check(
                            sys::raw3(libc::SYS_mkdir, ptr(e.point.as_ptr()), 0o755, 0),
                            st,
                            Stage::MountBuildOutput,
                        );
                    } else {
                        let fd = check(
                            sys::raw(
                                libc::SYS_openat,
                                [
                                    libc::AT_FDCWD as usize,
                                    ptr(e.point.as_ptr()),
                                    (libc::O_CREAT
                                        | libc::O_EXCL
                                        | libc::O_WRONLY
                                        | libc::O_CLOEXEC)
                                        as usize,
                                    0o444,
                                    0,
                                    0,
                                ],
                            ),
                            st,
                            Stage::MountBuildOutput,
                        );
                        sys::raw3(libc::SYS_close, fd as usize, 0, 0);
                    }
                }
                bind(c"/.scratch/box", c"/box", noexec, st, Stage::MountWorkDir);
                bind(c"/.scratch/tmp", c"/tmp", noexec, st, Stage::MountTmp);
                for e in &m.entries {
                    bind(
                        &e.source,
                        &e.target,
                        libc::MS_RDONLY | private,
                        st,
                        Stage::MountBuildOutput,
                    );
                }
                [watch_fs(c"/box"), -1]
            }
        };
        // The program sees its /box and /tmp, not the staging mounts behind them.
        for staging in [BUILD_STAGING, SCRATCH] {
            let r = sys::raw3(
                libc::SYS_umount2,
                ptr(staging.as_ptr()),
                libc::MNT_DETACH as usize,
                0,
            );
            // /.scratch is only mounted for a test case.
            if r < 0 && r != -(libc::EINVAL as isize) {
                fail(st, Stage::HideStaging, (-r) as i32);
            }
        }
        watched
    }
}

/// What the workspace-namespace helper does (`workspace_ns.rs`): make a copy of the root
/// template with the build fs attached at `/.build`, and leave its descriptor behind.
pub struct SpacePlan {
    pub root_fd: RawFd,
    pub build_fd: RawFd,
    /// The host's `/proc`, to open the new namespace through once inside it.
    pub proc_fd: RawFd,
    /// Written by the helper: the namespace descriptor (in the worker's fd table, which it
    /// shares), or the failed stage and errno.
    pub fd: std::sync::atomic::AtomicI32,
    pub failed_stage: std::sync::atomic::AtomicU32,
    pub errno: std::sync::atomic::AtomicI32,
}

/// Where the worker's clone of the workspace helper starts.
///
/// # Safety
/// `arg` points to a [`SpacePlan`]; the worker is suspended (`CLONE_VFORK`) until the helper
/// exits, and the helper shares its memory and descriptors, with all signals blocked.
pub unsafe extern "C" fn space_entry(arg: *mut libc::c_void) -> ! {
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: per the contract above.
    let p = unsafe { &*(arg as *const SpacePlan) };
    let give_up = |stage: Stage, ret: isize| -> ! {
        p.failed_stage.store(stage as u32, SeqCst);
        p.errno.store((-ret) as i32, SeqCst);
        sys::raw_exit(1)
    };
    // SAFETY (whole block): raw syscalls on descriptors the worker holds.
    unsafe {
        let r = sys::raw3(
            libc::SYS_setns,
            p.root_fd as usize,
            libc::CLONE_NEWNS as usize,
            0,
        );
        if r < 0 {
            give_up(Stage::SpaceJoin, r);
        }
        let r = sys::raw3(libc::SYS_unshare, libc::CLONE_NEWNS as usize, 0, 0);
        if r < 0 {
            give_up(Stage::SpaceCopy, r);
        }
        let r = sys::raw(
            libc::SYS_move_mount,
            [
                p.build_fd as usize,
                ptr(c"".as_ptr()),
                libc::AT_FDCWD as usize,
                ptr(BUILD_STAGING.as_ptr()),
                sys::MOVE_MOUNT_F_EMPTY_PATH as usize,
                0,
            ],
        );
        if r < 0 {
            give_up(Stage::SpaceAttach, r);
        }
        // Its own namespace through its own /proc entry: always allowed, whatever the
        // worker's dumpability (a /proc/<pid> of another process would need CAP_SYS_PTRACE).
        let fd = sys::raw(
            libc::SYS_openat,
            [
                p.proc_fd as usize,
                ptr(c"thread-self/ns/mnt".as_ptr()),
                (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
                0,
                0,
                0,
            ],
        );
        if fd < 0 {
            give_up(Stage::SpaceOpen, fd);
        }
        p.fd.store(fd as i32, SeqCst);
        sys::raw_exit(0)
    }
}

/// Where init's clone of the program's process starts when it must join the slot cgroup.
///
/// # Safety
/// `arg` is init's [`InitPlan`]; init is suspended (`CLONE_VFORK`) until this execs or exits.
unsafe extern "C" fn program_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: per the contract above.
    let plan = unsafe { &*(arg as *const InitPlan) };
    // SAFETY: we are the freshly cloned program process.
    unsafe { program_main(&plan.program, plan.status_fd, true) }
}

/// Where it starts when it was born in the slot cgroup (`CLONE_INTO_CGROUP`).
///
/// # Safety
/// As [`program_entry`].
unsafe extern "C" fn program_entry_in_cgroup(arg: *mut libc::c_void) -> ! {
    // SAFETY: per the contract above.
    let plan = unsafe { &*(arg as *const InitPlan) };
    // SAFETY: we are the freshly cloned program process.
    unsafe { program_main(&plan.program, plan.status_fd, false) }
}

/// The program's process from clone to `execve`. Never returns.
///
/// # Safety
/// As [`program_entry`].
unsafe fn program_main(p: &ProgramPlan, st: RawFd, join_cgroup: bool) -> ! {
    // SAFETY (whole block): raw syscalls on data prepared by the worker.
    unsafe {
        // Into the slot cgroup first, so every process and page of the program is counted.
        // (Single-threaded, moving itself: v1's `tasks` takes no global lock.)
        for &fd in p.cgroup_procs_fds.iter().filter(|_| join_cgroup) {
            check(
                sys::raw3(libc::SYS_write, fd as usize, ptr(b"0".as_ptr()), 1),
                st,
                Stage::JoinCgroup,
            );
        }
        // Now rooted at the slot cgroup: /proc/self/cgroup shows "/" and nothing above.
        check(
            sys::raw3(libc::SYS_unshare, libc::CLONE_NEWCGROUP as usize, 0, 0),
            st,
            Stage::UnshareCgroup,
        );
        check(sys::raw3(libc::SYS_setsid, 0, 0, 0), st, Stage::Setsid);
        for (from, to) in [(p.stdin_fd, 0), (p.stdout_fd, 1), (p.stderr_fd, 2)] {
            check(
                sys::raw3(libc::SYS_dup2, from as usize, to, 0),
                st,
                Stage::Stdio,
            );
        }
        // Anything else still open (the report pipe included) goes at execve.
        check(
            sys::raw3(
                libc::SYS_close_range,
                3,
                u32::MAX as usize,
                libc::CLOSE_RANGE_CLOEXEC as usize,
            ),
            st,
            Stage::Stdio,
        );
        check(
            sys::raw3(libc::SYS_chdir, ptr(WORK_DIR.as_ptr()), 0, 0),
            st,
            Stage::Chdir,
        );
        // A clean signal state: ignored dispositions and the mask survive execve, and the
        // worker blocked every signal around the clone (and ignores SIGPIPE, as every Rust
        // binary does). The raw call: glibc's wrapper refuses its reserved signals.
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for sig in 1..=64usize {
            if sig != libc::SIGKILL as usize && sig != libc::SIGSTOP as usize {
                sys::raw(
                    libc::SYS_rt_sigaction,
                    [sig, ptr(&default as *const KernelSigaction), 0, 8, 0, 0],
                );
            }
        }
        let empty: u64 = 0;
        check(
            sys::raw(
                libc::SYS_rt_sigprocmask,
                [
                    libc::SIG_SETMASK as usize,
                    ptr(&empty as *const u64),
                    0,
                    8,
                    0,
                    0,
                ],
            ),
            st,
            Stage::Signals,
        );
        sys::raw3(libc::SYS_umask, 0o022, 0, 0);
        for (resource, limit) in p.rlimits {
            check(
                sys::raw(
                    libc::SYS_prlimit64,
                    [
                        0,
                        *resource as usize,
                        ptr(limit as *const libc::rlimit),
                        0,
                        0,
                        0,
                    ],
                ),
                st,
                Stage::Rlimit,
            );
        }
        // Empty the bounding set while still root (needs CAP_SETPCAP), then the ambient set;
        // the uid change below clears the permitted and effective sets.
        for cap in 0..=p.cap_last {
            check(
                sys::raw3(
                    libc::SYS_prctl,
                    libc::PR_CAPBSET_DROP as usize,
                    cap as usize,
                    0,
                ),
                st,
                Stage::DropCapabilities,
            );
        }
        check(
            sys::raw3(
                libc::SYS_prctl,
                libc::PR_CAP_AMBIENT as usize,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as usize,
                0,
            ),
            st,
            Stage::DropCapabilities,
        );
        let fd = sys::raw(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                ptr(c"/proc/self/loginuid".as_ptr()),
                (libc::O_WRONLY | libc::O_CLOEXEC) as usize,
                0,
                0,
                0,
            ],
        );
        // No audit support, or already set (EPERM): either way the program cannot set it.
        if fd >= 0 {
            let id = p.loginuid.to_bytes();
            sys::raw3(libc::SYS_write, fd as usize, ptr(id.as_ptr()), id.len());
            sys::raw3(libc::SYS_close, fd as usize, 0, 0);
        }
        check(sys::raw3(libc::SYS_setgroups, 0, 0, 0), st, Stage::Groups);
        let (u, g) = (p.uid as usize, p.gid as usize);
        check(sys::raw3(libc::SYS_setresgid, g, g, g), st, Stage::Gid);
        check(sys::raw3(libc::SYS_setresuid, u, u, u), st, Stage::Uid);
        check(
            sys::raw3(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0),
            st,
            Stage::NoNewPrivs,
        );
        for filter in p.filters {
            check(
                sys::raw3(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER as usize,
                    0,
                    ptr(filter as *const libc::sock_fprog),
                ),
                st,
                Stage::Seccomp,
            );
        }
        let r = sys::raw3(libc::SYS_execve, ptr(p.path), ptr(p.argv), ptr(p.envp));
        fail(st, Stage::Exec, (-r) as i32)
    }
}
