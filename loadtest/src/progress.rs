//! The live progress line on stderr, about once a second: sent against due, the achieved rate
//! next to the target, what is in flight, and latency so far. Rewritten in place on a
//! terminal, one line per second otherwise (a CI log).

use crate::live::LiveStats;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;

const INTERVAL: Duration = Duration::from_secs(1);

/// Prints until dropped or stopped.
pub struct Progress {
    printer: JoinHandle<()>,
    in_place: bool,
}

impl Progress {
    pub fn start(live: Arc<LiveStats>) -> Progress {
        let in_place = std::io::stderr().is_terminal();
        let printer = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let line = line(&live);
                let mut stderr = std::io::stderr().lock();
                let _ = if in_place {
                    write!(stderr, "\r\x1b[2K{line}")
                } else {
                    writeln!(stderr, "{line}")
                };
                let _ = stderr.flush();
            }
        });
        Progress { printer, in_place }
    }

    pub fn stop(self) {
        self.printer.abort();
        if self.in_place {
            eprintln!();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.printer.abort();
    }
}

fn line(live: &LiveStats) -> String {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let phase = if live.sending_done() {
        "draining"
    } else {
        "sending"
    };
    let latency = live
        .latency_percentiles()
        .map(|(p50, p99)| format!(" | verdict latency p50 {p50:.0} ms, p99 {p99:.0} ms"))
        .unwrap_or_default();
    format!(
        "[{:>6.1}s {phase}] sent {}/{} at {:.2}/s (target {:.2}/s) | in flight {} | done {} | mismatched {} failed {} unfinished {}{latency}",
        live.elapsed().as_secs_f64(),
        load(&live.sent),
        live.scheduled(),
        live.achieved_rate(),
        live.target_rate(),
        live.in_flight(),
        load(&live.finished),
        load(&live.mismatched),
        load(&live.failed),
        load(&live.unfinished),
    )
}
