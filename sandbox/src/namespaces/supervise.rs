//! The worker's side of a run: one `poll` loop that captures stdout and stderr up to the cap,
//! collects the child's reports, enforces the wall-clock and whole-tree CPU limits, and
//! notices through a pidfd when init (and with it the whole PID namespace) is gone.
//!
//! Why one loop and not reader threads: after a kill the loop can stop reading at a deadline,
//! a blocked `read` cannot. Why kill init: the kernel then kills every process left in the
//! PID namespace, including those that double-forked, changed session or ignore signals, and
//! forks in a dying namespace fail, so a fork bomb cannot outrun the kill.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::cgroup::SlotCgroup;
use super::sys;
use crate::{Limits, SandboxError};

/// Bytes read per `read` from a pipe.
const CHUNK: usize = 64 * 1024;
/// After init is gone every writer is dead; this only bounds a pipe end that leaked into a
/// process outside the run (a concurrent clone in the worker holds it for microseconds).
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Bounds on how often the cgroup's CPU time is sampled.
const CPU_CHECK_MIN: Duration = Duration::from_millis(1);
const CPU_CHECK_MAX: Duration = Duration::from_millis(100);
/// How long init may take to die after SIGKILL before the run counts as a sandbox failure.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Reports from the children are a few 16-byte records; more is a bug, not worth buffering.
const STATUS_MAX: usize = 4096;

/// Why the worker killed the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    Wall,
    Cpu,
    Output,
}

/// What the loop saw.
pub struct Outcome {
    pub kill: Option<Kill>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Raw report records from init and the program's process.
    pub status: Vec<u8>,
    pub wall: Duration,
}

/// The run being watched.
pub struct Watch<'a> {
    pub pidfd: &'a OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub status: OwnedFd,
    pub limits: &'a Limits,
    pub cgroup: &'a dyn SlotCgroup,
    pub cpu_base: Duration,
    pub cpus: u32,
    pub started: Instant,
}

struct Stream {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    cap: usize,
}

impl Stream {
    fn new(fd: OwnedFd, cap: usize) -> Stream {
        Stream {
            fd: Some(fd),
            buf: Vec::new(),
            cap,
        }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Read what is available. Returns true if the data went past the cap.
    fn read_some(&mut self) -> Result<bool, SandboxError> {
        let Some(fd) = &self.fd else {
            return Ok(false);
        };
        // Never hold more than cap + 1 bytes: one byte past the cap proves the overflow.
        let room = (self.cap + 1).saturating_sub(self.buf.len()).min(CHUNK);
        let start = self.buf.len();
        self.buf.resize(start + room.max(1), 0);
        // SAFETY: the buffer has room.max(1) writable bytes at `start`.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                self.buf[start..].as_mut_ptr().cast(),
                room.max(1),
            )
        };
        if n < 0 {
            self.buf.truncate(start);
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(SandboxError::io("reading the program's output", e));
        }
        self.buf.truncate(start + n as usize);
        if n == 0 {
            self.fd = None;
        }
        if self.buf.len() > self.cap {
            self.buf.truncate(self.cap);
            self.fd = None;
            return Ok(true);
        }
        Ok(false)
    }
}

fn kill(pidfd: &OwnedFd) {
    if let Err(e) = sys::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL) {
        // ESRCH: it is already gone, which is what we wanted.
        if e.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(error = %e, "could not kill the sandbox init");
        }
    }
}

/// Reap init (a zombie by now).
pub fn reap(pidfd: &OwnedFd) -> Result<(), SandboxError> {
    loop {
        // SAFETY: zeroed siginfo is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pidfd and out-parameter.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(SandboxError::io("reaping the sandbox init", e));
        }
    }
}

fn until(now: Instant, t: Instant) -> Duration {
    t.saturating_duration_since(now)
}

/// Watch the run until init is gone and the pipes are drained.
pub fn watch(w: Watch) -> Result<Outcome, SandboxError> {
    let cap = usize::try_from(w.limits.output_bytes).unwrap_or(usize::MAX - 1);
    let mut out = Stream::new(w.stdout, cap);
    let mut err = Stream::new(w.stderr, cap);
    let mut status = Stream::new(w.status, STATUS_MAX);
    let deadline = w.started + w.limits.wall_time;
    let mut killed: Option<Kill> = None;
    let mut killed_at: Option<Instant> = None;
    let mut exited_at: Option<Instant> = None;
    let mut next_cpu_check = w.started + CPU_CHECK_MIN;

    loop {
        let now = Instant::now();
        if let Some(at) = exited_at {
            if out.fd.is_none() && err.fd.is_none() && status.fd.is_none() {
                break;
            }
            if now >= at + DRAIN_GRACE {
                tracing::warn!("sandbox output pipes still open after the run ended");
                break;
            }
        } else if let Some(at) = killed_at {
            if now >= at + KILL_TIMEOUT {
                return Err(SandboxError::Setup(
                    "the sandbox init did not die after SIGKILL".into(),
                ));
            }
        } else if killed.is_none() {
            if now >= deadline {
                killed = Some(Kill::Wall);
                killed_at = Some(now);
                kill(w.pidfd);
            } else if now >= next_cpu_check {
                let used = w.cgroup.cpu_total()?.saturating_sub(w.cpu_base);
                if used > w.limits.cpu_time {
                    killed = Some(Kill::Cpu);
                    killed_at = Some(now);
                    kill(w.pidfd);
                } else {
                    // The tree can burn at most `cpus` seconds of CPU per second.
                    let left = (w.limits.cpu_time - used) / w.cpus.max(1);
                    next_cpu_check = now + left.clamp(CPU_CHECK_MIN, CPU_CHECK_MAX);
                }
            }
        }

        let timeout = match (exited_at, killed) {
            (Some(at), _) => until(now, at + DRAIN_GRACE),
            // Killed: only the pidfd matters now; a generous bound in case SIGKILL is slow.
            (None, Some(_)) => Duration::from_secs(1),
            (None, None) => until(now, deadline.min(next_cpu_check)),
        };
        let mut fds = [
            libc::pollfd {
                fd: out.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: err.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: status.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if exited_at.is_none() {
                    w.pidfd.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: valid pollfd array and timespec; no signal mask change.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(SandboxError::io("polling the sandbox", e));
        }
        let ready = |i: usize| fds[i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
        if ready(0) && out.read_some()? && killed.is_none() {
            killed = Some(Kill::Output);
            killed_at = Some(Instant::now());
            kill(w.pidfd);
        }
        if ready(1) && err.read_some()? && killed.is_none() {
            killed = Some(Kill::Output);
            killed_at = Some(Instant::now());
            kill(w.pidfd);
        }
        if ready(2) {
            status.read_some()?;
        }
        if ready(3) && exited_at.is_none() {
            exited_at = Some(Instant::now());
            reap(w.pidfd)?;
        }
    }

    let wall = exited_at.unwrap_or_else(Instant::now) - w.started;
    Ok(Outcome {
        kill: killed,
        stdout: out.buf,
        stderr: err.buf,
        status: status.buf,
        wall,
    })
}
