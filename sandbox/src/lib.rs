//! Run one untrusted command in isolation with limits, and report what happened.
//!
//! The judge talks to a [`Sandbox`]: one call runs one command described by a [`RunSpec`] in
//! a slot and returns a [`RunReport`]. Implementations:
//! - [`plain::PlainProcess`]: a child process with rlimits, its own process group, a wall-clock
//!   killer and output caps. No isolation: for development and until the isolated sandbox is
//!   wired in.
//!
//! Swapping implementations is one change where the worker builds its `Arc<dyn Sandbox>`.

pub mod namespaces;
pub mod plain;
mod spec;

pub use spec::{Limits, RunReport, RunSpec, SandboxError, Stdin, Termination};

/// Something that can run one command under limits.
///
/// `run` blocks until the command and everything it started have ended; call it from a
/// blocking thread. `slot` is the index of the worker's judging slot (0..slots): runs in
/// different slots may happen at the same time and must not see each other; runs in the same
/// slot never overlap.
pub trait Sandbox: Send + Sync {
    fn run(&self, slot: usize, spec: &RunSpec) -> Result<RunReport, SandboxError>;

    /// A short name for logs and span attributes (`plain`, `namespaces`).
    fn kind(&self) -> &'static str;
}
