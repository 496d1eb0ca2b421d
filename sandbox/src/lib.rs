//! Run one untrusted command in isolation with limits, and report what happened.
//!
//! The judge talks to a [`Sandbox`]: it opens a [`Workspace`] in a slot for each submission,
//! writes the source into it, and runs commands described by a [`RunSpec`] in it — a
//! [`Phase::Build`] (the compile, which may write the build output) and [`Phase::Run`]s (the
//! test cases, which see the build output read-only and a fresh writable space each). Each
//! run returns a [`RunReport`].
//!
//! One run pipeline (`pipeline.rs`) sits over two mechanisms that only start, sample, kill
//! and report:
//! - [`namespaces::NamespaceSandbox`]: namespaces, a read-only root, tmpfs workspaces,
//!   cgroups, an unprivileged uid, seccomp. Production.
//! - [`plain::PlainProcess`]: a child process with rlimits in a host directory. No isolation:
//!   development only.
//!
//! What both mechanisms share, so they reach the same results:
//! - `spec.rs`: what to run and what happened, and the one validation of a spec;
//! - `stdin.rs`: the run's stdin as one descriptor, prepared before anything starts;
//! - `rlimits.rs`: the run's rlimits, kernel-side backstops behind the supervisor's limits;
//! - `watch.rs`: the supervision loop (capped output, wall-clock and whole-tree CPU limits);
//! - `decide.rs`: the one [`Termination`] decision from the facts a mechanism reports;
//! - `workspace.rs`: a submission's files in one slot, from the compile to the last test case;
//! - `hostfs.rs`: the host's only way into a workspace (no symlinks, regular files only);
//! - `sys.rs`: system-call wrappers both mechanisms use (pipes, pidfds, `execve` arrays).

mod decide;
mod hostfs;
pub mod namespaces;
mod pipeline;
pub mod plain;
mod rlimits;
mod spec;
mod stdin;
mod sys;
mod watch;
mod workspace;

pub use spec::{DiskQuota, Limits, Phase, RunReport, RunSpec, SandboxError, Stdin, Termination};
pub use workspace::Workspace;

/// Something that can run commands under limits in per-submission workspaces.
///
/// `slot` is the index of the worker's judging slot (0..slots): runs in different slots may
/// happen at the same time and must not see each other; runs in the same slot never overlap.
/// `run` blocks until the command and everything it started have ended; call it from a
/// blocking thread.
pub trait Sandbox: Send + Sync {
    /// A fresh, empty workspace for one submission in `slot`, whose build directory holds at
    /// most `quota`. Nothing of the slot's earlier workspaces is visible in it.
    fn workspace(&self, slot: usize, quota: DiskQuota) -> Result<Workspace, SandboxError>;

    /// Run one command in `workspace` (in the workspace's slot).
    fn run(&self, workspace: &Workspace, spec: &RunSpec) -> Result<RunReport, SandboxError>;

    /// A short name for logs and span attributes (`plain`, `namespaces`).
    fn kind(&self) -> &'static str;
}
