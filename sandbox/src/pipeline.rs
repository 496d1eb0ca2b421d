//! The one run pipeline, whatever the mechanism: validate the spec, prepare stdin and the
//! output pipes, let the mechanism start the process tree, watch it (`watch.rs`), take the
//! facts the mechanism reports and decide how the run ended (`decide.rs`).
//!
//! A mechanism only starts the tree, samples its usage, kills it and reports raw facts; it
//! never decides a verdict and never captures output itself. So both mechanisms give the
//! same [`Termination`](crate::Termination) for the same behaviour, which
//! `tests/conformance.rs` checks.

use std::os::fd::OwnedFd;

use crate::decide::{Facts, decide};
use crate::rlimits::Resource;
use crate::watch::{RunningTree, Watched, watch};
use crate::{RunReport, RunSpec, SandboxError, Workspace, rlimits, stdin, sys};

/// The child's ends of stdin, stdout and stderr, and the rlimits it must apply.
pub(crate) struct ChildIo {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub rlimits: Vec<(Resource, libc::rlimit)>,
}

/// How one kind of process isolation starts and ends a run.
pub(crate) trait Mechanism {
    /// Start the run's tree with `io` (closing the parent's copies of the child's ends once
    /// the tree holds them), let `watch` supervise it until it ends, and report the facts.
    /// On every path, error or panic included, nothing of the run may survive the call.
    fn execute(
        &mut self,
        workspace: &Workspace,
        spec: &RunSpec,
        io: ChildIo,
        watch: &mut dyn FnMut(&mut dyn RunningTree) -> Result<Watched, SandboxError>,
    ) -> Result<(Watched, Facts), SandboxError>;
}

pub(crate) fn run(
    mechanism: &mut impl Mechanism,
    workspace: &Workspace,
    spec: &RunSpec,
) -> Result<RunReport, SandboxError> {
    spec.validate()?;
    let stdin = stdin::open(&spec.stdin)?;
    let (out_r, out_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    let io = ChildIo {
        stdin,
        stdout: out_w,
        stderr: err_w,
        rlimits: rlimits::for_limits(&spec.limits),
    };
    let mut pipes = Some((out_r, err_r));
    let (watched, facts) = mechanism.execute(workspace, spec, io, &mut |tree| {
        let (out_r, err_r) = pipes
            .take()
            .ok_or_else(|| SandboxError::Setup("a run was watched twice".into()))?;
        watch(tree, out_r, err_r, &spec.limits)
    })?;
    let termination = decide(&spec.limits, watched.kill, &facts);
    if !matches!(
        termination,
        crate::Termination::Exited(_) | crate::Termination::Signaled(_)
    ) {
        tracing::debug!(
            termination = termination.name(),
            cpu = ?facts.cpu,
            wall = ?watched.wall,
            peak_memory = facts.peak_memory,
            "run hit a limit"
        );
    }
    Ok(RunReport {
        termination,
        cpu_time: facts.cpu,
        wall_time: watched.wall,
        peak_memory_bytes: facts.peak_memory,
        stdout: watched.stdout,
        stderr: watched.stderr,
    })
}
