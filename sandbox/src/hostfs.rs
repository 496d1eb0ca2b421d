//! Host-side access to a workspace that sandboxed code can write to.
//!
//! Everything in a workspace after a run is attacker-controlled, names included: a symlink
//! planted there turned the judge's own writes into root writes on the host in Judge0
//! (CVE-2024-28185, -28189) and its reads into host file leaks in go-judge (#176). So the
//! host opens workspace files only through these functions: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV` (no
//! symlink anywhere on the path, no escape by `..`, no crossing into another mount) plus
//! `O_NOFOLLOW`, `O_NONBLOCK` (a FIFO must not hang the worker) and a regular-file check on
//! the opened descriptor. New files are created with `O_EXCL`, so an existing name, symlink
//! or not, is an error rather than a write through it.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;

use crate::SandboxError;

/// `struct open_how` of `openat2(2)`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

fn open_beneath(dir: RawFd, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in file name"))?;
    let how = OpenHow {
        flags: (flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY) as u64,
        mode: u64::from(mode),
        resolve: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    // SAFETY: valid descriptor, C string and open_how with its size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            cname.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new descriptor we now own.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

/// Read the regular file `name` beneath `dir` (no symlinks anywhere on the way) of at most
/// `max_bytes`. A symlink, FIFO, device, directory or larger file is an error.
pub(crate) fn read_beneath(
    dir: RawFd,
    name: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, SandboxError> {
    read_beneath_with_mode(dir, name, max_bytes).map(|(contents, _)| contents)
}

/// [`read_beneath`], with the file's permission bits.
pub(crate) fn read_beneath_with_mode(
    dir: RawFd,
    name: &str,
    max_bytes: u64,
) -> Result<(Vec<u8>, u32), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let ctx = || format!("reading {name:?} in the workspace");
    let file = open_beneath(dir, name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .map_err(|e| SandboxError::io(ctx(), e))?;
    let meta = file.metadata().map_err(|e| SandboxError::io(ctx(), e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(SandboxError::io(
            ctx(),
            io::Error::new(io::ErrorKind::InvalidData, format!("{name:?} is {kind}")),
        ));
    }
    let mut out = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| SandboxError::io(ctx(), e))?;
    if out.len() as u64 > max_bytes {
        return Err(SandboxError::io(
            ctx(),
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {max_bytes} bytes"),
            ),
        ));
    }
    Ok((out, meta.permissions().mode() & 0o7777))
}

/// Create the new file `name` beneath `dir` with `contents` and permission bits `mode`
/// (`0o777` at most: never set-id). Fails if anything by that name exists (a planted symlink
/// included) instead of writing through it.
pub(crate) fn create_beneath(
    dir: RawFd,
    name: &str,
    contents: &[u8],
    mode: u32,
) -> Result<(), SandboxError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let ctx = || format!("creating {name:?} in the workspace");
    let mode = mode & 0o777;
    let mut file = open_beneath(
        dir,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        mode,
    )
    .map_err(|e| SandboxError::io(ctx(), e))?;
    // The umask may have taken bits away (an executable must stay executable).
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| SandboxError::io(ctx(), e))?;
    file.write_all(contents)
        .map_err(|e| SandboxError::io(ctx(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, OwnedFd};

    #[test]
    fn symlinks_fifos_and_escapes_are_refused() {
        let d = std::env::temp_dir().join(format!("hostfs-refuse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ok"), b"fine").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        nix::unistd::mkfifo(
            &d.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let dir: OwnedFd = std::fs::File::open(&d).unwrap().into();
        let fd = dir.as_raw_fd();
        assert_eq!(read_beneath(fd, "ok", 10).unwrap(), b"fine");
        assert!(read_beneath(fd, "ok", 3).is_err());
        assert!(read_beneath(fd, "link", 1 << 20).is_err());
        assert!(read_beneath(fd, "fifo", 1 << 20).is_err());
        assert!(read_beneath(fd, "../../etc/hostname", 1 << 20).is_err());
        assert!(create_beneath(fd, "link", b"x", 0o644).is_err());
        assert!(create_beneath(fd, "ok", b"x", 0o644).is_err());
        create_beneath(fd, "new", b"x", 0o755).unwrap();
        assert_eq!(
            read_beneath_with_mode(fd, "new", 1).unwrap(),
            (b"x".to_vec(), 0o755)
        );
        assert_eq!(std::fs::read(d.join("new")).unwrap(), b"x");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
