//! The writable file systems of a run and where they appear.
//!
//! Nothing a run writes lands on a host file system. Every writable place is a tmpfs capped
//! in bytes and inodes, never mounted in the worker's namespace: mountinfo inside shows no
//! host path, and the host never has to walk (or can be made to follow) a tree a run made —
//! dropping the last reference frees it all, whatever its shape.
//!
//! - The workspace's **build fs** (one per submission, the workspace's quota; `fsmount`, held
//!   by the workspace's descriptor) holds the source and what the compile leaves. It is
//!   attached once at `/.build` in a mount namespace of the workspace's own, a copy of the
//!   root template (`workspace_ns.rs`); each run's init copies *that* namespace.
//! - [`Phase::Build`]: init binds `/.build` at `/box`, writable, and mounts a fresh tmpfs of
//!   the run's quota at `/tmp`.
//! - [`Phase::Run`]: init mounts one fresh tmpfs of the run's quota at `/.scratch`, binds its
//!   `box` and `tmp` directories at `/box` and `/tmp`, and binds each entry of the build
//!   output read-only over a mount point of the same name in `/box`. So `./main` is where the
//!   language table expects it and cannot be replaced, a test case can write files next to
//!   it, and the next test case starts from exactly the same state.
//!
//! Then init detaches `/.build` and `/.scratch`: the program sees only its `/box` and `/tmp`.
//! All of it is classic path-based `mount(2)` inside init's own namespace, which every kernel
//! the sandbox supports allows (cloning a *detached* mount, the shorter way, needs 6.15).
//!
//! The directories are world-writable and sticky (`1777`): only this slot's runs ever see
//! them, the worker and init (root without `CAP_DAC_OVERRIDE` in a container) can still
//! create the source and the mount points, and a run cannot remove what it did not create.
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

use super::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID};
use crate::{DiskQuota, Phase, SandboxError, Workspace};

/// Most entries of the build output a test case sees (each is a mount).
pub const MAX_BUILD_ENTRIES: usize = 1024;
/// Where init finds the workspace's build fs in its namespace.
pub const BUILD_STAGING: &CStr = c"/.build";
/// Where init mounts a test case's fresh tmpfs before binding its parts into place.
pub const SCRATCH: &CStr = c"/.scratch";

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

/// tmpfs sizes are whole pages; a quota below one page would be refused.
fn tmpfs_bytes(quota: DiskQuota) -> u64 {
    quota.bytes.max(4096)
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
        fsconfig_string(fs.as_raw_fd(), c"size", &tmpfs_bytes(quota).to_string())
            .map_err(|e| err("size", e))?;
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
}

/// One entry of the build output, bound read-only into a test case's `/box`.
#[derive(Debug)]
pub struct Entry {
    /// `/.build/<name>`
    pub source: CString,
    /// `/.scratch/box/<name>`: the mount point, created by init.
    pub point: CString,
    /// `/box/<name>`
    pub target: CString,
    pub is_dir: bool,
}

/// What init mounts for one run (see the module doc).
#[derive(Debug)]
pub struct RunMounts {
    pub phase: Phase,
    /// tmpfs options of the run's fresh space (`/tmp` in a build, `/.scratch` in a run).
    pub fresh_options: CString,
    pub entries: Vec<Entry>,
}

fn tmpfs_options(quota: DiskQuota, extra_inodes: u64, mode: &str) -> Result<CString, SandboxError> {
    cstring(
        format!(
            "size={},nr_inodes={},mode={mode}",
            tmpfs_bytes(quota),
            quota.inodes.max(1) + extra_inodes
        )
        .as_bytes(),
    )
}

/// The mounts for a run of `phase` in `workspace` with `quota` of fresh space. For a test
/// case this also seals the build output's executables (see the module doc).
pub fn for_phase(
    workspace: &Workspace,
    phase: Phase,
    quota: DiskQuota,
) -> Result<RunMounts, SandboxError> {
    match phase {
        Phase::Build => Ok(RunMounts {
            phase,
            fresh_options: tmpfs_options(quota, 0, "1777")?,
            entries: Vec::new(),
        }),
        Phase::Run => {
            let build = workspace.dir_fd();
            let mut entries = Vec::new();
            for (name, is_dir) in build_entries(workspace)? {
                if !is_dir {
                    seal_executable(build, &name)?;
                }
                let join = |prefix: &[u8]| cstring(&[prefix, name.as_bytes()].concat());
                entries.push(Entry {
                    source: join(b"/.build/")?,
                    point: join(b"/.scratch/box/")?,
                    target: join(b"/box/")?,
                    is_dir,
                });
            }
            // The mount points and the two directories take inodes of their own: the run
            // keeps its whole inode quota.
            let extra = entries.len() as u64 + 2;
            Ok(RunMounts {
                phase,
                fresh_options: tmpfs_options(quota, extra, "755")?,
                entries,
            })
        }
    }
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
        // SAFETY: valid descriptor and C string.
        if unsafe { libc::fchmodat(build, name.as_ptr(), 0o711, 0) } < 0 {
            return Err(err("sealing"));
        }
    }
    Ok(())
}
