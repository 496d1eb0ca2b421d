//! Removing a directory tree a program made, whatever its shape.
//!
//! `std::fs::remove_dir_all` recurses: a program that nests ~22,000 directories overflows the
//! thread's stack and aborts the worker. This walk holds one directory open at a time,
//! climbs back through `..` and keeps only the names on the way down, so depth costs neither
//! stack nor descriptors; it never follows a link (`O_NOFOLLOW`, `unlinkat`), and it gives up
//! after a budget of entries so a tree of millions of files cannot stall the caller forever.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Entries listed per pass over a directory.
const BATCH: usize = 512;

fn cstr(name: &OsString) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in a file name"))
}

fn open_dir_at(dir: RawFd, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn unlink_at(dir: RawFd, name: &std::ffi::CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Up to [`BATCH`] names in `dir` (without `.` and `..`), each with whether it is a directory.
fn some_entries(dir: RawFd) -> io::Result<Vec<(OsString, bool)>> {
    let mut out = Vec::new();
    // Listing through /proc/self/fd reopens the directory: a fresh read position each pass.
    for entry in std::fs::read_dir(format!("/proc/self/fd/{dir}"))? {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        out.push((entry.file_name(), is_dir));
        if out.len() == BATCH {
            break;
        }
    }
    Ok(out)
}

/// Remove `path` and everything beneath it, visiting at most `budget` entries.
pub(crate) fn remove_tree(path: &Path, budget: u64) -> io::Result<()> {
    let top = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the path"))?;
    let mut cur = match open_dir_at(libc::AT_FDCWD, &top) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut down: Vec<CString> = Vec::new();
    let mut visited = 0u64;
    loop {
        let entries = some_entries(cur.as_raw_fd())?;
        if entries.is_empty() {
            let Some(name) = down.pop() else { break };
            let parent = open_dir_at(cur.as_raw_fd(), c"..")?;
            unlink_at(parent.as_raw_fd(), &name, libc::AT_REMOVEDIR)?;
            cur = parent;
            continue;
        }
        for (name, is_dir) in entries {
            visited += 1;
            if visited > budget {
                return Err(io::Error::other(format!(
                    "more than {budget} entries under {}",
                    path.display()
                )));
            }
            let name = cstr(&name)?;
            if !is_dir {
                unlink_at(cur.as_raw_fd(), &name, 0)?;
                continue;
            }
            match unlink_at(cur.as_raw_fd(), &name, libc::AT_REMOVEDIR) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    cur = open_dir_at(cur.as_raw_fd(), &name)?;
                    down.push(name);
                    // Continue in the child; this batch's other names are listed again later.
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    drop(cur);
    std::fs::remove_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_and_wide_trees_go_without_recursion_or_following_links() {
        let root = std::env::temp_dir().join(format!("remove-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let outside = root.with_extension("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "precious").unwrap();
        std::fs::create_dir_all(&root).unwrap();
        // 30,000 levels: far past what a recursive walk survives on a 2 MiB stack.
        let mut dir = open_dir_at(
            libc::AT_FDCWD,
            &CString::new(root.as_os_str().as_bytes()).unwrap(),
        )
        .unwrap();
        for _ in 0..30_000 {
            // SAFETY: valid descriptor and C string.
            assert_eq!(
                unsafe { libc::mkdirat(dir.as_raw_fd(), c"d".as_ptr(), 0o755) },
                0
            );
            dir = open_dir_at(dir.as_raw_fd(), c"d").unwrap();
        }
        drop(dir);
        for i in 0..2000 {
            std::fs::write(root.join(format!("f{i}")), "x").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let done = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn({
                let root = root.clone();
                move || remove_tree(&root, 1_000_000)
            })
            .unwrap()
            .join()
            .unwrap();
        done.unwrap();
        assert!(!root.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
        std::fs::remove_dir_all(&outside).unwrap();
        // A missing tree is already removed.
        remove_tree(&root, 10).unwrap();
    }

    #[test]
    fn the_budget_bounds_the_work() {
        let root = std::env::temp_dir().join(format!("remove-tree-budget-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for i in 0..50 {
            std::fs::write(root.join(format!("f{i}")), "x").unwrap();
        }
        assert!(remove_tree(&root, 10).is_err());
        remove_tree(&root, 100).unwrap();
    }
}
