//! What the plain runner knows of a running program: samples of `/proc` for its CPU time and
//! resident memory (the program's own `stat` and `status` every sample, the rest of its
//! process group every [`GROUP_SCAN_EVERY`]), and the peak from `ru_maxrss` afterwards.

use std::time::{Duration, Instant};

/// How often the other members of the process group are added up. A scan reads every
/// process's `stat`, so it runs less often than the per-sample read of the program's own.
const GROUP_SCAN_EVERY: Duration = Duration::from_millis(50);
/// Slack when deciding whether `ru_maxrss` exceeds what fork pollution can explain.
const FORK_POLLUTION_SLACK: u64 = 4 << 20;

/// Samples `/proc` for the child's CPU time and resident memory.
///
/// Values from a group scan are only combined with values read in the same scan, so a child
/// counted in the scan and reaped later is never counted twice.
pub(super) struct ProcSampler {
    pid: libc::pid_t,
    next_scan: Instant,
    /// Highest CPU time seen.
    pub cpu: Duration,
    /// Highest resident memory seen, in bytes.
    pub peak: u64,
    ns_per_tick: u64,
    page_size: u64,
}

impl ProcSampler {
    pub(super) fn new(pid: libc::pid_t) -> Self {
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        ProcSampler {
            pid,
            // Short runs, the common case, never pay for a scan.
            next_scan: Instant::now() + GROUP_SCAN_EVERY,
            cpu: Duration::ZERO,
            peak: 0,
            ns_per_tick: 1_000_000_000
                / u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100),
            page_size: u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096),
        }
    }

    /// Takes one sample; the running maxima are in `cpu` and `peak`.
    pub(super) fn sample(&mut self, now: Instant) {
        let Some(main) = read_stat(self.pid) else {
            // Gone between the exit check and here: the loop notices the exit next.
            return;
        };
        let mut cpu = self.ticks(main.cpu_ticks);
        let mut memory = main.rss_pages * self.page_size;
        if let Some((rss, hwm)) = read_status_memory(self.pid) {
            memory = memory.max(rss).max(hwm);
        }
        if now >= self.next_scan {
            self.next_scan = now + GROUP_SCAN_EVERY;
            let others = scan_group(self.pid);
            cpu = cpu.max(self.ticks(main.cpu_ticks + others.cpu_ticks));
            memory = memory.max((main.rss_pages + others.rss_pages) * self.page_size);
        }
        self.cpu = self.cpu.max(cpu);
        self.peak = self.peak.max(memory);
    }

    fn ticks(&self, ticks: u64) -> Duration {
        Duration::from_nanos(ticks.saturating_mul(self.ns_per_tick))
    }
}

/// The fields of `/proc/<pid>/stat` the sampler uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcStat {
    pgrp: i64,
    /// utime + stime + cutime + cstime, in clock ticks.
    cpu_ticks: u64,
    rss_pages: u64,
}

fn read_stat(pid: libc::pid_t) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses `pid (comm) state ppid pgrp ...`. `comm` may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state) in proc(5) numbering.
    let field = |n: usize| -> Option<i64> { fields.get(n - 3)?.parse().ok() };
    let non_negative = |v: i64| u64::try_from(v).unwrap_or(0);
    let cpu_ticks = [14, 15, 16, 17]
        .into_iter()
        .map(|n| field(n).map(non_negative))
        .sum::<Option<u64>>()?;
    Some(ProcStat {
        pgrp: field(5)?,
        cpu_ticks,
        rss_pages: non_negative(field(24)?),
    })
}

/// `VmRSS` and `VmHWM` in bytes; `None` once the process has no address space (zombie).
fn read_status_memory(pid: libc::pid_t) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((status_kb(&text, "VmRSS:")?, status_kb(&text, "VmHWM:")?))
}

fn status_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The worker's own peak resident memory, which bounds what `fork` can leak into a child's
/// `ru_maxrss` (see [`peak_memory`]).
pub(super) fn own_peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kb(&text, "VmHWM:")
}

/// CPU ticks and resident pages of every other process in the group of `pgid`.
fn scan_group(pgid: libc::pid_t) -> ProcStat {
    let mut total = ProcStat::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid == pgid {
            continue;
        }
        if let Some(stat) = read_stat(pid)
            && stat.pgrp == i64::from(pgid)
        {
            total.cpu_ticks += stat.cpu_ticks;
            total.rss_pages += stat.rss_pages;
        }
    }
    total
}

/// Peak resident memory of the run, from `ru_maxrss` and the samples.
///
/// `ru_maxrss` would be exact but for one kernel detail: `exec` folds the high-water mark of
/// the old address space (the forked copy of the worker) into the process's `maxrss`. That
/// copy is never larger than the worker's own peak, so a `ru_maxrss` above that bound is the
/// program's own; at or below it, it may be the worker's, and the samples of `VmHWM` (which
/// belongs to the new address space) are used instead. They can miss growth in the last
/// sampling interval of a run, which only matters for programs that end within milliseconds.
pub(super) fn peak_memory(rusage_peak: u64, sampled_peak: u64, pollution_bound: u64) -> u64 {
    if rusage_peak > pollution_bound.saturating_add(FORK_POLLUTION_SLACK) {
        rusage_peak.max(sampled_peak)
    } else {
        sampled_peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_counts_fields_from_the_last_parenthesis() {
        let line = "42 (a) b) (c) R 1 77 77 0 -1 0 0 0 0 0 10 20 3 4 20 0 1 0 100 1000 250 rest";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pgrp: 77,
                cpu_ticks: 37,
                rss_pages: 250
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_kb(status, "VmHWM:"), Some(2 << 20));
        assert_eq!(status_kb(status, "VmRSS:"), Some(1 << 20));
    }

    #[test]
    fn fork_pollution_of_ru_maxrss_is_discarded() {
        let bound = 100 << 20;
        assert_eq!(peak_memory(90 << 20, 3 << 20, bound), 3 << 20);
        assert_eq!(peak_memory(300 << 20, 200 << 20, bound), 300 << 20);
        assert_eq!(peak_memory(300 << 20, 400 << 20, bound), 400 << 20);
    }
}
