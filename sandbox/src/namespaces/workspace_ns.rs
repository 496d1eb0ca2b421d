//! A workspace's mount namespace: a copy of the root template with the workspace's build fs
//! attached at `/.build`, made once per workspace; every run of the workspace copies it
//! (`child.rs`) and binds what it needs from `/.build` by path.
//!
//! Why a namespace and not the build fs's descriptor alone: a run must get a fresh view of
//! the build fs each time, and the only way to make one from a detached mount (cloning it)
//! needs Linux 6.15; binding an attached mount by path works on every kernel the sandbox
//! supports. The namespace is made by a short-lived helper that shares the worker's memory
//! and descriptors (no copy of its page tables, as for init): it joins the root template,
//! copies it, attaches the build fs and opens the new namespace through its own `/proc`
//! entry, which lands in the worker's descriptor table.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::child::{self, SpacePlan, Stage};
use super::sys;
use crate::SandboxError;

/// Make the namespace for the build fs `build_fd` over the root template `root_fd`, using
/// `stack` for the helper (the slot's, which no run is using now).
pub fn create(
    root_fd: RawFd,
    build_fd: RawFd,
    proc_fd: RawFd,
    stack: &sys::ChildStack,
) -> Result<OwnedFd, SandboxError> {
    let plan = SpacePlan {
        root_fd,
        build_fd,
        proc_fd,
        fd: AtomicI32::new(-1),
        failed_stage: AtomicU32::new(0),
        errno: AtomicI32::new(0),
    };
    let flags =
        (libc::CLONE_VM | libc::CLONE_FILES | libc::CLONE_VFORK | libc::SIGCHLD) as libc::c_ulong;
    // As for init: no handler of the worker's may run in a process sharing its memory.
    let mask = sys::block_all_signals();
    // SAFETY: the helper runs child::space_entry on the slot's stack and only reads `plan`
    // (and stores into its atomics); CLONE_VFORK suspends this thread until it has exited.
    let pid = unsafe {
        sys::clone_on_stack(
            flags,
            stack.top(),
            std::ptr::null_mut(),
            child::space_entry,
            &plan as *const SpacePlan as *mut libc::c_void,
        )
    };
    sys::restore_signals(mask);
    if pid < 0 {
        return Err(SandboxError::io(
            "cloning the workspace helper",
            std::io::Error::from_raw_os_error((-pid) as i32),
        ));
    }
    let mut status = 0;
    // SAFETY: reaping our own child (already exited: vfork returned).
    while unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::__WALL) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    let fd = plan.fd.load(Ordering::SeqCst);
    if fd < 0 {
        let stage = Stage::from_u32(plan.failed_stage.load(Ordering::SeqCst))
            .map_or("workspace namespace", Stage::describe);
        return Err(SandboxError::Setup(format!(
            "{stage}: {}",
            std::io::Error::from_raw_os_error(plan.errno.load(Ordering::SeqCst))
        )));
    }
    // SAFETY: the helper opened it in our (shared) descriptor table; we now own it.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };
    debug_assert!(ns.as_raw_fd() >= 0);
    Ok(ns)
}
