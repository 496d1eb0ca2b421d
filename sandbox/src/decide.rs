//! How a run ended, decided once for every mechanism from the raw facts it reports.
//!
//! Most specific cause first: a limit the sandbox enforced beats the exit status it caused (a
//! SIGKILL from the OOM killer is a memory limit, not a signal; a program that died after
//! filling its disk quota hit a limit, it did not crash).

use std::time::Duration;

use libc::c_int;

use crate::{Limits, Termination};

/// Why the supervisor killed the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    Wall,
    Cpu,
    /// Resident memory sampled above the limit (mechanisms without a memory cgroup).
    Memory,
    Output,
}

/// What a mechanism saw of a run once it was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Facts {
    /// Wait status of the program's main process; `None` when it was killed before anyone
    /// could report it (the supervisor then knows why: [`Kill`]).
    pub status: Option<c_int>,
    /// CPU time of the whole tree.
    pub cpu: Duration,
    pub peak_memory: u64,
    /// The kernel's OOM killer ended a process of the run.
    pub oom_killed: bool,
    /// The run's writable space (or an inode quota) was full when it ended.
    pub disk_full: bool,
}

pub(crate) fn decide(limits: &Limits, kill: Option<Kill>, facts: &Facts) -> Termination {
    let signal = facts
        .status
        .filter(|s| libc::WIFSIGNALED(*s))
        .map(|s| libc::WTERMSIG(s));
    let exited_ok = facts
        .status
        .is_some_and(|s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0);
    if kill == Some(Kill::Output) {
        Termination::OutputLimit
    } else if facts.oom_killed || kill == Some(Kill::Memory) {
        Termination::MemoryLimit
    } else if kill == Some(Kill::Cpu)
        || facts.cpu > limits.cpu_time
        || signal == Some(libc::SIGXCPU)
    {
        Termination::CpuTimeLimit
    } else if kill == Some(Kill::Wall) {
        Termination::WallTimeLimit
    } else if signal == Some(libc::SIGXFSZ) || (facts.disk_full && !exited_ok) {
        Termination::FileSizeLimit
    } else if facts.peak_memory > limits.memory_bytes {
        // Over the limit without being caught in time (sampling mechanisms only).
        Termination::MemoryLimit
    } else {
        match facts.status {
            Some(s) if libc::WIFEXITED(s) => Termination::Exited(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => Termination::Signaled(libc::WTERMSIG(s)),
            // The mechanisms report a setup error instead; if one ever does not, say so
            // as the limit that ends every run.
            _ => Termination::WallTimeLimit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiskQuota;

    fn limits() -> Limits {
        Limits {
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            processes: 8,
            output_bytes: 1024,
            file_size_bytes: 1024,
            open_files: 16,
            stack_bytes: 8 << 20,
            disk: DiskQuota::mib(1, 16),
        }
    }

    fn facts(status: Option<c_int>) -> Facts {
        Facts {
            status,
            cpu: Duration::from_millis(10),
            peak_memory: 1 << 20,
            ..Facts::default()
        }
    }

    #[test]
    fn verdict_priorities() {
        let l = limits();
        let exited = |code: c_int| Some(code << 8);
        let killed = |sig: c_int| Some(sig);
        let d = |kill, f: Facts| decide(&l, kill, &f);
        assert_eq!(d(None, facts(exited(0))), Termination::Exited(0));
        assert_eq!(d(None, facts(exited(3))), Termination::Exited(3));
        assert_eq!(d(None, facts(killed(9))), Termination::Signaled(9));
        let oom = Facts {
            oom_killed: true,
            ..facts(killed(9))
        };
        assert_eq!(d(None, oom), Termination::MemoryLimit);
        assert_eq!(d(Some(Kill::Output), oom), Termination::OutputLimit);
        assert_eq!(d(Some(Kill::Memory), facts(None)), Termination::MemoryLimit);
        let busy = Facts {
            cpu: Duration::from_millis(1500),
            ..facts(None)
        };
        assert_eq!(d(Some(Kill::Wall), busy), Termination::CpuTimeLimit);
        assert_eq!(d(Some(Kill::Wall), facts(None)), Termination::WallTimeLimit);
        assert_eq!(
            d(None, facts(killed(libc::SIGXCPU))),
            Termination::CpuTimeLimit
        );
        let slow = Facts {
            cpu: Duration::from_millis(1001),
            ..facts(exited(0))
        };
        assert_eq!(d(None, slow), Termination::CpuTimeLimit);
        assert_eq!(
            d(None, facts(killed(libc::SIGXFSZ))),
            Termination::FileSizeLimit
        );
        let full = |status| Facts {
            disk_full: true,
            ..facts(status)
        };
        assert_eq!(d(None, full(exited(1))), Termination::FileSizeLimit);
        assert_eq!(d(None, full(killed(11))), Termination::FileSizeLimit);
        // A program that filled its space and still finished cleanly is judged on its answer.
        assert_eq!(d(None, full(exited(0))), Termination::Exited(0));
        let fat = Facts {
            peak_memory: 65 << 20,
            ..facts(exited(0))
        };
        assert_eq!(d(None, fat), Termination::MemoryLimit);
    }
}
