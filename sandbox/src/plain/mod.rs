//! The plain mechanism: one child process with rlimits and a process group of its own, in a
//! host directory, sampled through `/proc`.
//!
//! It isolates nothing (no namespaces, no cgroup, no seccomp, no disk quota): the program
//! sees the host's files and network as the worker's user, and a [`Phase::Run`] can change
//! the build output in place. It exists so the judge can be developed and tested on any Linux
//! box without root. What it shares with the namespace mechanism is everything but the
//! mechanism itself (`pipeline.rs`), so both reach the same verdicts.
//!
//! How one run goes, and why:
//! - The child is forked by `std::process::Command`; before `exec` it calls `setsid` (a
//!   process group of its own, so one `kill(-pgid)` reaches everything it starts) and sets
//!   the rlimits, plus `RLIMIT_AS` as a memory backstop.
//! - The supervisor samples `/proc` (`proc_sample.rs`) every [`TICK`] for CPU time and
//!   resident memory, which is how memory is enforced here.
//! - When the child has exited it is left a zombie while its process group is killed: the
//!   zombie pins the pgid, so the kill cannot reach an unrelated group that reused the number.
//!   Only then is it reaped with `wait4`, for its exit status and rusage.
//! - Workspaces are directories under the runner's root; what a run leaves is removed before
//!   the next test case and with the workspace, by a walk that does not recurse
//!   (`remove_tree.rs`).

mod proc_sample;
mod remove_tree;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::decide::Facts;
use crate::pipeline::{self, ChildIo, Mechanism};
use crate::rlimits::Resource;
use crate::watch::{RunningTree, Sample, Watched};
use crate::workspace::{MechanismWorkspace, Workspace, next_owner_id};
use crate::{DiskQuota, Phase, RunReport, RunSpec, Sandbox, SandboxError, sys};

use proc_sample::{ProcSampler, own_peak_rss, peak_memory};
pub(crate) use remove_tree::remove_tree;

/// How often the supervisor samples `/proc`.
const TICK: Duration = Duration::from_millis(5);
/// Address-space headroom above the memory limit. `RLIMIT_AS` is only a backstop: the JVM
/// reserves far more virtual memory than it ever touches, so resident memory is what counts.
const ADDRESS_SPACE_HEADROOM: u64 = 4 << 30;
/// Entries a workspace removal visits at most (it is a development runner: a bound on the
/// time a hostile tree can cost, not a quota).
const REMOVAL_BUDGET: u64 = 1_000_000;

/// Runs commands as plain child processes of the worker; see the module documentation.
#[derive(Debug)]
pub struct PlainProcess {
    root: PathBuf,
    owner: u64,
    next: AtomicU64,
}

impl PlainProcess {
    /// Workspaces are made under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PlainProcess {
            root: root.into(),
            owner: next_owner_id(),
            next: AtomicU64::new(0),
        }
    }
}

/// A workspace of the plain runner: a host directory.
pub(crate) struct DirWorkspace {
    path: PathBuf,
    /// The build output (names after the last build), restored before each test case.
    build_output: Mutex<Option<HashSet<OsString>>>,
}

impl Drop for DirWorkspace {
    fn drop(&mut self) {
        if let Err(e) = remove_tree(&self.path, REMOVAL_BUDGET) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove a workspace");
        }
    }
}

impl DirWorkspace {
    /// Before a test case: remove whatever earlier test cases added to the build output.
    fn reset_to_build_output(&self, ws: &Workspace) -> Result<(), SandboxError> {
        let now: HashSet<OsString> = ws.entries()?.into_iter().collect();
        let mut build = self.build_output.lock().unwrap_or_else(|p| p.into_inner());
        let build = build.get_or_insert_with(|| now.clone());
        for name in now.difference(build) {
            let path = self.path.join(name);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => remove_tree(&path, REMOVAL_BUDGET),
                Ok(_) => std::fs::remove_file(&path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            removed.map_err(|e| SandboxError::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }
}

impl Sandbox for PlainProcess {
    fn workspace(&self, slot: usize, _quota: DiskQuota) -> Result<Workspace, SandboxError> {
        std::fs::create_dir_all(&self.root).map_err(|e| {
            SandboxError::io(format!("creating work root {}", self.root.display()), e)
        })?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.root.join(format!("slot-{slot}-{n}"));
        // `create_dir`: fails if something is already there.
        std::fs::create_dir(&path)
            .map_err(|e| SandboxError::io(format!("creating workspace {}", path.display()), e))?;
        let dir: OwnedFd = std::fs::File::open(&path)
            .map_err(|e| SandboxError::io(format!("opening workspace {}", path.display()), e))?
            .into();
        Ok(Workspace::new(
            slot,
            self.owner,
            dir,
            MechanismWorkspace::Plain(DirWorkspace {
                path,
                build_output: Mutex::new(None),
            }),
        ))
    }

    fn run(&self, workspace: &Workspace, spec: &RunSpec) -> Result<RunReport, SandboxError> {
        workspace.check_owner(self.owner)?;
        let MechanismWorkspace::Plain(dir) = &workspace.mechanism else {
            return Err(SandboxError::InvalidSpec(
                "not a workspace of the plain runner".into(),
            ));
        };
        match spec.phase {
            Phase::Build => {
                *dir.build_output.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Phase::Run => dir.reset_to_build_output(workspace)?,
        }
        pipeline::run(&mut PlainRun { dir: &dir.path }, workspace, spec)
    }

    fn kind(&self) -> &'static str {
        "plain"
    }
}

/// One run of the plain mechanism, in `dir`.
struct PlainRun<'a> {
    dir: &'a Path,
}

impl Mechanism for PlainRun<'_> {
    fn execute(
        &mut self,
        _workspace: &Workspace,
        spec: &RunSpec,
        io: ChildIo,
        watch: &mut dyn FnMut(&mut dyn RunningTree) -> Result<Watched, SandboxError>,
    ) -> Result<(Watched, Facts), SandboxError> {
        let mut command = self.command(spec, io)?;
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| SandboxError::io(format!("cannot start `{}`", spec.argv[0]), e))?;
        // The command holds the parent's copies of the child's stdio: gone now, so the
        // pipes reach EOF when the program's side closes.
        drop(command);
        let pid = libc::pid_t::try_from(child.id())
            .map_err(|_| SandboxError::Setup(format!("pid {} out of range", child.id())))?;
        // From here on the guard kills and reaps the child on every path.
        let mut tree = PlainTree {
            pid,
            pidfd: None,
            started,
            sampler: ProcSampler::new(pid),
            reaped: false,
        };
        tree.pidfd = Some(
            sys::pidfd_open(pid).map_err(|e| SandboxError::io("pidfd_open of the program", e))?,
        );
        // `spawn` returned only after the exec succeeded (std waits for its close-on-exec
        // error pipe), so from now on `/proc/<pid>` describes the new program.
        let fork_pollution_bound = own_peak_rss().unwrap_or(u64::MAX);
        let watched = watch(&mut tree)?;
        let (status, usage) = tree.reap()?;
        let rusage_cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        let rusage_peak = u64::try_from(usage.ru_maxrss)
            .unwrap_or(0)
            .saturating_mul(1024);
        let facts = Facts {
            status: Some(status),
            cpu: rusage_cpu.max(tree.sampler.cpu),
            peak_memory: peak_memory(rusage_peak, tree.sampler.peak, fork_pollution_bound),
            oom_killed: false,
            disk_full: false,
        };
        Ok((watched, facts))
    }
}

impl PlainRun<'_> {
    fn command(&self, spec: &RunSpec, io: ChildIo) -> Result<Command, SandboxError> {
        let program = &spec.argv[0];
        // A relative path with a slash (`./main`) means the work dir; resolve it here rather
        // than rely on when std changes directory relative to exec.
        let mut command = if program.contains('/') && !program.starts_with('/') {
            let mut c = Command::new(self.dir.join(program));
            c.arg0(program);
            c
        } else {
            Command::new(program)
        };
        command.args(&spec.argv[1..]);
        command.env_clear();
        for (key, value) in spec.env.iter().filter_map(|e| e.split_once('=')) {
            command.env(key, value);
        }
        command.current_dir(self.dir);
        command.stdin(Stdio::from(io.stdin));
        command.stdout(Stdio::from(io.stdout));
        command.stderr(Stdio::from(io.stderr));
        let mut rlimits = io.rlimits;
        let address_space = spec
            .limits
            .memory_bytes
            .saturating_add(ADDRESS_SPACE_HEADROOM);
        rlimits.push((
            libc::RLIMIT_AS,
            libc::rlimit {
                rlim_cur: address_space,
                rlim_max: address_space,
            },
        ));
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: `setsid`, `getrlimit` and `setrlimit`, on
        // values prepared here (the vector is only read).
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                for (resource, limit) in &rlimits {
                    lower_rlimit(*resource, *limit)?;
                }
                Ok(())
            });
        }
        Ok(command)
    }
}

/// Lowers a limit. Never asks for more than the current hard limit: an unprivileged worker
/// may not raise it, and the run should not get more than the worker has anyway.
fn lower_rlimit(resource: Resource, wanted: libc::rlimit) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on stack values.
    unsafe {
        if libc::getrlimit(resource, &mut current) == -1 {
            return Err(io::Error::last_os_error());
        }
        let hard = wanted.rlim_max.min(current.rlim_max);
        let limit = libc::rlimit {
            rlim_cur: wanted.rlim_cur.min(hard),
            rlim_max: hard,
        };
        if libc::setrlimit(resource, &limit) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The running child: kills its group and reaps it on drop unless reaped already, so no
/// path leaks a running program or a zombie.
struct PlainTree {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
    started: Instant,
    sampler: ProcSampler,
    reaped: bool,
}

impl PlainTree {
    fn kill_group(&self) {
        // SAFETY: plain syscall. ESRCH (nothing left) is fine.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
    }

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

impl Drop for PlainTree {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let mut status = 0;
            // SAFETY: reaping our own child, which SIGKILL ends promptly.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

impl RunningTree for PlainTree {
    fn started(&self) -> Instant {
        self.started
    }

    fn exit_fd(&self) -> RawFd {
        self.pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    fn sample(&mut self) -> Result<Sample, SandboxError> {
        self.sampler.sample(Instant::now());
        Ok(Sample {
            cpu: self.sampler.cpu,
            memory: Some(self.sampler.peak),
        })
    }

    fn max_sample_interval(&self) -> Duration {
        TICK
    }

    fn kill(&mut self) {
        self.kill_group();
    }

    fn root_ended(&mut self) -> Result<(), SandboxError> {
        // Whatever the program left running dies with it, so the pipes reach EOF; the
        // zombie still pins the group id.
        self.kill_group();
        Ok(())
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Stdin, Termination};

    struct Root(PathBuf);

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn root(name: &str) -> Root {
        Root(std::env::temp_dir().join(format!("plain-test-{}-{name}", std::process::id())))
    }

    fn spec(phase: Phase, argv: &[&str]) -> RunSpec {
        RunSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/bin:/bin".into()],
            phase,
            read_only_binds: vec![],
            stdin: Stdin::Null,
            limits: Limits {
                cpu_time: Duration::from_secs(10),
                wall_time: Duration::from_secs(30),
                memory_bytes: 512 << 20,
                processes: 64,
                output_bytes: 1 << 20,
                file_size_bytes: 16 << 20,
                open_files: 64,
                stack_bytes: 64 << 20,
                disk: DiskQuota::mib(16, 1024),
            },
        }
    }

    #[test]
    fn runs_start_from_the_build_output_and_the_workspace_goes_with_its_value() {
        let root = root("reset");
        let plain = PlainProcess::new(&root.0);
        let ws = plain.workspace(0, DiskQuota::mib(16, 1024)).unwrap();
        ws.write_file("main.sh", b"echo hi").unwrap();
        let sh = |phase, script: &str| {
            plain
                .run(&ws, &spec(phase, &["/bin/sh", "-c", script]))
                .unwrap()
        };
        assert!(sh(Phase::Build, "cp main.sh built && mkdir -p out/deep").success());
        let r = sh(Phase::Run, "ls; touch left; mkdir -p tree/a/b");
        assert_eq!(r.stdout, b"built\nmain.sh\nout\n");
        let r = sh(Phase::Run, "ls");
        assert_eq!(r.stdout, b"built\nmain.sh\nout\n", "{r:?}");
        let path = match &ws.mechanism {
            MechanismWorkspace::Plain(d) => d.path.clone(),
            MechanismWorkspace::Namespaces(_) => unreachable!(),
        };
        assert!(path.exists());
        drop(ws);
        assert!(!path.exists());
    }

    #[test]
    fn a_workspace_of_another_runner_is_refused() {
        let root = root("owner");
        let a = PlainProcess::new(&root.0);
        let b = PlainProcess::new(&root.0);
        let ws = a.workspace(0, DiskQuota::mib(1, 16)).unwrap();
        assert!(matches!(
            b.run(&ws, &spec(Phase::Build, &["/bin/true"])),
            Err(SandboxError::InvalidSpec(_))
        ));
        assert_eq!(
            a.run(&ws, &spec(Phase::Build, &["/bin/true"]))
                .unwrap()
                .termination,
            Termination::Exited(0)
        );
    }
}
