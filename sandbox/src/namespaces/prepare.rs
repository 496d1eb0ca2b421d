//! Everything a run needs that must exist before the clone: the child may not allocate or
//! open paths on its own (see `child.rs`), so argv/env become C-string arrays, stdin becomes
//! a descriptor, the work dir a detached mount, and the limits rlimit values, here.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use libc::c_int;

use super::sys;
use crate::{Limits, RunSpec, SandboxError, Stdin};

fn invalid(msg: impl Into<String>) -> SandboxError {
    SandboxError::InvalidSpec(msg.into())
}

/// Argument or environment strings as a NULL-terminated pointer array.
pub struct CStrings {
    _owned: Vec<CString>,
    pub ptrs: Vec<*const libc::c_char>,
}

impl CStrings {
    pub fn new(items: &[String], what: &str) -> Result<CStrings, SandboxError> {
        let owned = items
            .iter()
            .map(|s| {
                CString::new(s.as_bytes())
                    .map_err(|_| invalid(format!("{what} contains a NUL byte")))
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

pub fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds: [c_int; 2] = [-1; 2];
    // SAFETY: fds is a valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(SandboxError::io("pipe2", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// The child dup2s descriptors onto 0..=2; one that already is 0..=2 could be clobbered
/// before it is used, so move it up (only happens if the worker runs with stdio closed).
pub fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(SandboxError::io(
            "fcntl(F_DUPFD_CLOEXEC)",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

pub fn open_stdin(stdin: &Stdin) -> Result<OwnedFd, SandboxError> {
    match stdin {
        Stdin::Null => std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| SandboxError::io("opening /dev/null", e)),
        Stdin::File(path) => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| SandboxError::io(format!("opening stdin {}", path.display()), e))?;
            let meta = file
                .metadata()
                .map_err(|e| SandboxError::io(format!("inspecting stdin {}", path.display()), e))?;
            if !meta.is_file() {
                return Err(invalid(format!(
                    "stdin {} is not a regular file",
                    path.display()
                )));
            }
            // O_NONBLOCK only guarded the open (a FIFO would block); reads should block.
            // SAFETY: F_SETFL on a valid descriptor.
            unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) };
            Ok(file.into())
        }
        Stdin::Bytes(bytes) => {
            // A sealed memfd: no writer thread to feed a pipe, no deadlock, and the program
            // cannot modify it.
            // SAFETY: valid C string name and flags.
            let fd = unsafe {
                libc::memfd_create(
                    c"stdin".as_ptr(),
                    libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
                )
            };
            if fd < 0 {
                return Err(SandboxError::io(
                    "memfd_create",
                    std::io::Error::last_os_error(),
                ));
            }
            // SAFETY: new descriptor we now own.
            let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
            use std::io::{Seek, Write};
            file.write_all(bytes)
                .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(drop))
                .map_err(|e| SandboxError::io("writing stdin to a memfd", e))?;
            let seals =
                libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
            // SAFETY: F_ADD_SEALS on a valid memfd.
            if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
                return Err(SandboxError::io(
                    "sealing the stdin memfd",
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(file.into())
        }
    }
}

pub fn rlimits(l: &Limits) -> Vec<(libc::__rlimit_resource_t, libc::rlimit)> {
    let same = |v: u64| libc::rlimit {
        rlim_cur: v,
        rlim_max: v,
    };
    // RLIMIT_CPU is per process and only a backstop: the cgroup's CPU time is what the
    // supervisor enforces, for the whole tree, and it reacts first.
    let cpu_soft = l.cpu_time.as_secs() + 1 + u64::from(l.cpu_time.subsec_nanos() > 0);
    vec![
        (
            libc::RLIMIT_CPU,
            libc::rlimit {
                rlim_cur: cpu_soft,
                rlim_max: cpu_soft + 1,
            },
        ),
        (libc::RLIMIT_FSIZE, same(l.file_size_bytes)),
        (libc::RLIMIT_NOFILE, same(l.open_files.max(3))),
        (libc::RLIMIT_STACK, same(l.stack_bytes)),
        (libc::RLIMIT_CORE, same(0)),
        (libc::RLIMIT_MEMLOCK, same(0)),
        // Per uid, and each slot has its own uid, so this bounds exactly this run.
        (libc::RLIMIT_NPROC, same(l.processes.max(1))),
    ]
}

pub fn check_spec(spec: &RunSpec) -> Result<(), SandboxError> {
    match spec.argv.first() {
        None => return Err(invalid("argv is empty")),
        Some(a) if a.is_empty() => return Err(invalid("argv[0] is empty")),
        _ => {}
    }
    if let Some(bad) = spec.env.iter().find(|e| !e.contains('=')) {
        return Err(invalid(format!("environment entry {bad:?} has no '='")));
    }
    if !spec.work_dir.is_absolute() {
        return Err(invalid(format!(
            "work dir {} is not absolute",
            spec.work_dir.display()
        )));
    }
    if spec.limits.wall_time.is_zero() || spec.limits.cpu_time.is_zero() {
        return Err(invalid("time limits must be positive"));
    }
    Ok(())
}

/// Open the work dir without following a symlink in its last component, give it to the
/// slot's uid, and capture it as a detached bind mount.
pub fn work_dir_tree(spec: &RunSpec, uid: u32) -> Result<OwnedFd, SandboxError> {
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&spec.work_dir)
        .map_err(|e| {
            SandboxError::io(format!("opening work dir {}", spec.work_dir.display()), e)
        })?;
    // fchown on the descriptor: no path, so nothing to redirect.
    // SAFETY: valid descriptor.
    if unsafe { libc::fchown(dir.as_raw_fd(), uid, uid) } < 0 {
        return Err(SandboxError::io(
            format!("chown of work dir {}", spec.work_dir.display()),
            std::io::Error::last_os_error(),
        ));
    }
    sys::detached_bind(
        dir.as_raw_fd(),
        c"",
        false,
        sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
    )
    .map_err(|e| SandboxError::io(format!("bind of work dir {}", spec.work_dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            cpu_time: Duration::from_millis(1500),
            wall_time: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            processes: 8,
            output_bytes: 1024,
            file_size_bytes: 1024,
            open_files: 16,
            stack_bytes: 8 << 20,
        }
    }

    #[test]
    fn rlimits_backstop_cpu_above_the_limit() {
        let r = rlimits(&limits());
        let cpu = r.iter().find(|(k, _)| *k == libc::RLIMIT_CPU).unwrap().1;
        assert_eq!((cpu.rlim_cur, cpu.rlim_max), (3, 4));
    }

    #[test]
    fn stdin_bytes_are_sealed() {
        let fd = open_stdin(&Stdin::Bytes(b"1 2\n".to_vec())).unwrap();
        // SAFETY: F_GET_SEALS on a valid descriptor.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(seals & libc::F_SEAL_WRITE != 0);
        let mut f = std::fs::File::from(fd);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "1 2\n");
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
    }
}
