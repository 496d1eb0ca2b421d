//! What to run ([`RunSpec`], [`Limits`], [`Phase`]) and what happened ([`RunReport`],
//! [`Termination`]), and the one validation every run goes through whatever the mechanism.

use std::path::PathBuf;
use std::time::Duration;

/// Where the command's stdin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    /// `/dev/null`.
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// A regular file on the host (opened by the host side, never followed as a symlink).
    File(PathBuf),
}

/// Writable space: bytes and inodes (files, directories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskQuota {
    pub bytes: u64,
    pub inodes: u64,
}

impl DiskQuota {
    pub const fn mib(mib: u64, inodes: u64) -> DiskQuota {
        DiskQuota {
            bytes: mib << 20,
            inodes,
        }
    }
}

/// Resource limits of one run. Each applies to the whole process tree of the run where the
/// mechanism can do so (the plain runner can only apply some of them per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time (user + system) of all processes of the run.
    pub cpu_time: Duration,
    /// Wall-clock time from start to the end of the last process.
    pub wall_time: Duration,
    /// Memory (resident) in bytes.
    pub memory_bytes: u64,
    /// Processes and threads.
    pub processes: u64,
    /// Bytes captured from stdout and from stderr (each); past this the run ends with
    /// [`Termination::OutputLimit`].
    pub output_bytes: u64,
    /// Largest file the command may write.
    pub file_size_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Stack size in bytes.
    pub stack_bytes: u64,
    /// The run's own fresh writable space (`/tmp`, and in [`Phase::Run`] the work dir). The
    /// plain runner cannot bound it.
    pub disk: DiskQuota,
}

/// What the run may do to the workspace's build directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Compiling: the build directory is the writable work dir (within the workspace's
    /// quota); what the command leaves there is the build output.
    Build,
    /// A test case: the build output is read-only, in a work dir that is otherwise fresh and
    /// empty and writable within [`Limits::disk`]. Nothing written survives the run.
    Run,
}

/// One command to run in a [`crate::Workspace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// argv[0] is an absolute path, or relative to the work dir (`./main`).
    pub argv: Vec<String>,
    /// The whole environment (`KEY=VALUE`); nothing is inherited from the worker.
    pub env: Vec<String>,
    pub phase: Phase,
    /// Host paths the command may read (toolchains). Ignored by the plain runner.
    pub read_only_binds: Vec<PathBuf>,
    pub stdin: Stdin,
    pub limits: Limits,
}

impl RunSpec {
    /// The checks every mechanism relies on, made once before anything starts.
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |msg: String| Err(SandboxError::InvalidSpec(msg));
        match self.argv.first() {
            None => return invalid("argv is empty".into()),
            Some(a) if a.is_empty() => return invalid("argv[0] is empty".into()),
            _ => {}
        }
        if self.argv.iter().any(|a| a.contains('\0')) {
            return invalid("argv contains a NUL byte".into());
        }
        for entry in &self.env {
            match entry.split_once('=') {
                _ if entry.contains('\0') => {
                    return invalid("the environment contains a NUL byte".into());
                }
                Some((key, _)) if !key.is_empty() => {}
                _ => return invalid(format!("environment entry {entry:?} is not KEY=VALUE")),
            }
        }
        let l = &self.limits;
        if l.wall_time.is_zero() || l.cpu_time.is_zero() {
            return invalid("time limits must be positive".into());
        }
        if l.disk.bytes == 0 || l.disk.inodes == 0 {
            return invalid("the disk quota must be positive".into());
        }
        Ok(())
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Termination {
    /// Exited on its own with this code.
    Exited(i32),
    /// Killed by this signal, not by the sandbox.
    Signaled(i32),
    /// Used more CPU time than allowed.
    CpuTimeLimit,
    /// Ran longer than the wall-clock limit.
    WallTimeLimit,
    /// Used more memory than allowed.
    MemoryLimit,
    /// Wrote more than the output cap.
    OutputLimit,
    /// Wrote a file larger than [`Limits::file_size_bytes`] (`SIGXFSZ`), or failed after
    /// filling its disk quota.
    FileSizeLimit,
}

impl Termination {
    /// A short stable name for logs and span attributes.
    pub fn name(&self) -> &'static str {
        match self {
            Termination::Exited(_) => "exited",
            Termination::Signaled(_) => "signaled",
            Termination::CpuTimeLimit => "cpu_time_limit",
            Termination::WallTimeLimit => "wall_time_limit",
            Termination::MemoryLimit => "memory_limit",
            Termination::OutputLimit => "output_limit",
            Termination::FileSizeLimit => "file_size_limit",
        }
    }
}

/// What happened in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub termination: Termination,
    /// User + system CPU time of every process of the run.
    pub cpu_time: Duration,
    pub wall_time: Duration,
    /// Peak resident memory in bytes.
    pub peak_memory_bytes: u64,
    /// Captured stdout, at most `limits.output_bytes`.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most `limits.output_bytes`.
    pub stderr: Vec<u8>,
}

impl RunReport {
    /// True when the command exited with code 0 and hit no limit.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }
}

/// The sandbox itself failed: the command's behaviour is unknown. Judges treat this as an
/// infrastructure failure (retry elsewhere), never as a verdict on the program.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("sandbox setup failed: {0}")]
    Setup(String),
}

impl SandboxError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec {
            argv: vec!["/bin/true".into()],
            env: vec!["PATH=/bin".into()],
            phase: Phase::Run,
            read_only_binds: vec![],
            stdin: Stdin::Null,
            limits: Limits {
                cpu_time: Duration::from_secs(1),
                wall_time: Duration::from_secs(2),
                memory_bytes: 64 << 20,
                processes: 8,
                output_bytes: 1024,
                file_size_bytes: 1024,
                open_files: 16,
                stack_bytes: 8 << 20,
                disk: DiskQuota::mib(1, 16),
            },
        }
    }

    type Breakage = fn(&mut RunSpec);

    #[test]
    fn validation_names_what_is_wrong() {
        assert!(spec().validate().is_ok());
        let cases: [(Breakage, &str); 7] = [
            (|s| s.argv.clear(), "argv is empty"),
            (|s| s.argv[0].clear(), "argv[0] is empty"),
            (|s| s.argv.push("a\0b".into()), "NUL"),
            (|s| s.env.push("NOEQUALS".into()), "KEY=VALUE"),
            (|s| s.env.push("=x".into()), "KEY=VALUE"),
            (|s| s.limits.cpu_time = Duration::ZERO, "time limits"),
            (|s| s.limits.disk.inodes = 0, "disk quota"),
        ];
        for (break_it, message) in cases {
            let mut s = spec();
            break_it(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
