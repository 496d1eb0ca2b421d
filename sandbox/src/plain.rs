//! The plain runner: one child process with rlimits, its own process group, a watcher for
//! wall-clock time, CPU time and resident memory, and output captured up to a byte cap.
//!
//! It isolates nothing (no namespaces, no cgroup, no seccomp): the program sees the host's
//! files and network as the worker's user. It exists so the judge can be developed and tested
//! on any Linux box, and so the pipeline can run until the isolated sandbox is wired in.
//!
//! How one run goes, and why:
//! - The child is forked by `std::process::Command`; in the child, before `exec`, it calls
//!   `setsid` (a process group of its own, so one `kill(-pgid)` reaches everything it starts)
//!   and sets rlimits. The rlimits are kernel-side backstops; the limits that decide verdicts
//!   are enforced by the watcher, which can tell *which* limit was hit.
//! - The calling thread then runs one `poll` loop that feeds stdin, reads stdout and stderr,
//!   wakes as soon as the child exits (through a pidfd) and, every `TICK` (5 ms), samples `/proc`
//!   to enforce the wall-clock, CPU and memory limits. One loop rather than reader threads:
//!   a grandchild that left the process group can hold a pipe open forever, and a thread
//!   blocked in `read(2)` cannot be cancelled, whereas a loop can stop draining at a deadline.
//! - When the child has exited it is left a zombie while its process group is killed: the
//!   zombie pins the pgid, so the kill cannot reach an unrelated group that reused the number.
//!   Only then is it reaped with `wait4`, for its exit status and rusage.
//! - `ru_maxrss` is not trusted on its own: the kernel carries the resident size of the
//!   *forked copy of the worker* into the child's `ru_maxrss` across `exec`. See `peak_memory`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Limits, RunReport, RunSpec, Sandbox, SandboxError, Stdin, Termination};

/// How often the watcher samples `/proc` and checks the clock.
const TICK: Duration = Duration::from_millis(5);
/// How often the watcher also scans `/proc` for the other members of the process group.
/// A full scan reads every process's `stat`, so it runs less often than the per-tick sample.
const GROUP_SCAN_EVERY: Duration = Duration::from_millis(50);
/// How long to keep reading stdout/stderr after the child exited and its group was killed.
/// Only a process that escaped the group can keep a pipe open longer than this.
const DRAIN_GRACE: Duration = Duration::from_millis(100);
/// Address-space headroom above the memory limit. `RLIMIT_AS` is only a backstop: the JVM
/// reserves far more virtual memory than it ever touches, so resident memory is what counts.
const ADDRESS_SPACE_HEADROOM: u64 = 4 << 30;
/// Bytes moved per `read`/`write` call on the pipes.
const CHUNK: usize = 64 * 1024;
/// Slack when deciding whether `ru_maxrss` exceeds what fork pollution can explain.
const FORK_POLLUTION_SLACK: u64 = 4 << 20;

/// Runs a command as a plain child process of the worker; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainProcess;

impl PlainProcess {
    pub fn new() -> Self {
        PlainProcess
    }
}

impl Sandbox for PlainProcess {
    /// `slot` is unused: runs in different slots differ only by their work dirs, which the
    /// caller chooses.
    fn run(&self, _slot: usize, spec: &RunSpec) -> Result<RunReport, SandboxError> {
        run(spec)
    }

    fn kind(&self) -> &'static str {
        "plain"
    }
}

fn run(spec: &RunSpec) -> Result<RunReport, SandboxError> {
    let mut command = build_command(spec)?;
    let stdin_data: &[u8] = match &spec.stdin {
        Stdin::Bytes(bytes) => bytes,
        _ => &[],
    };

    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| SandboxError::io(format!("cannot start `{}`", spec.argv[0]), e))?;
    // From here on the child exists: the guard kills and reaps it on every early return.
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| SandboxError::Setup(format!("pid {} out of range", child.id())))?;
    let mut guard = ChildGuard { pid, reaped: false };
    // `spawn` returned only after the exec succeeded (std waits for its close-on-exec error
    // pipe), so from now on `/proc/<pid>` describes the new program, not the forked worker.
    let fork_pollution_bound = own_peak_rss().unwrap_or(u64::MAX);

    let mut stdin = match child.stdin.take() {
        Some(pipe) => Some(Feed::new(nonblocking(OwnedFd::from(pipe))?, stdin_data)),
        None => None,
    };
    let output_cap = usize::try_from(spec.limits.output_bytes).unwrap_or(usize::MAX);
    let mut stdout = Capture::new(child.stdout.take(), output_cap)?;
    let mut stderr = Capture::new(child.stderr.take(), output_cap)?;

    let pidfd = open_pidfd(pid);
    let mut watcher = Watcher::new(pid, spec.limits);
    let mut enforced: Option<Termination> = None;
    let mut exited_at: Option<Instant> = None;
    let mut chunk = vec![0u8; CHUNK];

    loop {
        let now = Instant::now();
        if exited_at.is_none() {
            if now.duration_since(started) >= spec.limits.wall_time {
                enforce(&mut enforced, Termination::WallTimeLimit, pid);
            }
            if watcher.due(now)
                && let Some(limit) = watcher.sample(now)
            {
                enforce(&mut enforced, limit, pid);
            }
        }
        if let Some(at) = exited_at
            && (now >= at + DRAIN_GRACE || (!stdout.is_open() && !stderr.is_open()))
        {
            break;
        }

        // What to wait for, and for how long. Closed streams are -1, which poll skips.
        let waiting_for_exit = exited_at.is_none();
        let pidfd_raw = match (&pidfd, waiting_for_exit) {
            (Some(fd), true) => fd.as_raw_fd(),
            _ => -1,
        };
        let mut fds = [
            pollfd(stdout.fd(), libc::POLLIN),
            pollfd(stderr.fd(), libc::POLLIN),
            pollfd(stdin.as_ref().map_or(-1, Feed::fd), libc::POLLOUT),
            pollfd(pidfd_raw, libc::POLLIN),
        ];
        let timeout = match exited_at {
            Some(at) => (at + DRAIN_GRACE).saturating_duration_since(now),
            None => TICK
                .min(
                    spec.limits
                        .wall_time
                        .saturating_sub(now.duration_since(started)),
                )
                .max(Duration::from_millis(1)),
        };
        poll(&mut fds, timeout)?;

        for (revents, capture) in [(fds[0].revents, &mut stdout), (fds[1].revents, &mut stderr)] {
            if revents != 0 && capture.read_once(&mut chunk)? == ReadOutcome::Overflow {
                enforce(&mut enforced, Termination::OutputLimit, pid);
            }
        }
        if fds[2].revents != 0
            && let Some(feed) = stdin.as_mut()
            && feed.write_once()?
        {
            // All written, or the program stopped reading: close, so it sees end of file.
            stdin = None;
        }
        if waiting_for_exit && has_exited(pid)? {
            exited_at = Some(Instant::now());
            // Whatever the program left running dies with it, so the pipes reach EOF.
            kill_group(pid);
            stdin = None;
        }
    }

    let wall_time = exited_at
        .unwrap_or_else(Instant::now)
        .duration_since(started);
    let (status, usage) = guard.reap()?;
    let rusage_cpu = timeval_duration(usage.ru_utime) + timeval_duration(usage.ru_stime);
    let cpu_time = rusage_cpu.max(watcher.cpu);
    let rusage_peak = u64::try_from(usage.ru_maxrss)
        .unwrap_or(0)
        .saturating_mul(1024);
    let peak_memory_bytes = peak_memory(rusage_peak, watcher.peak, fork_pollution_bound);
    let termination = decide(enforced, status, cpu_time, peak_memory_bytes, &spec.limits);
    if !matches!(
        termination,
        Termination::Exited(_) | Termination::Signaled(_)
    ) {
        tracing::debug!(
            ?termination,
            ?cpu_time,
            ?wall_time,
            peak_memory_bytes,
            "run hit a limit"
        );
    }
    Ok(RunReport {
        termination,
        cpu_time,
        wall_time,
        peak_memory_bytes,
        stdout: stdout.buf,
        stderr: stderr.buf,
    })
}

/// Records the first limit hit (later ones are consequences of the kill) and kills the group.
fn enforce(enforced: &mut Option<Termination>, limit: Termination, pgid: libc::pid_t) {
    if enforced.is_none() {
        *enforced = Some(limit);
    }
    kill_group(pgid);
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// The command with its argv, environment, cwd, stdio and pre-exec setup.
fn build_command(spec: &RunSpec) -> Result<Command, SandboxError> {
    let Some(program) = spec.argv.first() else {
        return Err(SandboxError::InvalidSpec("empty argv".into()));
    };
    if spec.argv.iter().chain(&spec.env).any(|s| s.contains('\0')) {
        return Err(SandboxError::InvalidSpec(
            "argv or env contains a NUL byte".into(),
        ));
    }
    // A relative path with a slash (`./main`) means the work dir; resolve it here rather than
    // rely on when std changes directory relative to exec.
    let mut command = if program.contains('/') && !program.starts_with('/') {
        let mut c = Command::new(spec.work_dir.join(program));
        c.arg0(program);
        c
    } else {
        Command::new(program)
    };
    command.args(&spec.argv[1..]);
    command.env_clear();
    for entry in &spec.env {
        match entry.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                command.env(key, value);
            }
            _ => {
                return Err(SandboxError::InvalidSpec(format!(
                    "environment entry `{entry}` is not KEY=VALUE"
                )));
            }
        }
    }
    command.current_dir(&spec.work_dir);
    command.stdin(match &spec.stdin {
        Stdin::Null => Stdio::null(),
        Stdin::Bytes(_) => Stdio::piped(),
        Stdin::File(path) => Stdio::from(open_stdin_file(path)?),
    });
    command.stdout(Stdio::piped());
    command.stderr(Stdio::piped());

    let rlimits = Rlimits::new(&spec.limits);
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it calls `setsid`, `getrlimit` and `setrlimit` and touches nothing
    // but the `Copy` values it captured (`io::Error::last_os_error` does not allocate).
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            rlimits.apply()
        });
    }
    Ok(command)
}

/// Opens a stdin file without following a symlink, and only if it is a regular file.
/// `O_NONBLOCK` keeps a FIFO planted at the path from blocking the open; it is cleared again
/// because the child inherits the open file description.
fn open_stdin_file(path: &Path) -> Result<File, SandboxError> {
    let context = || format!("cannot open stdin file {}", path.display());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| SandboxError::io(context(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| SandboxError::io(context(), e))?;
    if !meta.file_type().is_file() {
        return Err(SandboxError::InvalidSpec(format!(
            "stdin {} is not a regular file",
            path.display()
        )));
    }
    set_nonblocking(file.as_raw_fd(), false).map_err(|e| SandboxError::io(context(), e))?;
    Ok(file)
}

/// Rlimit values, computed in the parent so the child only copies integers.
#[derive(Debug, Clone, Copy)]
struct Rlimits {
    cpu_soft: u64,
    file_size: u64,
    open_files: u64,
    stack: u64,
    address_space: u64,
    processes: u64,
}

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

impl Rlimits {
    fn new(limits: &Limits) -> Self {
        let cpu = limits.cpu_time;
        let whole = cpu.as_secs() + u64::from(cpu.subsec_nanos() > 0);
        Rlimits {
            // A second of slack: the watcher is what ends a run at the exact limit.
            cpu_soft: whole + 1,
            file_size: limits.file_size_bytes,
            open_files: limits.open_files,
            stack: limits.stack_bytes,
            address_space: limits.memory_bytes.saturating_add(ADDRESS_SPACE_HEADROOM),
            processes: limits.processes,
        }
    }

    /// Runs in the forked child: async-signal-safe calls only.
    fn apply(&self) -> io::Result<()> {
        // SIGXCPU at the soft limit, SIGKILL a second later at the hard one.
        set_rlimit(libc::RLIMIT_CPU, self.cpu_soft, self.cpu_soft + 1)?;
        set_rlimit(libc::RLIMIT_FSIZE, self.file_size, self.file_size)?;
        set_rlimit(libc::RLIMIT_NOFILE, self.open_files, self.open_files)?;
        set_rlimit(libc::RLIMIT_STACK, self.stack, self.stack)?;
        set_rlimit(libc::RLIMIT_CORE, 0, 0)?;
        set_rlimit(libc::RLIMIT_AS, self.address_space, self.address_space)?;
        // Counts every process of the real uid, and root is exempt: a weak backstop.
        set_rlimit(libc::RLIMIT_NPROC, self.processes, self.processes)?;
        Ok(())
    }
}

/// Lowers a limit. Never asks for more than the current hard limit: an unprivileged worker
/// may not raise it, and the run should not get more than the worker has anyway.
fn set_rlimit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack value.
    unsafe {
        if libc::getrlimit(resource, &mut current) == -1 {
            return Err(io::Error::last_os_error());
        }
        let hard = hard.min(current.rlim_max);
        let wanted = libc::rlimit {
            rlim_cur: soft.min(hard),
            rlim_max: hard,
        };
        if libc::setrlimit(resource, &wanted) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Owns the child's pid until it is reaped; on an early return it kills the group and reaps,
/// so no error path leaks a running program or a zombie.
struct ChildGuard {
    pid: libc::pid_t,
    reaped: bool,
}

impl ChildGuard {
    fn reap(&mut self) -> Result<(libc::c_int, libc::rusage), SandboxError> {
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: wait4 on our own child with valid out-pointers.
            let r = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
            if r == self.pid {
                self.reaped = true;
                return Ok((status, usage));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(SandboxError::io("wait4", err));
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            kill_group(self.pid);
            let mut status = 0;
            // SAFETY: reaping our own child, which SIGKILL ends promptly.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

/// SIGKILL to the whole process group (`setsid` made its id the child's pid).
fn kill_group(pgid: libc::pid_t) {
    // SAFETY: plain syscall. ESRCH (nothing left) is fine.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// True once the child has exited; it stays a zombie (`WNOWAIT`) until reaped.
fn has_exited(pid: libc::pid_t) -> Result<bool, SandboxError> {
    // SAFETY: an all-zero siginfo is valid; waitid fills it in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid on our own child with a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            // SAFETY: si_pid is valid for a SIGCHLD-style siginfo, and zero when none exited.
            return Ok(unsafe { info.si_pid() } == pid);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(SandboxError::io("waitid", err));
        }
    }
}

/// A pidfd becomes readable when the process exits, so the loop wakes at once instead of at
/// the next tick. Without one (old kernel) the loop still notices at the next tick.
fn open_pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new fd we own (close-on-exec).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: fd was just returned by pidfd_open and is owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> Result<(), SandboxError> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: fds is a valid slice of pollfd; negative fds are ignored by poll.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r == -1 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(SandboxError::io("poll", err));
        }
        for fd in fds {
            fd.revents = 0;
        }
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags == -1 {
            return Err(io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if libc::fcntl(fd, libc::F_SETFL, flags) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Our end of a pipe, switched to non-blocking (the child's end is a separate open file
/// description and stays blocking).
fn nonblocking(fd: OwnedFd) -> Result<File, SandboxError> {
    set_nonblocking(fd.as_raw_fd(), true).map_err(|e| SandboxError::io("pipe setup", e))?;
    Ok(File::from(fd))
}

/// Feeds the stdin bytes into the pipe as the program reads them.
///
/// A program that exits or closes stdin before reading everything makes the write fail with
/// `EPIPE`, which is not an error. That relies on `SIGPIPE` being ignored in the worker, as
/// the Rust runtime sets up for every binary (std restores the default in the child).
struct Feed<'a> {
    pipe: File,
    data: &'a [u8],
}

impl<'a> Feed<'a> {
    fn new(pipe: File, data: &'a [u8]) -> Self {
        Feed { pipe, data }
    }

    fn fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }

    /// Writes what the pipe takes; true when there is nothing more to write.
    fn write_once(&mut self) -> Result<bool, SandboxError> {
        if self.data.is_empty() {
            return Ok(true);
        }
        let n = self.data.len().min(CHUNK);
        match self.pipe.write(&self.data[..n]) {
            Ok(written) => {
                self.data = &self.data[written..];
                Ok(self.data.is_empty())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            // The program closed its stdin or exited without reading it all: its business.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
            Err(e) => Err(SandboxError::io("write to stdin", e)),
        }
    }
}

/// Reads one output pipe into a buffer that never grows past the cap.
struct Capture {
    pipe: Option<File>,
    buf: Vec<u8>,
    cap: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum ReadOutcome {
    More,
    Eof,
    /// The program wrote more than the cap; the captured bytes stop exactly at the cap.
    Overflow,
}

impl Capture {
    fn new(pipe: Option<impl Into<OwnedFd>>, cap: usize) -> Result<Self, SandboxError> {
        let pipe = match pipe {
            Some(pipe) => Some(nonblocking(pipe.into())?),
            None => None,
        };
        Ok(Capture {
            pipe,
            buf: Vec::new(),
            cap,
        })
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    fn fd(&self) -> RawFd {
        self.pipe.as_ref().map_or(-1, |p| p.as_raw_fd())
    }

    /// One `read`. Closes the pipe at end of file and on overflow (the group is being killed;
    /// nothing past the cap is wanted).
    fn read_once(&mut self, chunk: &mut [u8]) -> Result<ReadOutcome, SandboxError> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(ReadOutcome::Eof);
        };
        match pipe.read(chunk) {
            Ok(0) => {
                self.pipe = None;
                Ok(ReadOutcome::Eof)
            }
            Ok(n) => {
                let room = self.cap - self.buf.len();
                if n > room {
                    self.buf.extend_from_slice(&chunk[..room]);
                    self.pipe = None;
                    Ok(ReadOutcome::Overflow)
                } else {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(ReadOutcome::More)
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(ReadOutcome::More)
            }
            Err(e) => Err(SandboxError::io("read program output", e)),
        }
    }
}

/// Samples `/proc` for the child's CPU time and resident memory, and says when a limit is hit.
///
/// Every tick it reads the child's own `stat` (its CPU time plus that of the children it has
/// reaped) and `status` (`VmRSS`, `VmHWM`). Every [`GROUP_SCAN_EVERY`] it also adds up the
/// other members of the process group, which catches work done in forked children. Values
/// from a scan are only combined with values read in the same scan, so a child counted in
/// the scan and reaped later is never counted twice.
struct Watcher {
    pid: libc::pid_t,
    limits: Limits,
    next_sample: Instant,
    next_scan: Instant,
    /// Highest CPU time seen.
    cpu: Duration,
    /// Highest resident memory seen, in bytes.
    peak: u64,
    ns_per_tick: u64,
    page_size: u64,
}

impl Watcher {
    fn new(pid: libc::pid_t, limits: Limits) -> Self {
        let now = Instant::now();
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        Watcher {
            pid,
            limits,
            next_sample: now,
            // Short runs, the common case, never pay for a scan.
            next_scan: now + GROUP_SCAN_EVERY,
            cpu: Duration::ZERO,
            peak: 0,
            ns_per_tick: 1_000_000_000
                / u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100),
            page_size: u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096),
        }
    }

    fn due(&self, now: Instant) -> bool {
        now >= self.next_sample
    }

    /// Takes one sample; returns the limit exceeded, if any.
    fn sample(&mut self, now: Instant) -> Option<Termination> {
        self.next_sample = now + TICK;
        let Some(main) = read_stat(self.pid) else {
            // Gone between the exit check and here: the loop notices the exit next.
            return None;
        };
        let mut cpu = self.ticks(main.cpu_ticks);
        let mut memory = main.rss_pages * self.page_size;
        if let Some((rss, hwm)) = read_status_memory(self.pid) {
            memory = memory.max(rss).max(hwm);
        }
        if now >= self.next_scan {
            self.next_scan = now + GROUP_SCAN_EVERY;
            let others = scan_group(self.pid);
            cpu = cpu.max(self.ticks(main.cpu_ticks + others.cpu_ticks));
            memory = memory.max((main.rss_pages + others.rss_pages) * self.page_size);
        }
        self.cpu = self.cpu.max(cpu);
        self.peak = self.peak.max(memory);
        if self.cpu > self.limits.cpu_time {
            Some(Termination::CpuTimeLimit)
        } else if self.peak > self.limits.memory_bytes {
            Some(Termination::MemoryLimit)
        } else {
            None
        }
    }

    fn ticks(&self, ticks: u64) -> Duration {
        Duration::from_nanos(ticks.saturating_mul(self.ns_per_tick))
    }
}

/// The fields of `/proc/<pid>/stat` the watcher uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcStat {
    pgrp: i64,
    /// utime + stime + cutime + cstime, in clock ticks.
    cpu_ticks: u64,
    rss_pages: u64,
}

fn read_stat(pid: libc::pid_t) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses `pid (comm) state ppid pgrp ...`. `comm` may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state) in proc(5) numbering.
    let field = |n: usize| -> Option<i64> { fields.get(n - 3)?.parse().ok() };
    let non_negative = |v: i64| u64::try_from(v).unwrap_or(0);
    let cpu_ticks = [14, 15, 16, 17]
        .into_iter()
        .map(|n| field(n).map(non_negative))
        .sum::<Option<u64>>()?;
    Some(ProcStat {
        pgrp: field(5)?,
        cpu_ticks,
        rss_pages: non_negative(field(24)?),
    })
}

/// `VmRSS` and `VmHWM` in bytes; `None` once the process has no address space (zombie).
fn read_status_memory(pid: libc::pid_t) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((status_kb(&text, "VmRSS:")?, status_kb(&text, "VmHWM:")?))
}

fn status_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The worker's own peak resident memory, which bounds what `fork` can leak into a child's
/// `ru_maxrss` (see [`peak_memory`]).
fn own_peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kb(&text, "VmHWM:")
}

/// CPU ticks and resident pages of every other process in the group of `pgid`.
fn scan_group(pgid: libc::pid_t) -> ProcStat {
    let mut total = ProcStat::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid == pgid {
            continue;
        }
        if let Some(stat) = read_stat(pid)
            && stat.pgrp == i64::from(pgid)
        {
            total.cpu_ticks += stat.cpu_ticks;
            total.rss_pages += stat.rss_pages;
        }
    }
    total
}

/// Peak resident memory of the run, from `ru_maxrss` and the watcher's samples.
///
/// `ru_maxrss` would be exact but for one kernel detail: `exec` folds the high-water mark of
/// the old address space (the forked copy of the worker) into the process's `maxrss`. That
/// copy is never larger than the worker's own peak, so a `ru_maxrss` above that bound is the
/// program's own; at or below it, it may be the worker's, and the samples of `VmHWM` (which
/// belongs to the new address space) are used instead. They can miss growth in the last
/// [`TICK`] of a run, which only matters for programs that finish within a few milliseconds.
fn peak_memory(rusage_peak: u64, sampled_peak: u64, pollution_bound: u64) -> u64 {
    if rusage_peak > pollution_bound.saturating_add(FORK_POLLUTION_SLACK) {
        rusage_peak.max(sampled_peak)
    } else {
        sampled_peak
    }
}

/// How the run ended: a limit the watcher enforced wins (the kill's signal is its
/// consequence); then limits the kernel enforced (`SIGXCPU`, `SIGXFSZ`); then limits that
/// were exceeded without being caught in time; then the program's own exit.
fn decide(
    enforced: Option<Termination>,
    status: libc::c_int,
    cpu_time: Duration,
    peak_memory_bytes: u64,
    limits: &Limits,
) -> Termination {
    if let Some(limit) = enforced {
        return limit;
    }
    let signal = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
    match signal {
        Some(libc::SIGXCPU) => return Termination::CpuTimeLimit,
        Some(libc::SIGXFSZ) => return Termination::OutputLimit,
        _ => {}
    }
    if cpu_time > limits.cpu_time {
        return Termination::CpuTimeLimit;
    }
    if peak_memory_bytes > limits.memory_bytes {
        return Termination::MemoryLimit;
    }
    match signal {
        Some(sig) => Termination::Signaled(sig),
        None => Termination::Exited(libc::WEXITSTATUS(status)),
    }
}

fn timeval_duration(tv: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A work dir of its own for each test (tests run in parallel), removed at the end.
    struct WorkDir(PathBuf);

    impl WorkDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("plain-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            WorkDir(dir)
        }
    }

    impl Drop for WorkDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn limits() -> Limits {
        Limits {
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            processes: 64,
            output_bytes: 1 << 20,
            file_size_bytes: 16 << 20,
            open_files: 64,
            stack_bytes: 64 << 20,
        }
    }

    fn spec(dir: &WorkDir, argv: &[&str]) -> RunSpec {
        RunSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/bin:/bin".into()],
            work_dir: dir.0.clone(),
            read_only_binds: vec![],
            stdin: Stdin::Null,
            limits: limits(),
        }
    }

    fn run(spec: &RunSpec) -> RunReport {
        PlainProcess.run(0, spec).unwrap()
    }

    fn sh(dir: &WorkDir, script: &str) -> RunSpec {
        spec(dir, &["/bin/sh", "-c", script])
    }

    /// Dead: gone from /proc, or a zombie waiting for whoever inherited it.
    fn is_dead(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(text) => text
                .rfind(')')
                .is_some_and(|i| text[i + 1..].trim_start().starts_with(['Z', 'X'])),
        }
    }

    #[test]
    fn exit_code_and_both_streams() {
        let dir = WorkDir::new("exit");
        let report = run(&sh(&dir, "echo out; echo err >&2; exit 3"));
        assert_eq!(report.termination, Termination::Exited(3));
        assert_eq!(report.stdout, b"out\n");
        assert_eq!(report.stderr, b"err\n");
        assert!(!report.success());
        assert!(run(&sh(&dir, "true")).success());
    }

    #[test]
    fn killed_by_a_signal() {
        let dir = WorkDir::new("signal");
        let report = run(&sh(&dir, "kill -SEGV $$"));
        assert_eq!(report.termination, Termination::Signaled(libc::SIGSEGV));
    }

    #[test]
    fn exact_environment_and_work_dir() {
        let dir = WorkDir::new("env");
        let mut s = spec(&dir, &["/usr/bin/env"]);
        s.env = vec!["A=1".into(), "B=x=y".into()];
        assert_eq!(run(&s).stdout, b"A=1\nB=x=y\n");
        let report = run(&spec(&dir, &["/bin/pwd"]));
        let cwd = String::from_utf8(report.stdout).unwrap();
        assert_eq!(Path::new(cwd.trim_end()), dir.0.as_path());
    }

    #[test]
    fn relative_program_is_found_in_the_work_dir() {
        let dir = WorkDir::new("relative");
        std::fs::write(dir.0.join("prog"), "#!/bin/sh\necho relative\n").unwrap();
        std::fs::set_permissions(
            dir.0.join("prog"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let report = run(&spec(&dir, &["./prog"]));
        assert_eq!(report.stdout, b"relative\n");
    }

    #[test]
    fn rlimits_are_set_in_the_child() {
        let dir = WorkDir::new("rlimits");
        let mut s = sh(&dir, "ulimit -n; ulimit -s; ulimit -c; ulimit -t");
        s.limits.cpu_time = Duration::from_millis(1500);
        let report = run(&s);
        // open files 64; stack 64 MiB in KiB; no core; cpu ceil(1.5)+1 s.
        assert_eq!(String::from_utf8_lossy(&report.stdout), "64\n65536\n0\n3\n");
    }

    #[test]
    fn wall_time_limit_ends_a_sleeper_promptly() {
        let dir = WorkDir::new("wall");
        let mut s = spec(&dir, &["/bin/sleep", "30"]);
        s.limits.wall_time = Duration::from_millis(200);
        let started = Instant::now();
        let report = run(&s);
        assert_eq!(report.termination, Termination::WallTimeLimit);
        assert!(report.wall_time >= Duration::from_millis(200));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn cpu_time_limit_ends_a_busy_loop() {
        let dir = WorkDir::new("cpu");
        let mut s = sh(&dir, "while :; do :; done");
        s.limits.cpu_time = Duration::from_millis(300);
        let report = run(&s);
        assert_eq!(report.termination, Termination::CpuTimeLimit);
        assert!(
            report.cpu_time > Duration::from_millis(300),
            "{:?}",
            report.cpu_time
        );
    }

    #[test]
    fn cpu_time_of_a_forked_child_counts() {
        let dir = WorkDir::new("cpu-child");
        // The shell only waits; the spinning is done by a child it has not reaped yet.
        let mut s = sh(&dir, "/bin/sh -c 'while :; do :; done' & wait");
        s.limits.cpu_time = Duration::from_millis(300);
        let report = run(&s);
        assert_eq!(report.termination, Termination::CpuTimeLimit);
    }

    #[test]
    fn output_cap_keeps_exactly_the_cap() {
        let dir = WorkDir::new("output");
        let mut s = spec(&dir, &["/usr/bin/yes"]);
        s.limits.output_bytes = 1000;
        let report = run(&s);
        assert_eq!(report.termination, Termination::OutputLimit);
        assert_eq!(report.stdout.len(), 1000);
        assert!(report.stdout.starts_with(b"y\ny\n"));

        let mut s = sh(&dir, "yes >&2");
        s.limits.output_bytes = 100_000;
        let report = run(&s);
        assert_eq!(report.termination, Termination::OutputLimit);
        assert_eq!(report.stderr.len(), 100_000);
    }

    #[test]
    fn output_exactly_at_the_cap_is_fine() {
        let dir = WorkDir::new("output-exact");
        let mut s = spec(&dir, &["/usr/bin/head", "-c", "200000", "/dev/zero"]);
        s.limits.output_bytes = 200_000;
        let report = run(&s);
        assert_eq!(report.termination, Termination::Exited(0));
        assert_eq!(report.stdout.len(), 200_000);
    }

    #[test]
    fn file_size_limit_is_an_output_limit() {
        let dir = WorkDir::new("fsize");
        let mut s = sh(&dir, "exec /usr/bin/head -c 100000 /dev/zero > big");
        s.limits.file_size_bytes = 10_000;
        assert_eq!(run(&s).termination, Termination::OutputLimit);
    }

    #[test]
    fn memory_limit_on_resident_memory() {
        let dir = WorkDir::new("memory");
        // Stays alive holding the memory: caught by the watcher.
        let mut s = spec(
            &dir,
            &[
                "/usr/bin/python3",
                "-c",
                "import time\nb = b'x' * (300 << 20)\ntime.sleep(10)",
            ],
        );
        s.limits.memory_bytes = 64 << 20;
        let report = run(&s);
        assert_eq!(report.termination, Termination::MemoryLimit);
        assert!(report.wall_time < Duration::from_secs(10));

        // Allocates and exits at once: caught by the watcher or by ru_maxrss afterwards.
        let mut s = spec(&dir, &["/usr/bin/python3", "-c", "b = b'x' * (300 << 20)"]);
        s.limits.memory_bytes = 64 << 20;
        assert_eq!(run(&s).termination, Termination::MemoryLimit);
    }

    #[test]
    fn peak_memory_of_a_small_program_is_small() {
        let dir = WorkDir::new("memory-small");
        let report = run(&spec(
            &dir,
            &[
                "/usr/bin/python3",
                "-c",
                "import time; b = b'x' * (40 << 20); time.sleep(0.2)",
            ],
        ));
        assert!(report.success());
        let mb = report.peak_memory_bytes >> 20;
        assert!((40..200).contains(&mb), "{mb} MiB");
    }

    #[test]
    fn the_workers_own_memory_is_not_charged_to_the_program() {
        let dir = WorkDir::new("memory-worker");
        // The forked copy of this (now big) test process leaks its size into ru_maxrss.
        let ballast = vec![1u8; 128 << 20];
        let mut s = spec(&dir, &["/bin/true"]);
        s.limits.memory_bytes = 64 << 20;
        let report = run(&s);
        assert_eq!(report.termination, Termination::Exited(0));
        assert!(
            report.peak_memory_bytes < 64 << 20,
            "{}",
            report.peak_memory_bytes
        );
        assert_eq!(
            std::hint::black_box(ballast)
                .iter()
                .map(|b| *b as usize)
                .sum::<usize>(),
            128 << 20
        );
    }

    #[test]
    fn stdin_bytes_larger_than_a_pipe_buffer() {
        let dir = WorkDir::new("stdin");
        let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = spec(&dir, &["/bin/cat"]);
        s.stdin = Stdin::Bytes(input.clone());
        let report = run(&s);
        assert!(report.success());
        assert_eq!(report.stdout, input);
    }

    #[test]
    fn unread_stdin_does_not_hang() {
        let dir = WorkDir::new("stdin-unread");
        let mut s = sh(&dir, "exit 0");
        s.stdin = Stdin::Bytes(vec![b'x'; 1 << 20]);
        assert!(run(&s).success());
    }

    #[test]
    fn stdin_from_a_regular_file_only() {
        let dir = WorkDir::new("stdin-file");
        let file = dir.0.join("input");
        std::fs::write(&file, "from a file\n").unwrap();
        let mut s = spec(&dir, &["/bin/cat"]);
        s.stdin = Stdin::File(file.clone());
        assert_eq!(run(&s).stdout, b"from a file\n");

        let link = dir.0.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        s.stdin = Stdin::File(link);
        assert!(matches!(
            PlainProcess.run(0, &s),
            Err(SandboxError::Io { .. })
        ));

        s.stdin = Stdin::File(dir.0.clone());
        assert!(matches!(
            PlainProcess.run(0, &s),
            Err(SandboxError::InvalidSpec(_))
        ));

        let fifo = dir.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        s.stdin = Stdin::File(fifo);
        assert!(matches!(
            PlainProcess.run(0, &s),
            Err(SandboxError::InvalidSpec(_))
        ));
    }

    #[test]
    fn background_grandchild_is_killed_and_does_not_hang_the_run() {
        let dir = WorkDir::new("background");
        let started = Instant::now();
        let report = run(&sh(&dir, "sleep 100 & echo $!; echo hi"));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(report.termination, Termination::Exited(0));
        let text = String::from_utf8(report.stdout).unwrap();
        let pid: i32 = text.lines().next().unwrap().parse().unwrap();
        assert!(text.ends_with("hi\n"));
        // SIGKILL was sent before run() returned; give the kernel a moment to finish it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while !is_dead(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_dead(pid), "background sleep {pid} survived the run");
    }

    #[test]
    fn escaped_grandchild_holding_the_pipes_does_not_hang_the_run() {
        let dir = WorkDir::new("escaped");
        let started = Instant::now();
        let report = run(&sh(&dir, "/usr/bin/setsid /bin/sleep 30 & echo $!"));
        let elapsed = started.elapsed();
        let pid: i32 = String::from_utf8_lossy(&report.stdout)
            .trim()
            .parse()
            .unwrap();
        // The plain runner cannot reach a process in another session: clean it up here.
        // SAFETY: plain syscall on the pid the script printed.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(report.termination, Termination::Exited(0));
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn invalid_specs_and_missing_programs_are_errors() {
        let dir = WorkDir::new("invalid");
        assert!(matches!(
            PlainProcess.run(0, &spec(&dir, &[])),
            Err(SandboxError::InvalidSpec(_))
        ));
        let mut s = spec(&dir, &["/bin/true"]);
        s.env = vec!["NOEQUALS".into()];
        assert!(matches!(
            PlainProcess.run(0, &s),
            Err(SandboxError::InvalidSpec(_))
        ));
        assert!(matches!(
            PlainProcess.run(0, &spec(&dir, &["./main"])),
            Err(SandboxError::Io { .. })
        ));
        assert!(matches!(
            PlainProcess.run(0, &spec(&dir, &["/nonexistent/prog"])),
            Err(SandboxError::Io { .. })
        ));
    }

    #[test]
    fn stat_parsing_counts_fields_from_the_last_parenthesis() {
        let line = "42 (a) b) (c) R 1 77 77 0 -1 0 0 0 0 0 10 20 3 4 20 0 1 0 100 1000 250 rest";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pgrp: 77,
                cpu_ticks: 37,
                rss_pages: 250
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kb(status, "VmHWM:"), Some(2 << 20));
        assert_eq!(status_kb(status, "VmRSS:"), Some(1 << 20));
    }

    #[test]
    fn decision_order() {
        let l = limits();
        let exited = |code: i32| code << 8;
        let signaled = |sig: i32| sig;
        let second = Duration::from_secs(1);
        assert_eq!(
            decide(None, exited(0), second, 1, &l),
            Termination::Exited(0)
        );
        assert_eq!(
            decide(None, exited(2), second, 1, &l),
            Termination::Exited(2)
        );
        assert_eq!(
            decide(None, signaled(libc::SIGSEGV), second, 1, &l),
            Termination::Signaled(libc::SIGSEGV)
        );
        assert_eq!(
            decide(None, signaled(libc::SIGXCPU), second, 1, &l),
            Termination::CpuTimeLimit
        );
        assert_eq!(
            decide(None, signaled(libc::SIGXFSZ), second, 1, &l),
            Termination::OutputLimit
        );
        // The hard RLIMIT_CPU ends with SIGKILL: the CPU time says why.
        assert_eq!(
            decide(None, signaled(libc::SIGKILL), l.cpu_time * 2, 1, &l),
            Termination::CpuTimeLimit
        );
        assert_eq!(
            decide(None, exited(0), second, l.memory_bytes + 1, &l),
            Termination::MemoryLimit
        );
        assert_eq!(
            decide(
                Some(Termination::WallTimeLimit),
                signaled(libc::SIGKILL),
                second,
                1,
                &l
            ),
            Termination::WallTimeLimit
        );
    }

    #[test]
    fn fork_pollution_of_ru_maxrss_is_discarded() {
        let bound = 100 << 20;
        assert_eq!(peak_memory(90 << 20, 3 << 20, bound), 3 << 20);
        assert_eq!(peak_memory(300 << 20, 200 << 20, bound), 300 << 20);
        assert_eq!(peak_memory(300 << 20, 400 << 20, bound), 400 << 20);
    }
}
