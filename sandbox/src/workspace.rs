//! A [`Workspace`]: the files of one submission in one slot — the source the judge writes,
//! the build output the compiler leaves — from the first compile to the last test case.
//!
//! It is made empty by the sandbox ([`crate::Sandbox::workspace`]) and handed back to it with
//! each run, so where the files live is the mechanism's business: a size-capped tmpfs that
//! exists only as a descriptor of the worker's (namespaces), or a host directory (plain).
//! Dropping it frees everything it holds; the host never walks a tree a run made.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::hostfs::{create_beneath, read_beneath, read_beneath_with_mode};
use crate::{SandboxError, namespaces, plain};

/// The files of one submission; see the module documentation.
pub struct Workspace {
    slot: usize,
    /// Which sandbox made it: a workspace only works with its own sandbox and slot.
    owner: u64,
    /// The build directory.
    dir: OwnedFd,
    pub(crate) mechanism: MechanismWorkspace,
}

pub(crate) enum MechanismWorkspace {
    Plain(plain::DirWorkspace),
    Namespaces(namespaces::TmpfsWorkspace),
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("slot", &self.slot)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Ids for sandboxes, so a workspace is never used with another sandbox's slot.
pub(crate) fn next_owner_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Workspace {
    pub(crate) fn new(
        slot: usize,
        owner: u64,
        dir: OwnedFd,
        mechanism: MechanismWorkspace,
    ) -> Self {
        Workspace {
            slot,
            owner,
            dir,
            mechanism,
        }
    }

    /// The slot whose runs may use this workspace.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Create the new regular file `name` (a plain name or a relative path beneath the build
    /// directory) with `contents`. Never writes through a link or over an existing file.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> Result<(), SandboxError> {
        create_beneath(self.dir.as_raw_fd(), name, contents, 0o644)
    }

    /// [`write_file`](Self::write_file) with permission bits (`0o755` for an executable put
    /// back from a cache; set-id bits are never set).
    pub fn write_file_with_mode(
        &self,
        name: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), SandboxError> {
        create_beneath(self.dir.as_raw_fd(), name, contents, mode)
    }

    /// [`read_file`](Self::read_file) with the file's permission bits.
    pub fn read_file_with_mode(
        &self,
        name: &str,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, u32), SandboxError> {
        read_beneath_with_mode(self.dir.as_raw_fd(), name, max_bytes)
    }

    /// The names in the build directory, sorted: what a compile left, the source included.
    pub fn file_names(&self) -> Result<Vec<String>, SandboxError> {
        self.entries()?
            .into_iter()
            .map(|name| {
                name.into_string().map_err(|name| {
                    SandboxError::io(
                        "listing the workspace",
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{name:?} is not UTF-8"),
                        ),
                    )
                })
            })
            .collect()
    }

    /// Read the regular file `name` of at most `max_bytes` from the build directory, without
    /// following a link anywhere on the way.
    pub fn read_file(&self, name: &str, max_bytes: u64) -> Result<Vec<u8>, SandboxError> {
        read_beneath(self.dir.as_raw_fd(), name, max_bytes)
    }

    pub(crate) fn dir_fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }

    /// Refuse a workspace of another sandbox or slot.
    pub(crate) fn check_owner(&self, owner: u64) -> Result<(), SandboxError> {
        if self.owner == owner {
            Ok(())
        } else {
            Err(SandboxError::InvalidSpec(
                "the workspace belongs to another sandbox".into(),
            ))
        }
    }

    /// The names in the build directory (the build output a run sees read-only).
    pub(crate) fn entries(&self) -> Result<Vec<std::ffi::OsString>, SandboxError> {
        // A fresh descriptor: readdir's position lives in the open file.
        let path = format!("/proc/self/fd/{}", self.dir.as_raw_fd());
        let ctx = |e| SandboxError::io("listing the workspace", e);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(ctx)? {
            names.push(entry.map_err(ctx)?.file_name());
        }
        names.sort();
        Ok(names)
    }
}
