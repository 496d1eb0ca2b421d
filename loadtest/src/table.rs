//! The human-readable end-of-run tables, for the run against the API and the engine baseline.

use crate::components::COMPONENTS;
use crate::engine::EngineReport;
use crate::histogram::Summary;
use crate::hops::HopsReport;
use crate::report::{CLIENT_MEASURES, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;

fn percentile_header(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        "{title:<20} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}   (ms)",
        "count", "p50", "p90", "p99", "p99.9", "max"
    );
}

fn percentile_row(out: &mut String, name: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "{name:<20} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        s.count, s.p50, s.p90, s.p99, s.p99_9, s.max
    );
}

fn counts_line(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn optional(value: Option<f64>, precision: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.precision$}"))
}

/// The table printed at the end of a run against the API.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.counts;
    let _ = writeln!(out, "loadtest against {} (mix {})", report.api, report.mix);
    let _ = writeln!(
        out,
        "rate: target {:.2}/s, offered {:.2}/s, achieved {:.2}/s; duration {:.1} s (ramp {:.1} s), \
         sending took {:.1} s, all done after {:.1} s",
        report.target_rate,
        report.offered_rate,
        report.achieved_rate,
        report.duration_s,
        report.ramp_s,
        report.sending_s,
        report.elapsed_s
    );
    let _ = writeln!(
        out,
        "submissions: {} scheduled, {} sent, {} accepted, {} completed; {} mismatched, {} unfinished, {} failed",
        c.scheduled, c.sent, c.accepted, c.completed, c.mismatched, c.unfinished, c.failed
    );
    if !report.submit_only {
        let _ = writeln!(
            out,
            "pipeline: throughput {} verdicts/s, mean busy judging slots {}, queue wait trend {} ms/s",
            optional(report.throughput, 2),
            optional(report.mean_busy_slots, 2),
            optional(report.queue_wait_trend_ms_per_s, 2)
        );
        let _ = writeln!(
            out,
            "compile cache: {} of {} compile steps served from the worker's cache (its `compile` is the restore, not a compile)",
            report.compile_cache_hits, report.compile_cache_known
        );
    }
    out.push('\n');
    if !report.submit_only {
        percentile_header(&mut out, "component (timings)");
        for name in COMPONENTS {
            if let Some(summary) = report.components.get(name) {
                percentile_row(&mut out, name, summary);
            }
        }
        out.push('\n');
    }
    percentile_header(&mut out, "client (from due)");
    for name in CLIENT_MEASURES {
        if let Some(summary) = report.client.get(name) {
            percentile_row(&mut out, name, summary);
        }
    }
    out.push('\n');
    let _ = writeln!(out, "kinds: {}", counts_line(&report.by_kind));
    let _ = writeln!(out, "languages: {}", counts_line(&report.by_language));
    if !report.by_verdict.is_empty() {
        let _ = writeln!(out, "verdicts: {}", counts_line(&report.by_verdict));
    }
    if !report.slowest.is_empty() {
        let _ = writeln!(out, "\nslowest (end to end):");
        for s in &report.slowest {
            let _ = write!(
                out,
                "  {:>10.1} ms  queue {:>9} ms  {:<8} {:<20} trace {}",
                s.end_to_end_ms,
                optional(s.queue_wait_ms, 1),
                s.language,
                s.verdict,
                s.trace_id
            );
            if let Some(url) = &s.trace_url {
                let _ = write!(out, "  {url}");
            }
            out.push('\n');
        }
    }
    if !report.mismatches.is_empty() {
        let _ = writeln!(out, "\nMISMATCHED verdicts:");
        for m in &report.mismatches {
            let _ = writeln!(
                out,
                "  {} {} ({}): expected {}, got {}{}  trace {}",
                m.id,
                m.language,
                m.kind,
                m.expected,
                m.got,
                m.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default(),
                m.trace_id
            );
        }
    }
    if !report.unfinished.is_empty() {
        let _ = writeln!(out, "\nUNFINISHED submissions:");
        for u in &report.unfinished {
            let _ = writeln!(
                out,
                "  {} {} ({}): {}  trace {}",
                u.id.as_deref().unwrap_or("(no id)"),
                u.language,
                u.kind,
                u.last_status,
                u.trace_id.as_deref().unwrap_or("-")
            );
        }
    }
    if !report.failures.is_empty() {
        let _ = writeln!(out, "\nFAILED submits:");
        for f in &report.failures {
            let _ = writeln!(
                out,
                "  #{} {} ({}): {}",
                f.index, f.language, f.kind, f.error
            );
        }
    }
    if !report.processes.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<14} {:>8} {:>10} {:>10} {:>10} {:>8} {:>14} {:>12}",
            "process",
            "pid",
            "idle MiB",
            "peak MiB",
            "HWM MiB",
            "cpu s",
            "children cpu s",
            "cpu ms/sub"
        );
        for p in &report.processes {
            let _ = writeln!(
                out,
                "{:<14} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>14.2} {:>12}{}",
                p.name,
                p.pid,
                p.idle_rss_mib,
                p.peak_rss_mib,
                p.hwm_rss_mib,
                p.cpu_s,
                p.children_cpu_s,
                optional(p.cpu_ms_per_submission, 2),
                p.error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
    }
    out
}

/// The table printed after the in-process engine baseline.
pub fn render_engine(report: &EngineReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge engine alone (in-process, {} sandbox, {} slots, mix {})",
        report.sandbox, report.concurrency, report.mix
    );
    let _ = writeln!(
        out,
        "{} submissions in {:.2} s: throughput {:.2} submissions/s; {} mismatched, {} errors; \
         CPU {:.2} s in this process, {:.2} s in children ({:.1} ms per submission in all)",
        report.submissions,
        report.elapsed_s,
        report.throughput,
        report.mismatched,
        report.errors.len(),
        report.cpu_s,
        report.children_cpu_s,
        report.cpu_ms_per_submission
    );
    let _ = writeln!(
        out,
        "compiles: {} ({}), compile cache {}: {} of {} compile steps served from it{}",
        if report.warm_toolchains {
            "warm toolchains"
        } else {
            "cold toolchains"
        },
        if report.unique_sources {
            "every source unique"
        } else {
            "sources repeat"
        },
        if report.compile_cache_mb > 0 {
            format!("{} MiB", report.compile_cache_mb)
        } else {
            "off".to_string()
        },
        report.compile_cache_hits,
        report.compiles,
        if report.compile_cache_hits > 0 {
            " (a hit compiles nothing: its `compile` is the restore)"
        } else {
            ""
        },
    );
    out.push('\n');
    percentile_header(&mut out, "component");
    for (name, summary) in &report.components {
        percentile_row(&mut out, name, summary);
    }
    out.push('\n');
    let _ = writeln!(out, "kinds: {}", counts_line(&report.by_kind));
    let _ = writeln!(out, "verdicts: {}", counts_line(&report.by_verdict));
    for m in &report.mismatches {
        let _ = writeln!(out, "MISMATCH {m}");
    }
    for e in &report.errors {
        let _ = writeln!(out, "ERROR {e}");
    }
    out
}

pub fn render_hops(report: &HopsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "durable hops alone ({} queues, {} chains at {}/s): two statements and a commit, a queue \
         each way, one statement, with no pipeline code between them",
        report.queue_type, report.chains, report.rate
    );
    out.push('\n');
    percentile_header(&mut out, "step");
    for (name, summary) in &report.steps {
        percentile_row(&mut out, name, summary);
    }
    percentile_row(&mut out, "chain", &report.chain);
    out
}
