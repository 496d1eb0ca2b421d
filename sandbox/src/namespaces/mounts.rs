//! The writable file systems of a run and where they appear, prepared by the worker before
//! the clone as detached mounts that init only attaches (`move_mount`).
//!
//! Nothing a run writes lands on a host file system. Every writable place is a tmpfs made
//! with `fsopen`/`fsmount`, capped in bytes and inodes, and reachable only through a
//! descriptor of the worker's — never mounted in the worker's namespace, so mountinfo inside
//! shows no host path and the host never has to walk (or can be made to follow) a tree a run
//! made: dropping the descriptor frees it all, whatever its shape.
//!
//! - The workspace's **build fs** (one per submission, the workspace's quota) holds the source
//!   and what the compile leaves.
//! - [`Phase::Build`]: `/box` is the build fs itself, writable; `/tmp` a fresh tmpfs of the
//!   run's quota.
//! - [`Phase::Run`]: one fresh tmpfs of the run's quota provides `/box` and `/tmp`; each entry
//!   of the build output is bound read-only over a mount point of the same name in `/box`.
//!   So `./main` is where the language table expects it and cannot be replaced, a test case
//!   can write files next to it, and the next test case starts from exactly the same state.
//!
//! The directories are world-writable and sticky (`1777`): only this slot's runs ever see
//! them, the worker (root without `CAP_DAC_OVERRIDE` in a container) can still create the
//! source and the mount points, and a run cannot remove what it did not create.
//!
//! Before a test case sees them, executables of the build output (ELF files) become root's
//! and execute-only (`0711`). Executing a file one cannot read makes the process
//! non-dumpable, the kernel's own switch for "no other process of this uid may read this
//! one's memory": a program cannot open its children's `/proc/<pid>/mem` (ptrace is denied
//! by seccomp besides), and non-dumpable processes are hidden from each other in a
//! `hidepid` `/proc`. Interpreted languages run a readable interpreter, so this holds for
//! compiled ones; within one run that is a program reading its own processes, nothing that
//! crosses runs.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use crate::{DiskQuota, Phase, SandboxError, Workspace};

/// Most entries of the build output a test case sees (each is a mount).
pub const MAX_BUILD_ENTRIES: usize = 1024;

/// A tmpfs that exists only as the descriptor of its root.
#[derive(Debug)]
pub struct Tmpfs {
    root: OwnedFd,
}

fn fsconfig_string(fs: RawFd, key: &CStr, value: &str) -> io::Result<()> {
    let value = CString::new(value).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain syscall with valid C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs,
            sys::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Tmpfs {
    /// A new tmpfs holding at most `quota`, its root owned by root with mode `1777`.
    pub fn new(quota: DiskQuota) -> Result<Tmpfs, SandboxError> {
        let err = |what: &str, e| SandboxError::io(format!("creating a tmpfs ({what})"), e);
        // SAFETY: plain syscall with a valid C string.
        let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), sys::FSOPEN_CLOEXEC) };
        if fs < 0 {
            return Err(err("fsopen", io::Error::last_os_error()));
        }
        // SAFETY: a new descriptor we now own.
        let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
        // tmpfs sizes are whole pages; a quota below one page would be refused.
        let bytes = quota.bytes.max(4096);
        fsconfig_string(fs.as_raw_fd(), c"size", &bytes.to_string()).map_err(|e| err("size", e))?;
        fsconfig_string(
            fs.as_raw_fd(),
            c"nr_inodes",
            &quota.inodes.max(1).to_string(),
        )
        .map_err(|e| err("nr_inodes", e))?;
        fsconfig_string(fs.as_raw_fd(), c"mode", "1777").map_err(|e| err("mode", e))?;
        // SAFETY: plain syscall.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                sys::FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        if r < 0 {
            return Err(err("create", io::Error::last_os_error()));
        }
        // SAFETY: plain syscall.
        let root = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                fs.as_raw_fd(),
                sys::FSMOUNT_CLOEXEC,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            )
        };
        if root < 0 {
            return Err(err("fsmount", io::Error::last_os_error()));
        }
        // SAFETY: a new descriptor we now own.
        Ok(Tmpfs {
            root: unsafe { OwnedFd::from_raw_fd(root as RawFd) },
        })
    }

    pub fn into_fd(self) -> OwnedFd {
        self.root
    }

    pub fn fd(&self) -> RawFd {
        self.root.as_raw_fd()
    }
}

/// Whether the file system behind `fd` is (nearly) out of space or inodes: a write that
/// failed for lack of room leaves less than a page, or no inode.
pub fn is_full(fd: RawFd) -> bool {
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-parameter.
    if unsafe { libc::fstatfs(fd, &mut s) } < 0 {
        return false;
    }
    let free = (s.f_bavail as u64).saturating_mul(s.f_bsize as u64);
    free < 8192 || s.f_ffree == 0
}

/// A detached copy of the tree at `dirfd`/`path`, with `attrs` on it.
fn subtree(dirfd: RawFd, path: &CStr, attrs: u64) -> Result<OwnedFd, SandboxError> {
    sys::detached_bind(dirfd, path, false, attrs)
        .map_err(|e| SandboxError::io(format!("preparing a bind of {}", path.to_string_lossy()), e))
}

/// The mounts of one run: detached trees and where init attaches them, in order, and the
/// writable file systems whose fullness decides [`crate::Termination::FileSizeLimit`].
pub struct RunMounts {
    pub attach: Vec<(OwnedFd, CString)>,
    pub writable: Vec<RawFd>,
    /// Fresh file systems of this run, kept open until it is over.
    _fresh: Vec<Tmpfs>,
}

/// The mounts for a run of `phase` in `workspace` with `quota` of fresh space.
pub fn for_phase(
    workspace: &Workspace,
    phase: Phase,
    quota: DiskQuota,
) -> Result<RunMounts, SandboxError> {
    match phase {
        Phase::Build => for_build(workspace, quota),
        Phase::Run => for_test_case(workspace, quota),
    }
}

fn for_build(workspace: &Workspace, quota: DiskQuota) -> Result<RunMounts, SandboxError> {
    let build = workspace.dir_fd();
    let tmp = Tmpfs::new(quota)?;
    let attach = vec![
        (
            subtree(build, c"", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)?,
            c"/box".to_owned(),
        ),
        (
            subtree(
                tmp.fd(),
                c"",
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            )?,
            c"/tmp".to_owned(),
        ),
    ];
    Ok(RunMounts {
        attach,
        writable: vec![build, tmp.fd()],
        _fresh: vec![tmp],
    })
}

fn for_test_case(workspace: &Workspace, quota: DiskQuota) -> Result<RunMounts, SandboxError> {
    let build = workspace.dir_fd();
    let entries = build_entries(workspace)?;
    // The mount points take inodes of their own: the run keeps its whole inode quota.
    let fresh = Tmpfs::new(DiskQuota {
        bytes: quota.bytes,
        inodes: quota.inodes + entries.len() as u64 + 2,
    })?;
    let root = fresh.fd();
    for dir in [c"box", c"tmp"] {
        mkdir_at(root, dir, 0o1777)?;
        chmod_at(root, dir, 0o1777)?;
    }
    let mut attach = vec![
        (
            subtree(
                root,
                c"box",
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            )?,
            c"/box".to_owned(),
        ),
        (
            subtree(
                root,
                c"tmp",
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            )?,
            c"/tmp".to_owned(),
        ),
    ];
    for (name, is_dir) in entries {
        let point = [b"box/".as_slice(), name.as_bytes()].concat();
        let point = cstring(&point)?;
        if is_dir {
            mkdir_at(root, &point, 0o755)?;
        } else {
            create_at(root, &point)?;
        }
        if !is_dir {
            seal_executable(build, &name)?;
        }
        let tree = subtree(
            build,
            &name,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )?;
        let target = cstring(&[b"/".as_slice(), point.as_bytes()].concat())?;
        attach.push((tree, target));
    }
    Ok(RunMounts {
        attach,
        writable: vec![root],
        _fresh: vec![fresh],
    })
}

fn cstring(bytes: &[u8]) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| SandboxError::Setup("a file name contains a NUL byte".into()))
}

/// The regular files and directories at the top of the build output (anything else, such as
/// a symlink the compile made, is not shown to the test cases).
fn build_entries(workspace: &Workspace) -> Result<Vec<(CString, bool)>, SandboxError> {
    let mut out = Vec::new();
    for name in workspace.entries()? {
        let cname = cstring(OsStr::as_bytes(&name))?;
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, C string and out-parameter.
        let r = unsafe {
            libc::fstatat(
                workspace.dir_fd(),
                cname.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r < 0 {
            return Err(SandboxError::io(
                "inspecting the build output",
                io::Error::last_os_error(),
            ));
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => out.push((cname, true)),
            libc::S_IFREG => out.push((cname, false)),
            _ => {}
        }
    }
    if out.len() > MAX_BUILD_ENTRIES {
        return Err(SandboxError::InvalidSpec(format!(
            "the build output has {} entries; at most {MAX_BUILD_ENTRIES} are shown to a run",
            out.len()
        )));
    }
    Ok(out)
}

/// Make an ELF executable of the build output root's and execute-only (see the module doc).
fn seal_executable(build: RawFd, name: &CStr) -> Result<(), SandboxError> {
    let err = |what: &str| {
        SandboxError::io(
            format!("{what} {} in the build output", name.to_string_lossy()),
            io::Error::last_os_error(),
        )
    };
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out-parameter.
    if unsafe { libc::fstatat(build, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(err("inspecting"));
    }
    let sealed = st.st_uid == 0 && st.st_mode & 0o7777 == 0o711;
    if sealed || st.st_mode & 0o111 == 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(());
    }
    // Root's first: without CAP_DAC_OVERRIDE the worker may not read it otherwise.
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::fchownat(build, name.as_ptr(), 0, 0, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(err("taking ownership of"));
    }
    let mut magic = [0u8; 4];
    // SAFETY: valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            build,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(err("opening"));
    }
    // SAFETY: our own descriptor; magic is valid for 4 bytes.
    let got = unsafe { libc::pread(fd, magic.as_mut_ptr().cast(), magic.len(), 0) };
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    // Scripts must stay readable: their interpreter reads them as the program's uid.
    if got == 4 && magic == *b"\x7fELF" {
        chmod_at(build, name, 0o711)?;
    }
    Ok(())
}

fn mkdir_at(dir: RawFd, name: &CStr, mode: libc::mode_t) -> Result<(), SandboxError> {
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::mkdirat(dir, name.as_ptr(), mode) } < 0 {
        return Err(SandboxError::io(
            format!("creating {}", name.to_string_lossy()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `mkdirat` applies the umask; the mode must be exact.
fn chmod_at(dir: RawFd, name: &CStr, mode: libc::mode_t) -> Result<(), SandboxError> {
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::fchmodat(dir, name.as_ptr(), mode, 0) } < 0 {
        return Err(SandboxError::io(
            format!("setting the mode of {}", name.to_string_lossy()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn create_at(dir: RawFd, name: &CStr) -> Result<(), SandboxError> {
    // SAFETY: valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o444,
        )
    };
    if fd < 0 {
        return Err(SandboxError::io(
            format!("creating the mount point {}", name.to_string_lossy()),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: our own new descriptor.
    unsafe { libc::close(fd) };
    Ok(())
}
