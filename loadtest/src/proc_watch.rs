//! CPU time and resident memory of the service processes during a run (`--watch api=PID`),
//! read from `/proc`: memory idle (before the first submission), the highest sampled during
//! the run, and CPU time used by the process itself and by its waited-for children (the
//! compilers and judged programs of a worker) over the run.

use serde::Serialize;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Clock ticks per second of the CPU times in `/proc/PID/stat` (`USER_HZ`, fixed at 100 by
/// the Linux ABI on every architecture the judge runs on).
const USER_HZ: f64 = 100.0;

/// How often memory is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);

/// A process to watch: `name=pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    pub name: String,
    pub pid: u32,
}

impl FromStr for WatchTarget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, pid) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not `name=pid`"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("`{pid}` is not a process id"))?;
        Ok(WatchTarget {
            name: name.trim().to_string(),
            pid,
        })
    }
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub rss_kib: u64,
    /// `VmHWM`: the highest resident size since the process started.
    pub hwm_kib: u64,
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// cutime + cstime, seconds (children that were waited for).
    pub children_cpu_s: f64,
}

/// What a watched process used during the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub name: String,
    pub pid: u32,
    pub idle_rss_mib: f64,
    /// Highest resident memory sampled during the run.
    pub peak_rss_mib: f64,
    /// `VmHWM` at the end (the peak since the process started, start-up included).
    pub hwm_rss_mib: f64,
    /// CPU time of the process itself during the run.
    pub cpu_s: f64,
    /// CPU time of its waited-for children during the run (compilers, judged programs).
    pub children_cpu_s: f64,
    /// `cpu_s` per completed submission, in ms.
    pub cpu_ms_per_submission: Option<f64>,
    /// Set when the process could not be read (it exited?).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ProcessUsage {
    pub fn with_per_submission(mut self, completed: u64) -> Self {
        self.cpu_ms_per_submission =
            (completed > 0).then(|| self.cpu_s * 1000.0 / completed as f64);
        self
    }
}

/// Reads one process's memory and CPU times.
pub fn sample(pid: u32) -> std::io::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let field_kib = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field n of the full line (1-based) is fields[n - 3] here.
    let ticks = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0) as f64
            / USER_HZ
    };
    Ok(Sample {
        rss_kib: field_kib("VmRSS:"),
        hwm_kib: field_kib("VmHWM:"),
        cpu_s: ticks(14) + ticks(15),
        children_cpu_s: ticks(16) + ticks(17),
    })
}

struct Watched {
    target: WatchTarget,
    idle: Option<Sample>,
    peak_rss_kib: u64,
    last: Option<Sample>,
    error: Option<String>,
}

/// Samples the targets in the background until [`ProcessWatch::finish`].
pub struct ProcessWatch {
    watched: Arc<Mutex<Vec<Watched>>>,
    sampler: Option<JoinHandle<()>>,
}

impl ProcessWatch {
    /// Takes the idle reading now and starts sampling.
    pub fn start(targets: &[WatchTarget]) -> ProcessWatch {
        let watched: Vec<Watched> = targets
            .iter()
            .map(|target| {
                let (idle, error) = match sample(target.pid) {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(format!("cannot read pid {}: {e}", target.pid))),
                };
                Watched {
                    target: target.clone(),
                    idle,
                    peak_rss_kib: idle.map_or(0, |s| s.rss_kib),
                    last: idle,
                    error,
                }
            })
            .collect();
        let watched = Arc::new(Mutex::new(watched));
        let sampler = (!targets.is_empty()).then(|| {
            let watched = Arc::clone(&watched);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
                loop {
                    ticks.tick().await;
                    sample_all(&watched);
                }
            })
        });
        ProcessWatch { watched, sampler }
    }

    /// Takes a last reading, stops sampling and reports.
    pub fn finish(mut self) -> Vec<ProcessUsage> {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
        sample_all(&self.watched);
        let Ok(watched) = self.watched.lock() else {
            return Vec::new();
        };
        watched
            .iter()
            .map(|w| {
                let idle = w.idle.unwrap_or_default();
                let last = w.last.unwrap_or_default();
                ProcessUsage {
                    name: w.target.name.clone(),
                    pid: w.target.pid,
                    idle_rss_mib: mib(idle.rss_kib),
                    peak_rss_mib: mib(w.peak_rss_kib),
                    hwm_rss_mib: mib(last.hwm_kib),
                    cpu_s: (last.cpu_s - idle.cpu_s).max(0.0),
                    children_cpu_s: (last.children_cpu_s - idle.children_cpu_s).max(0.0),
                    cpu_ms_per_submission: None,
                    error: w.error.clone(),
                }
            })
            .collect()
    }
}

impl Drop for ProcessWatch {
    fn drop(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
    }
}

fn sample_all(watched: &Mutex<Vec<Watched>>) {
    let Ok(mut watched) = watched.lock() else {
        return;
    };
    for w in watched.iter_mut() {
        match sample(w.target.pid) {
            Ok(s) => {
                w.peak_rss_kib = w.peak_rss_kib.max(s.rss_kib);
                w.last = Some(s);
            }
            Err(e) => {
                w.error
                    .get_or_insert_with(|| format!("cannot read pid {}: {e}", w.target.pid));
            }
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            "api=42".parse::<WatchTarget>(),
            Ok(WatchTarget {
                name: "api".into(),
                pid: 42
            })
        );
        assert!("api".parse::<WatchTarget>().is_err());
        assert!("api=x".parse::<WatchTarget>().is_err());
    }

    #[test]
    fn reads_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib, "{s:?}");
        assert!(s.cpu_s >= 0.0);
    }
}
