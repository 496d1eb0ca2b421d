//! The run's stdin as one descriptor, prepared before anything starts: a sealed memfd for
//! bytes (no writer thread feeding a pipe, no deadlock, nothing the program can change), a
//! regular file opened without following links, or `/dev/null`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::sys::above_stdio;
use crate::{SandboxError, Stdin};

pub(crate) fn open(stdin: &Stdin) -> Result<OwnedFd, SandboxError> {
    let fd = match stdin {
        Stdin::Null => std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| SandboxError::io("opening /dev/null", e))?,
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
                return Err(SandboxError::InvalidSpec(format!(
                    "stdin {} is not a regular file",
                    path.display()
                )));
            }
            // O_NONBLOCK only guarded the open (a FIFO would block); reads should block.
            // SAFETY: F_SETFL on a valid descriptor.
            unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) };
            file.into()
        }
        Stdin::Bytes(bytes) => sealed_memfd(bytes)?,
    };
    above_stdio(fd)
}

fn sealed_memfd(bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
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
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on a valid memfd.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(SandboxError::io(
            "sealing the stdin memfd",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(file.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_bytes_are_sealed() {
        let fd = open(&Stdin::Bytes(b"1 2\n".to_vec())).unwrap();
        // SAFETY: F_GET_SEALS on a valid descriptor.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(seals & libc::F_SEAL_WRITE != 0);
        let mut f = std::fs::File::from(fd);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "1 2\n");
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
    }

    #[test]
    fn stdin_files_must_be_regular_and_not_links() {
        let dir = std::env::temp_dir().join(format!("stdin-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("in"), dir.join("link")).unwrap();
        assert!(open(&Stdin::File(dir.join("in"))).is_ok());
        assert!(matches!(
            open(&Stdin::File(dir.join("link"))),
            Err(SandboxError::Io { .. })
        ));
        assert!(matches!(
            open(&Stdin::File(dir.clone())),
            Err(SandboxError::InvalidSpec(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
