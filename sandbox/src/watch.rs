//! The supervisor's side of every run, whatever the mechanism: one `poll` loop that captures
//! stdout and stderr up to the cap, enforces the wall-clock and whole-tree CPU limits (and
//! sampled memory where the mechanism has no memory cgroup), and notices through a pidfd
//! when the run's root process is gone.
//!
//! Why one loop and not reader threads: after a kill the loop can stop reading at a deadline;
//! a blocked `read` cannot be cancelled, and a process that escaped the kill could hold a
//! pipe open forever.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::decide::Kill;
use crate::{Limits, SandboxError};

/// Bytes read per `read` from a pipe.
const CHUNK: usize = 64 * 1024;
/// After the root is gone the kill has reached every writer; this only bounds a pipe end that
/// leaked into a process outside the run (a concurrent clone in the worker holds it for
/// microseconds; under the plain runner, a grandchild that left the process group).
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// Bounds on how often the tree's CPU time is sampled.
const SAMPLE_MIN: Duration = Duration::from_millis(1);
/// How long the root may take to die after SIGKILL before the run counts as a sandbox failure.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// One reading of a running tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// CPU time of every process of the run so far.
    pub cpu: Duration,
    /// Resident memory now, where the mechanism enforces memory by sampling.
    pub memory: Option<u64>,
}

/// A run's process tree as the loop sees it; each mechanism provides one.
pub(crate) trait RunningTree {
    /// When the run started (before its first process existed).
    fn started(&self) -> Instant;
    /// A pidfd of the process whose end ends the run.
    fn exit_fd(&self) -> RawFd;
    fn sample(&mut self) -> Result<Sample, SandboxError>;
    /// Sample at least this often.
    fn max_sample_interval(&self) -> Duration;
    /// SIGKILL the whole tree (idempotent).
    fn kill(&mut self);
    /// The root process ended: make sure nothing of the run goes on writing.
    fn root_ended(&mut self) -> Result<(), SandboxError>;
}

/// What the loop saw.
#[derive(Debug)]
pub(crate) struct Watched {
    pub kill: Option<Kill>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub wall: Duration,
}

fn cpus() -> u32 {
    static CPUS: OnceLock<u32> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
}

/// One output pipe, read into a buffer that never grows past the cap.
struct Capped {
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
    cap: usize,
}

impl Capped {
    fn new(fd: OwnedFd, cap: usize) -> Capped {
        Capped {
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
        let room = (self.cap + 1)
            .saturating_sub(self.buf.len())
            .clamp(1, CHUNK);
        let start = self.buf.len();
        self.buf.resize(start + room, 0);
        // SAFETY: the buffer has `room` writable bytes at `start`.
        let n = unsafe { libc::read(fd.as_raw_fd(), self.buf[start..].as_mut_ptr().cast(), room) };
        if n < 0 {
            self.buf.truncate(start);
            let e = std::io::Error::last_os_error();
            if matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ) {
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

/// Kill the tree; the first reason is the one that counts (later ones are its consequences).
fn kill(
    tree: &mut dyn RunningTree,
    why: Kill,
    killed: &mut Option<Kill>,
    killed_at: &mut Option<Instant>,
) {
    if killed.is_none() {
        *killed = Some(why);
        *killed_at = Some(Instant::now());
    }
    tree.kill();
}

fn until(now: Instant, t: Instant) -> Duration {
    t.saturating_duration_since(now)
}

/// Watch the run until its root is gone and the pipes are drained (or the grace is over).
pub(crate) fn watch(
    tree: &mut dyn RunningTree,
    stdout: OwnedFd,
    stderr: OwnedFd,
    limits: &Limits,
) -> Result<Watched, SandboxError> {
    let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX - 1);
    let mut out = Capped::new(stdout, cap);
    let mut err = Capped::new(stderr, cap);
    let started = tree.started();
    let deadline = started + limits.wall_time;
    let max_interval = tree.max_sample_interval().max(SAMPLE_MIN);
    let mut killed: Option<Kill> = None;
    let mut killed_at: Option<Instant> = None;
    let mut ended_at: Option<Instant> = None;
    let mut next_sample = started + SAMPLE_MIN;

    loop {
        let now = Instant::now();
        if let Some(at) = ended_at {
            if out.fd.is_none() && err.fd.is_none() {
                break;
            }
            if now >= at + DRAIN_GRACE {
                tracing::warn!("sandbox output pipes still open after the run ended");
                break;
            }
        } else if let Some(at) = killed_at {
            if now >= at + KILL_TIMEOUT {
                return Err(SandboxError::Setup(
                    "the run's processes did not die after SIGKILL".into(),
                ));
            }
        } else if now >= deadline {
            kill(tree, Kill::Wall, &mut killed, &mut killed_at);
        } else if now >= next_sample {
            let sample = tree.sample()?;
            if sample.cpu > limits.cpu_time {
                kill(tree, Kill::Cpu, &mut killed, &mut killed_at);
            } else if sample.memory.is_some_and(|m| m > limits.memory_bytes) {
                kill(tree, Kill::Memory, &mut killed, &mut killed_at);
            } else {
                // The tree can burn at most `cpus` seconds of CPU per second.
                let left = (limits.cpu_time - sample.cpu) / cpus().max(1);
                next_sample = now + left.clamp(SAMPLE_MIN, max_interval);
            }
        }

        let timeout = match (ended_at, killed_at) {
            (Some(at), _) => until(now, at + DRAIN_GRACE),
            // Killed: only the pidfd matters now; a generous bound in case SIGKILL is slow.
            (None, Some(_)) => Duration::from_secs(1),
            (None, None) => until(now, deadline.min(next_sample)),
        };
        let pollfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            pollfd(out.raw()),
            pollfd(err.raw()),
            pollfd(if ended_at.is_none() {
                tree.exit_fd()
            } else {
                -1
            }),
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
        if ready(0) && out.read_some()? {
            kill(tree, Kill::Output, &mut killed, &mut killed_at);
        }
        if ready(1) && err.read_some()? {
            kill(tree, Kill::Output, &mut killed, &mut killed_at);
        }
        if ready(2) && ended_at.is_none() {
            ended_at = Some(Instant::now());
            tree.root_ended()?;
        }
    }

    let wall = ended_at.unwrap_or_else(Instant::now) - started;
    Ok(Watched {
        kill: killed,
        stdout: out.buf,
        stderr: err.buf,
        wall,
    })
}
