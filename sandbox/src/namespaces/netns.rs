//! An empty network namespace per slot, created once and joined by every run in the slot.
//!
//! A fresh network namespace per run is slow on many kernels (creation and, above all,
//! teardown are serialised: tens to hundreds of milliseconds), and an empty one holds no
//! state worth renewing: only a loopback interface, left down, so not even `127.0.0.1` works
//! inside. Reusing it between the runs of one slot is safe because those runs never overlap
//! and every socket dies with its processes. It is not shared *between* slots: abstract
//! `AF_UNIX` socket names are per network namespace, and `AF_UNIX` stays allowed (runtimes
//! use socketpairs), so two concurrent runs sharing one namespace could meet there.
//!
//! The namespace is made by a short-lived thread (`unshare(CLONE_NEWNET)` affects only the
//! calling thread) and kept alive by an open `/proc/thread-self/ns/net` descriptor.

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

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}
