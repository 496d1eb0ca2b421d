//! An empty network namespace per workspace (one submission in one slot), joined by every
//! run of that submission.
//!
//! Empty means only a loopback interface, left down, so not even `127.0.0.1` works inside.
//! It is not shared between submissions because a socket can outlive every process of a
//! run: an abstract `AF_UNIX` socket that holds a reference to itself in flight (SCM_RIGHTS)
//! stays bound until the kernel's garbage collector finds it, and the next submission in the
//! slot would find its name in `/proc/net/unix` or connect to it. `AF_UNIX` stays allowed
//! (runtimes use socketpairs), so the namespace is what keeps submissions apart; it is also
//! never shared between slots, where runs overlap. Making one costs ~0.4 ms on this kernel
//! (BENCHMARKS.md); its teardown runs in the kernel's own worker, off the judge's path.
//!
//! The namespace is made by a thread that does nothing else (`unshare(CLONE_NEWNET)` affects
//! only the calling thread): the sandbox's spare maker, ahead of time (`spare.rs`), or a
//! short-lived one when no spare is ready; it is kept alive by an open
//! `/proc/thread-self/ns/net` descriptor.

use std::fs::File;
use std::os::fd::OwnedFd;

use crate::SandboxError;

/// Keeps the namespace alive; dropping it frees the namespace once no run is inside.
#[derive(Debug)]
pub struct EmptyNetns {
    fd: OwnedFd,
}

impl EmptyNetns {
    pub fn create() -> Result<EmptyNetns, SandboxError> {
        let handle = std::thread::Builder::new()
            .name("sandbox-netns".into())
            .spawn(|| -> std::io::Result<OwnedFd> {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
                Ok(File::open("/proc/thread-self/ns/net")?.into())
            })
            .map_err(|e| SandboxError::io("spawning the netns thread", e))?;
        let fd = handle
            .join()
            .map_err(|_| SandboxError::Setup("the netns thread panicked".into()))?
            .map_err(|e| SandboxError::io("creating the empty network namespace", e))?;
        Ok(EmptyNetns { fd })
    }

    /// A new empty namespace, made by the calling thread, which stays in it: only for a
    /// thread of the sandbox's own that does nothing else (`spare.rs`).
    pub fn create_here() -> Result<EmptyNetns, SandboxError> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| SandboxError::io("creating the empty network namespace", e.into()))?;
        let fd = File::open("/proc/thread-self/ns/net")
            .map_err(|e| SandboxError::io("opening the empty network namespace", e))?;
        Ok(EmptyNetns { fd: fd.into() })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}
