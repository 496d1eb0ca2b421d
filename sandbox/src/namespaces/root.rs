//! The root file system of a run, prepared once per set of read-only binds and reused.
//!
//! A helper process builds it in a mount namespace of its own: a small tmpfs becomes the root
//! (`pivot_root`), the requested host paths are bind-mounted into it read-only, `nosuid`,
//! `nodev` (recursively: submounts too), `/dev` gets `null`, `zero`, `random` and `urandom`
//! only, and empty `/proc`, `/tmp` and `/box` mount points wait for each run. Then the root
//! tmpfs itself is made read-only. The worker keeps the namespace alive through an open
//! `/proc/<helper>/ns/mnt` descriptor and the helper exits. Each run joins this namespace and
//! takes a private copy of it (cheap: a dozen mounts), see `child.rs`.
//!
//! Symlinked binds are recreated as symlinks (on merged-/usr systems `/bin`, `/lib` and
//! `/lib64` point into `/usr`). A bind of `/etc` is never the host's `/etc`: that would expose
//! `/etc/shadow` and whatever secrets the host keeps there. Only the entries named in
//! [`NamespaceConfig::etc_allow`](super::NamespaceConfig::etc_allow) are bound, plus a
//! synthetic `passwd`, `group` and `hosts` that name the sandbox users and nothing else.
//!
//! The host paths are captured by the worker as detached mount trees (`open_tree`) before
//! the helper starts, so the helper only attaches them (`move_mount`): its own work is a
//! short list of system calls on prepared data, safe in a child of a multithreaded process.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use libc::c_int;

use super::child::{self, KIND_READY, RECORD_SIZE, Record, Stage};
use super::sys;
use crate::SandboxError;

/// Where the helper mounts the new root before `pivot_root`. Only inside its private mount
/// namespace: the host's `/tmp` is untouched, and every host path it needs was captured
/// before it was shadowed.
const STAGING: &std::ffi::CStr = c"/tmp";
/// The root tmpfs holds only directories, symlinks and three small files.
const ROOT_TMPFS_OPTIONS: &std::ffi::CStr = c"size=1m,nr_inodes=1024,mode=0755";
/// Mount points created for every run; `/.build` and `/.scratch` are where init stages the
/// workspace and the run's writable space before binding them into place (`mounts.rs`).
pub const RESERVED: [&str; 6] = ["/box", "/tmp", "/proc", "/dev", "/.build", "/.scratch"];
/// Never bound, whatever the judge asks for.
const NEVER_BIND: [&str; 7] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/root",
];
const DEVICES: [&str; 4] = ["null", "zero", "random", "urandom"];

/// A prepared root: keeps its mount namespace alive.
#[derive(Debug)]
pub struct RootTemplate {
    ns: OwnedFd,
}

impl RootTemplate {
    pub fn fd(&self) -> RawFd {
        self.ns.as_raw_fd()
    }
}

/// What to put in the root besides the binds.
pub struct RootConfig<'a> {
    pub etc_allow: &'a [String],
    /// (name, uid, gid) of each sandbox user, for the synthetic `/etc/passwd` and `/etc/group`.
    pub users: &'a [(String, u32, u32)],
}

/// One step of building the root, relative to the root tmpfs.
enum Op {
    Mkdir(CString),
    File(CString, Vec<u8>),
    Symlink { target: CString, path: CString },
    Attach { tree: OwnedFd, path: CString },
}

fn invalid(msg: String) -> SandboxError {
    SandboxError::InvalidSpec(msg)
}

fn cstring(bytes: &[u8]) -> Result<CString, SandboxError> {
    CString::new(bytes).map_err(|_| invalid("path contains a NUL byte".into()))
}

/// The bind list as the cache key and build plan use it: absolute, normalised, deduplicated,
/// sorted, and without entries already covered by another bind.
pub fn normalize_binds(binds: &[PathBuf]) -> Result<Vec<PathBuf>, SandboxError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for b in binds {
        if !b.is_absolute() {
            return Err(invalid(format!(
                "read-only bind {} is not absolute",
                b.display()
            )));
        }
        let mut clean = PathBuf::from("/");
        for c in b.components() {
            match c {
                Component::RootDir => {}
                Component::CurDir => {}
                Component::Normal(n) => clean.push(n),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(invalid(format!(
                        "read-only bind {} contains ..",
                        b.display()
                    )));
                }
            }
        }
        if clean == Path::new("/") {
            return Err(invalid("the host root cannot be bound".into()));
        }
        for r in RESERVED {
            if clean.starts_with(r) {
                return Err(invalid(format!(
                    "read-only bind {} would cover the sandbox's {r}",
                    clean.display()
                )));
            }
        }
        for n in NEVER_BIND {
            if clean.starts_with(n) {
                return Err(invalid(format!("{} is never bound", clean.display())));
            }
        }
        out.push(clean);
    }
    out.sort();
    out.dedup();
    // Drop binds inside another bind (same content), except under /etc, which is never
    // bound whole (see the module doc) and so covers nothing.
    let all = out.clone();
    out.retain(|p| {
        !all.iter()
            .any(|a| a != p && a != Path::new("/etc") && p.starts_with(a))
    });
    Ok(out)
}

/// Build the plan in the worker: inspect host paths, capture them as detached trees.
fn plan(binds: &[PathBuf], cfg: &RootConfig) -> Result<Vec<Op>, SandboxError> {
    let mut dirs: Vec<PathBuf> = RESERVED
        .iter()
        .map(|r| PathBuf::from(r.trim_start_matches('/')))
        .collect();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut attach: Vec<(PathBuf, OwnedFd)> = Vec::new();

    let mut sources: Vec<PathBuf> = Vec::new();
    let mut synthetic_etc = false;
    for b in binds {
        if b == Path::new("/etc") {
            synthetic_etc = true;
            dirs.push("etc".into());
            for name in cfg.etc_allow {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(invalid(format!(
                        "etc_allow entry {name:?} is not a plain name"
                    )));
                }
                let p = Path::new("/etc").join(name);
                if !NEVER_BIND.iter().any(|n| p.starts_with(n)) && !binds.contains(&p) {
                    sources.push(p);
                }
            }
        } else {
            sources.push(b.clone());
        }
    }

    for src in sources {
        let rel = src.strip_prefix("/").unwrap_or(&src).to_path_buf();
        let meta = match std::fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %src.display(), "read-only bind does not exist; skipped");
                continue;
            }
            Err(e) => return Err(SandboxError::io(format!("inspecting {}", src.display()), e)),
        };
        if let Some(parent) = rel.parent() {
            let mut acc = PathBuf::new();
            for c in parent.components() {
                acc.push(c);
                dirs.push(acc.clone());
            }
        }
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&src)
                .map_err(|e| SandboxError::io(format!("reading link {}", src.display()), e))?;
            links.push((target, rel));
            continue;
        }
        if ft.is_dir() {
            dirs.push(rel.clone());
        } else if ft.is_file() {
            files.push((rel.clone(), Vec::new()));
        } else {
            return Err(invalid(format!(
                "read-only bind {} is neither a directory nor a regular file",
                src.display()
            )));
        }
        let path = cstring(src.as_os_str().as_bytes())?;
        let tree = sys::detached_bind(
            libc::AT_FDCWD,
            &path,
            true,
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV,
        )
        .map_err(|e| SandboxError::io(format!("capturing {} for binding", src.display()), e))?;
        attach.push((rel, tree));
    }

    for dev in DEVICES {
        let host = cstring(format!("/dev/{dev}").as_bytes())?;
        let tree = sys::detached_bind(
            libc::AT_FDCWD,
            &host,
            false,
            sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        )
        .map_err(|e| SandboxError::io(format!("capturing /dev/{dev}"), e))?;
        let rel = PathBuf::from("dev").join(dev);
        files.push((rel.clone(), Vec::new()));
        attach.push((rel, tree));
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        links.push((target.into(), PathBuf::from("dev").join(name)));
    }

    if synthetic_etc {
        let mut passwd = String::from(
            "root:x:0:0:root:/root:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
        for (name, uid, gid) in cfg.users {
            passwd.push_str(&format!(
                "{name}:x:{uid}:{gid}:{name}:/box:/usr/sbin/nologin\n"
            ));
            group.push_str(&format!("{name}:x:{gid}:\n"));
        }
        files.push(("etc/passwd".into(), passwd.into_bytes()));
        files.push(("etc/group".into(), group.into_bytes()));
        files.push((
            "etc/hosts".into(),
            b"127.0.0.1\tlocalhost\n::1\tlocalhost\n".to_vec(),
        ));
    }

    // Parents before children; each directory once.
    dirs.sort();
    dirs.dedup();
    let mut ops = Vec::new();
    for d in dirs {
        ops.push(Op::Mkdir(cstring(d.as_os_str().as_bytes())?));
    }
    for (p, content) in files {
        ops.push(Op::File(cstring(p.as_os_str().as_bytes())?, content));
    }
    for (target, p) in links {
        ops.push(Op::Symlink {
            target: cstring(target.as_os_str().as_bytes())?,
            path: cstring(p.as_os_str().as_bytes())?,
        });
    }
    for (p, tree) in attach {
        ops.push(Op::Attach {
            tree,
            path: cstring(p.as_os_str().as_bytes())?,
        });
    }
    Ok(ops)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds: [c_int; 2] = [-1; 2];
    // SAFETY: fds is a valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(SandboxError::io("pipe2", io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two new descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Build a root for `binds` (already normalised) and return it.
pub fn build(binds: &[PathBuf], cfg: &RootConfig) -> Result<RootTemplate, SandboxError> {
    let ops = plan(binds, cfg)?;
    let (status_r, status_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    let mut keep: Vec<RawFd> = vec![status_w.as_raw_fd(), hold_r.as_raw_fd()];
    for op in &ops {
        if let Op::Attach { tree, .. } = op {
            keep.push(tree.as_raw_fd());
        }
    }
    keep.sort_unstable();

    // SAFETY: the child runs only helper_main, which is async-signal-safe.
    let cloned = unsafe { sys::clone_process(0) }
        .map_err(|e| SandboxError::io("forking the root helper", e))?;
    let (pid, pidfd) = match cloned {
        sys::Cloned::Child => {
            // SAFETY: we are the freshly cloned helper.
            unsafe { helper_main(&ops, &keep, status_w.as_raw_fd(), hold_r.as_raw_fd()) }
        }
        sys::Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(status_w);
    drop(hold_r);

    let result = read_ready(&status_r).and_then(|()| {
        std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
            .map(OwnedFd::from)
            .map_err(|e| SandboxError::io("opening the root template's mount namespace", e))
    });
    // Let the helper go, then reap it.
    drop(hold_w);
    reap(&pidfd);
    drop(ops);
    Ok(RootTemplate { ns: result? })
}

/// Wait (at most 10 s: it is a handful of system calls) for the helper's verdict.
fn read_ready(status: &OwnedFd) -> Result<(), SandboxError> {
    let mut pfd = libc::pollfd {
        fd: status.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    if n <= 0 {
        return Err(SandboxError::Setup(
            "root template helper did not answer".into(),
        ));
    }
    let mut buf = [0u8; RECORD_SIZE];
    // SAFETY: buf is valid for RECORD_SIZE bytes.
    let got = unsafe { libc::read(status.as_raw_fd(), buf.as_mut_ptr().cast(), RECORD_SIZE) };
    if got != RECORD_SIZE as isize {
        return Err(SandboxError::Setup(
            "root template helper died during setup".into(),
        ));
    }
    let rec = Record::from_bytes(&buf);
    match rec.kind {
        KIND_READY => Ok(()),
        _ => Err(SandboxError::Setup(format!(
            "{}: {}",
            Stage::from_u32(rec.stage).map_or("root template", Stage::describe),
            io::Error::from_raw_os_error(rec.errno)
        ))),
    }
}

fn reap(pidfd: &OwnedFd) {
    // SAFETY: zeroed siginfo is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pidfd and out-parameter.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// The helper. Never returns.
///
/// # Safety
/// Only in the child of `clone_process`; async-signal-safe (see `child.rs`).
unsafe fn helper_main(ops: &[Op], keep: &[RawFd], status: RawFd, hold: RawFd) -> ! {
    // The helper is a full copy of the worker (not CLONE_VM), so libc and errno are fine.
    let check = |ret: i64, stage: Stage| {
        if ret < 0 {
            child::fail(status, stage, sys::errno());
        }
    };
    // SAFETY (whole block): raw syscalls on prepared C strings and descriptors.
    unsafe {
        sys::raw_close_all_but(keep);
        // The worker opens this helper's `/proc/<pid>/ns/mnt`, which needs the helper to be
        // dumpable unless the worker has CAP_SYS_PTRACE (compose does not grant it). A fork
        // inherits the worker's flag, and the worker stops being dumpable at its first run
        // (init shares its memory and changes uid), so a root built after that (a language
        // with other binds) would be refused.
        check(
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) as i64,
            Stage::RootNamespace,
        );
        check(
            libc::unshare(libc::CLONE_NEWNS) as i64,
            Stage::RootNamespace,
        );
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as i64,
            Stage::RootPrivate,
        );
        check(
            libc::mount(
                c"tmpfs".as_ptr(),
                STAGING.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                ROOT_TMPFS_OPTIONS.as_ptr().cast(),
            ) as i64,
            Stage::RootTmpfs,
        );
        check(libc::chdir(STAGING.as_ptr()) as i64, Stage::RootTmpfs);
        for op in ops {
            match op {
                Op::Mkdir(p) => {
                    if libc::mkdir(p.as_ptr(), 0o755) < 0 && sys::errno() != libc::EEXIST {
                        child::fail(status, Stage::RootBuild, sys::errno());
                    }
                }
                Op::File(p, content) => {
                    let fd = libc::open(
                        p.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                        0o644,
                    );
                    check(fd as i64, Stage::RootBuild);
                    sys::raw_write_all(fd, content);
                    libc::close(fd);
                }
                Op::Symlink { target, path } => {
                    check(
                        libc::symlink(target.as_ptr(), path.as_ptr()) as i64,
                        Stage::RootBuild,
                    );
                }
                Op::Attach { tree, path } => {
                    check(
                        libc::syscall(
                            libc::SYS_move_mount,
                            tree.as_raw_fd(),
                            c"".as_ptr(),
                            libc::AT_FDCWD,
                            path.as_ptr(),
                            sys::MOVE_MOUNT_F_EMPTY_PATH,
                        ),
                        Stage::RootBuild,
                    );
                }
            }
        }
        // pivot_root(".", "."): the old root ends up stacked on "." and is detached at once.
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
            Stage::RootPivot,
        );
        check(
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as i64,
            Stage::RootPivot,
        );
        check(libc::chdir(c"/".as_ptr()) as i64, Stage::RootPivot);
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                std::ptr::null(),
            ) as i64,
            Stage::RootReadOnly,
        );
        child::report(
            status,
            Record {
                kind: KIND_READY,
                stage: 0,
                errno: 0,
                status: 0,
            },
        );
        // Stay until the worker holds the namespace, i.e. until it closes the other end.
        let mut byte = 0u8;
        while libc::read(hold, (&mut byte as *mut u8).cast(), 1) < 0 && sys::errno() == libc::EINTR
        {
        }
        sys::raw_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_normalised() {
        let b = normalize_binds(&[
            "/usr/lib/jvm".into(),
            "/usr".into(),
            "/usr/./".into(),
            "/lib64".into(),
            "/etc".into(),
            "/etc/alternatives".into(),
        ])
        .unwrap();
        assert_eq!(
            b,
            vec![
                PathBuf::from("/etc"),
                "/etc/alternatives".into(),
                "/lib64".into(),
                "/usr".into()
            ]
        );
    }

    #[test]
    fn dangerous_binds_are_refused() {
        for bad in [
            "/",
            "/tmp",
            "/proc/1",
            "/box",
            "relative",
            "/usr/../etc",
            "/etc/shadow",
        ] {
            assert!(normalize_binds(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
