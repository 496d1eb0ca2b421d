//! System-call wrappers both mechanisms use: pipes kept clear of stdio, pidfds (signal and
//! reap exactly one process, never a reuser of its pid), C-string arrays for `execve`.
//! The namespace mechanism's own raw calls (for code that runs between `clone` and
//! `execve`) are in `namespaces/sys.rs`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::c_int;

use crate::SandboxError;

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A close-on-exec pipe `(read, write)`, both ends above 2.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds: [c_int; 2] = [-1; 2];
    // SAFETY: fds is a valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(SandboxError::io("pipe2", io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// Children dup2 descriptors onto 0..=2; one that already is 0..=2 could be clobbered
/// before it is used, so move it up (only happens if the worker runs with stdio closed).
pub(crate) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(SandboxError::io(
            "fcntl(F_DUPFD_CLOEXEC)",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: new descriptor, owned from here (pidfds are always close-on-exec).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd refers to.
pub(crate) fn pidfd_send_signal(pidfd: RawFd, signal: c_int) -> io::Result<()> {
    // SAFETY: plain syscall; null siginfo is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// Reap the (exited) child behind `pidfd`.
pub(crate) fn reap(pidfd: &OwnedFd) -> Result<(), SandboxError> {
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
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(SandboxError::io("reaping a sandbox process", e));
        }
    }
}

/// Argument or environment strings as a NULL-terminated pointer array for `execve`.
pub(crate) struct CStrings {
    _owned: Vec<CString>,
    pub ptrs: Vec<*const libc::c_char>,
}

impl CStrings {
    /// `RunSpec::validate` has already refused NUL bytes; this still reports them.
    pub(crate) fn new(items: &[String], what: &str) -> Result<CStrings, SandboxError> {
        let owned = items
            .iter()
            .map(|s| {
                CString::new(s.as_bytes())
                    .map_err(|_| SandboxError::InvalidSpec(format!("{what} contains a NUL byte")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CStrings {
            _owned: owned,
            ptrs,
        })
    }
}
