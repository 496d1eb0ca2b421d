//! The per-slot work directory: `work_root/slot-{n}/`, where the source is written, the
//! compiler writes its output and the program runs.
//!
//! Whatever is in it was made by untrusted code, so the host side never follows a path
//! inside it: the directory is removed with `remove_dir_all` (which does not follow
//! symlinks), the source is written with `O_NOFOLLOW`, and nothing in it is ever executed
//! or read by the worker outside the sandbox.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::JudgeError;

/// The work dir of one slot, emptied for the submission being judged.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

/// The names in the work dir after compiling: what every test case starts from.
#[derive(Debug)]
pub(crate) struct Baseline(HashSet<OsString>);

impl WorkDir {
    /// Empties (or creates) `work_root/slot-{slot}/`. Slots never share a directory, and a
    /// slot judges one submission at a time, so nothing else touches it meanwhile.
    pub(crate) fn prepare(work_root: &Path, slot: usize) -> Result<Self, JudgeError> {
        let path = work_root.join(format!("slot-{slot}"));
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(JudgeError::io(
                    format!("cannot empty work dir {}", path.display()),
                    source,
                ));
            }
        }
        fs::create_dir_all(work_root).map_err(|source| {
            JudgeError::io(
                format!("cannot create work root {}", work_root.display()),
                source,
            )
        })?;
        // `create_dir`, not `create_dir_all`: it fails if something appeared in between.
        fs::create_dir(&path).map_err(|source| {
            JudgeError::io(format!("cannot create work dir {}", path.display()), source)
        })?;
        Ok(WorkDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the submitted source as a new regular file named `file_name`.
    pub(crate) fn write_source(&self, file_name: &str, source: &str) -> Result<(), JudgeError> {
        let context = || format!("cannot write source file {file_name}");
        if file_name.is_empty()
            || file_name == "."
            || file_name == ".."
            || file_name.contains(['/', '\0'])
        {
            return Err(JudgeError::io(
                context(),
                io::Error::new(io::ErrorKind::InvalidInput, "not a plain file name"),
            ));
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.path.join(file_name))
            .map_err(|source| JudgeError::io(context(), source))?;
        file.write_all(source.as_bytes())
            .map_err(|source| JudgeError::io(context(), source))
    }

    /// Records what the directory holds now (after compiling).
    pub(crate) fn baseline(&self) -> Result<Baseline, JudgeError> {
        Ok(Baseline(self.names()?.into_iter().collect()))
    }

    /// Removes whatever a previous test case's run added, so a run cannot leave files for
    /// the next one to read. Files the run *changed* in place are not restored: that needs
    /// the build output mounted read-only, which is the isolated sandbox's job.
    pub(crate) fn reset_to(&self, baseline: &Baseline) -> Result<(), JudgeError> {
        for name in self.names()? {
            if baseline.0.contains(&name) {
                continue;
            }
            let path = self.path.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(|source| {
                JudgeError::io(format!("cannot inspect {}", path.display()), source)
            })?;
            let removed = if meta.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(JudgeError::io(
                        format!("cannot remove {}", path.display()),
                        source,
                    ));
                }
            }
        }
        Ok(())
    }

    fn names(&self) -> Result<Vec<OsString>, JudgeError> {
        let context = || format!("cannot list work dir {}", self.path.display());
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(|source| JudgeError::io(context(), source))? {
            names.push(
                entry
                    .map_err(|source| JudgeError::io(context(), source))?
                    .file_name(),
            );
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Root(PathBuf);

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn root(name: &str) -> Root {
        let path =
            std::env::temp_dir().join(format!("judge-workdir-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        Root(path)
    }

    #[test]
    fn prepare_empties_the_slot_without_following_symlinks() {
        let root = root("prepare");
        let outside = root.0.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "precious").unwrap();

        let dir = WorkDir::prepare(&root.0, 3).unwrap();
        assert_eq!(dir.path(), root.0.join("slot-3"));
        fs::write(dir.path().join("old"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("link")).unwrap();

        let dir = WorkDir::prepare(&root.0, 3).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(
            fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn source_is_never_written_through_a_symlink() {
        let root = root("source");
        let dir = WorkDir::prepare(&root.0, 0).unwrap();
        dir.write_source("main.c", "int main(){}").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("main.c")).unwrap(),
            "int main(){}"
        );

        let target = root.0.join("target");
        fs::write(&target, "untouched").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("evil.c")).unwrap();
        assert!(dir.write_source("evil.c", "x").is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");

        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(dir.write_source(bad, "x").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reset_removes_what_a_run_added() {
        let root = root("reset");
        let dir = WorkDir::prepare(&root.0, 1).unwrap();
        dir.write_source("main.py", "print(1)").unwrap();
        let baseline = dir.baseline().unwrap();
        fs::write(dir.path().join("cache.txt"), "answers").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/file"), "x").unwrap();
        let outside = root.0.join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), "precious").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("link")).unwrap();
        dir.reset_to(&baseline).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["main.py"]);
        assert_eq!(
            fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
    }
}
