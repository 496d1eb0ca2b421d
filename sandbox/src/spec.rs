//! What to run ([`RunSpec`], [`Limits`]) and what happened ([`RunReport`], [`Termination`]).

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

/// Resource limits of one run. Each applies to the whole process tree of the run where the
/// implementation can do so (the plain runner can only apply most of them per process).
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
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// argv[0] is an absolute path, or relative to the work dir (`./main`).
    pub argv: Vec<String>,
    /// The whole environment (`KEY=VALUE`); nothing is inherited from the worker.
    pub env: Vec<String>,
    /// The writable directory the command runs in. The sandbox may show it to the command at
    /// another path; the command's cwd is that directory.
    pub work_dir: PathBuf,
    /// Host paths the command may read (toolchains). Ignored by the plain runner.
    pub read_only_binds: Vec<PathBuf>,
    pub stdin: Stdin,
    pub limits: Limits,
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
