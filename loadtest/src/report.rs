//! The report of a run: per-component latency percentiles from the result `timings`, the
//! client-side latencies measured from due times, counts, rates, the slowest submissions (with
//! their trace ids) and everything that went wrong. Serialised as the `--json` file; printed
//! as a table by [`crate::table`].

use crate::api_client::Timings;
use crate::components::{COMPONENTS, component_values};
use crate::histogram::{LatencyHistogram, Summary};
use crate::proc_watch::ProcessUsage;
use crate::schedule::Schedule;
use crate::submission::{Outcome, SubmissionRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Client-side measurements, all from the due time of each submission.
pub const CLIENT_MEASURES: [&str; 3] = ["submit", "verdict", "send_lag"];

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Submissions the schedule held.
    pub scheduled: u64,
    /// `POST`s started.
    pub sent: u64,
    /// Answered `202`.
    pub accepted: u64,
    /// Verdict received (or, with `--submit-only`, accepted).
    pub completed: u64,
    /// Verdict differs from the expected one.
    pub mismatched: u64,
    /// Not done by the drain deadline.
    pub unfinished: u64,
    /// The `POST` failed.
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlowSubmission {
    pub id: String,
    pub language: String,
    pub verdict: String,
    pub end_to_end_ms: f64,
    pub queue_wait_ms: Option<f64>,
    /// Due time to verdict seen.
    pub verdict_latency_ms: f64,
    pub trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub id: String,
    pub kind: String,
    pub language: String,
    pub expected: String,
    pub got: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub trace_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unfinished {
    /// Absent when the `POST` itself never returned.
    pub id: Option<String>,
    pub kind: String,
    pub language: String,
    pub last_status: String,
    pub trace_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub index: u64,
    pub kind: String,
    pub language: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub api: String,
    pub mix: String,
    /// Languages the run was restricted to (empty: all).
    pub languages: Vec<String>,
    pub submit_only: bool,
    /// The steady arrival rate asked for (submissions per second).
    pub target_rate: f64,
    /// What the schedule offered on average (lower than the target with a ramp).
    pub offered_rate: f64,
    /// Requests actually sent per second over the sending window; a generator that cannot
    /// keep up invalidates the run.
    pub achieved_rate: f64,
    pub duration_s: f64,
    pub ramp_s: f64,
    /// From the start until the last request went out.
    pub sending_s: f64,
    /// From the start until the last submission finished or was given up.
    pub elapsed_s: f64,
    pub counts: Counts,
    /// Verdicts per second from the first acceptance to the last stored verdict.
    pub throughput: Option<f64>,
    /// Average number of judging slots in use (consumed to judged) over that window.
    pub mean_busy_slots: Option<f64>,
    /// Least-squares slope of queue wait over due time: clearly positive means the queue
    /// grows (the rate is above what the workers sustain).
    pub queue_wait_trend_ms_per_s: Option<f64>,
    /// Completed submissions whose compile step the worker's compile cache served
    /// (`timings.compile_cached`), and those that say either way.
    pub compile_cache_hits: u64,
    pub compile_cache_known: u64,
    /// Per component, from the result timings, in ms.
    pub components: BTreeMap<&'static str, Summary>,
    /// Client side, from due times, in ms: `submit` (to the 202), `verdict` (to the verdict
    /// seen), `send_lag` (the generator's own delay in sending).
    pub client: BTreeMap<&'static str, Summary>,
    pub by_kind: BTreeMap<String, u64>,
    pub by_language: BTreeMap<String, u64>,
    pub by_verdict: BTreeMap<String, u64>,
    /// The slowest submissions by end to end time, slowest first.
    pub slowest: Vec<SlowSubmission>,
    pub mismatches: Vec<Mismatch>,
    pub unfinished: Vec<Unfinished>,
    pub failures: Vec<Failure>,
    /// CPU and memory of the watched service processes.
    pub processes: Vec<ProcessUsage>,
    /// Every submission, in due order (written by `--records`, not part of the JSON report).
    #[serde(skip)]
    pub records: Vec<SubmissionRecord>,
}

/// One line of the `--records` file: everything known about one submission.
#[derive(Debug, Clone, Serialize)]
pub struct RecordLine<'a> {
    pub index: u64,
    pub kind: String,
    pub language: &'a str,
    pub problem: String,
    pub due_ms: f64,
    pub send_lag_ms: f64,
    pub submit_ms: Option<f64>,
    pub id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub expected: &'a str,
    /// `finished`, `submitted`, `failed` or `unfinished`.
    pub outcome: &'static str,
    pub verdict: Option<&'a str>,
    /// Due time to the verdict seen.
    pub verdict_ms: Option<f64>,
    /// Why it failed or what it was last seen doing.
    pub detail: Option<&'a str>,
    pub timings: Option<&'a Timings>,
}

impl<'a> RecordLine<'a> {
    pub fn new(record: &'a SubmissionRecord) -> RecordLine<'a> {
        let millis = |d: Duration| d.as_secs_f64() * 1000.0;
        let (outcome, verdict_ms, detail) = match &record.outcome {
            Outcome::Finished { latency, error, .. } => {
                ("finished", Some(millis(*latency)), error.as_deref())
            }
            Outcome::Submitted => ("submitted", None, None),
            Outcome::SubmitFailed { error } => ("failed", None, Some(error.as_str())),
            Outcome::Unfinished { last_status } => ("unfinished", None, Some(last_status.as_str())),
        };
        RecordLine {
            index: record.index,
            kind: record.kind.to_string(),
            language: record.language,
            problem: format!("{:?}", record.problem),
            due_ms: millis(record.due),
            send_lag_ms: millis(record.send_lag),
            submit_ms: record.submit_latency.map(millis),
            id: record.id.as_deref(),
            trace_id: record.trace_id.as_deref(),
            expected: record.expected_verdict(),
            outcome,
            verdict: record.verdict(),
            verdict_ms,
            detail,
            timings: record.timings(),
        }
    }
}

/// The run's facts that are not in the records.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub api: String,
    pub mix: String,
    pub languages: Vec<String>,
    pub submit_only: bool,
    pub schedule: Schedule,
    pub sending: Duration,
    pub elapsed: Duration,
    pub slowest: usize,
    pub processes: Vec<ProcessUsage>,
}

impl Report {
    /// True when every submission got its expected verdict (or was accepted, with
    /// `--submit-only`) and nothing failed or was left unfinished.
    pub fn passed(&self) -> bool {
        self.counts.sent > 0
            && self.counts.mismatched == 0
            && self.counts.unfinished == 0
            && self.counts.failed == 0
    }

    pub fn build(records: Vec<SubmissionRecord>, facts: RunFacts) -> Report {
        let mut components: BTreeMap<&'static str, LatencyHistogram> = COMPONENTS
            .iter()
            .map(|c| (*c, LatencyHistogram::new()))
            .collect();
        let mut client: BTreeMap<&'static str, LatencyHistogram> = CLIENT_MEASURES
            .iter()
            .map(|c| (*c, LatencyHistogram::new()))
            .collect();
        let mut counts = Counts {
            scheduled: facts.schedule.total(),
            ..Counts::default()
        };
        let mut by_kind = BTreeMap::new();
        let mut by_language = BTreeMap::new();
        let mut by_verdict = BTreeMap::new();
        let mut mismatches = Vec::new();
        let mut unfinished = Vec::new();
        let mut failures = Vec::new();

        for record in &records {
            *by_kind.entry(record.kind.to_string()).or_insert(0) += 1;
            *by_language.entry(record.language.to_string()).or_insert(0) += 1;
            if let Some(histogram) = client.get_mut("send_lag") {
                histogram.record(record.send_lag);
            }
            if record.sent {
                counts.sent += 1;
            }
            if let Some(latency) = record.submit_latency {
                counts.accepted += 1;
                if let Some(histogram) = client.get_mut("submit") {
                    histogram.record(latency);
                }
            }
            match &record.outcome {
                Outcome::Finished {
                    verdict,
                    error,
                    timings,
                    latency,
                } => {
                    counts.completed += 1;
                    *by_verdict.entry(verdict.clone()).or_insert(0) += 1;
                    if let Some(histogram) = client.get_mut("verdict") {
                        histogram.record(*latency);
                    }
                    for (component, value) in component_values(timings) {
                        if let (Some(millis), Some(histogram)) =
                            (value, components.get_mut(component))
                        {
                            histogram.record_millis(millis);
                        }
                    }
                    if record.is_mismatch() {
                        counts.mismatched += 1;
                        mismatches.push(Mismatch {
                            id: record.id.clone().unwrap_or_default(),
                            kind: record.kind.to_string(),
                            language: record.language.to_string(),
                            expected: record.expected_verdict().to_string(),
                            got: verdict.clone(),
                            error: error.clone(),
                            trace_id: record.trace_id.clone().unwrap_or_default(),
                        });
                    }
                }
                Outcome::Submitted => counts.completed += 1,
                Outcome::SubmitFailed { error } => {
                    counts.failed += 1;
                    failures.push(Failure {
                        index: record.index,
                        kind: record.kind.to_string(),
                        language: record.language.to_string(),
                        error: error.clone(),
                    });
                }
                Outcome::Unfinished { last_status } => {
                    counts.unfinished += 1;
                    unfinished.push(Unfinished {
                        id: record.id.clone(),
                        kind: record.kind.to_string(),
                        language: record.language.to_string(),
                        last_status: last_status.clone(),
                        trace_id: record.trace_id.clone(),
                    });
                }
            }
        }

        let sending_s = facts.sending.as_secs_f64();
        let window = sending_s.max(facts.schedule.duration().as_secs_f64());
        let completed = counts.completed.max(counts.accepted);
        let processes = facts
            .processes
            .into_iter()
            .map(|p| p.with_per_submission(completed))
            .collect();
        let (throughput, mean_busy_slots) = throughput_and_busy_slots(&records);
        Report {
            api: facts.api,
            mix: facts.mix,
            languages: facts.languages,
            submit_only: facts.submit_only,
            target_rate: facts.schedule.rate(),
            offered_rate: facts.schedule.offered_rate(),
            achieved_rate: if window > 0.0 {
                counts.sent as f64 / window
            } else {
                0.0
            },
            duration_s: facts.schedule.duration().as_secs_f64(),
            ramp_s: facts.schedule.ramp().as_secs_f64(),
            sending_s,
            elapsed_s: facts.elapsed.as_secs_f64(),
            throughput,
            mean_busy_slots,
            queue_wait_trend_ms_per_s: queue_wait_trend(&records),
            compile_cache_hits: records
                .iter()
                .filter(|r| r.timings().and_then(|t| t.compile_cached) == Some(true))
                .count() as u64,
            compile_cache_known: records
                .iter()
                .filter(|r| r.timings().and_then(|t| t.compile_cached).is_some())
                .count() as u64,
            components: components
                .into_iter()
                .map(|(k, h)| (k, h.summary()))
                .collect(),
            client: client.into_iter().map(|(k, h)| (k, h.summary())).collect(),
            by_kind,
            by_language,
            by_verdict,
            slowest: slowest(&records, facts.slowest),
            counts,
            mismatches,
            unfinished,
            failures,
            processes,
            records,
        }
    }
}

/// Verdicts per second between the first acceptance and the last stored verdict, and the
/// mean number of slots judging over the same window.
fn throughput_and_busy_slots(records: &[SubmissionRecord]) -> (Option<f64>, Option<f64>) {
    let timings: Vec<&Timings> = records.iter().filter_map(|r| r.timings()).collect();
    let first = timings.iter().map(|t| t.accepted_at).min();
    let last = timings.iter().filter_map(|t| t.stored_at).max();
    let (Some(first), Some(last)) = (first, last) else {
        return (None, None);
    };
    let window = (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6;
    if window <= 0.0 {
        return (None, None);
    }
    let busy: f64 = timings
        .iter()
        .filter_map(|t| Some((t.judged_at? - t.consumed_at?).num_microseconds()? as f64 / 1e6))
        .sum();
    (Some(timings.len() as f64 / window), Some(busy / window))
}

/// Slope (ms of queue wait per second of due time) of a least-squares line.
fn queue_wait_trend(records: &[SubmissionRecord]) -> Option<f64> {
    let points: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| Some((r.due.as_secs_f64(), r.timings()?.queue_wait_ms?)))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (variance > 0.0).then(|| covariance / variance)
}

fn slowest(records: &[SubmissionRecord], count: usize) -> Vec<SlowSubmission> {
    let mut finished: Vec<SlowSubmission> = records
        .iter()
        .filter_map(|r| {
            let Outcome::Finished {
                verdict,
                timings,
                latency,
                ..
            } = &r.outcome
            else {
                return None;
            };
            Some(SlowSubmission {
                id: r.id.clone()?,
                language: r.language.to_string(),
                verdict: verdict.clone(),
                end_to_end_ms: timings.end_to_end_ms?,
                queue_wait_ms: timings.queue_wait_ms,
                verdict_latency_ms: latency.as_secs_f64() * 1000.0,
                trace_id: r.trace_id.clone()?,
                trace_url: r.trace_url.clone(),
            })
        })
        .collect();
    finished.sort_by(|a, b| b.end_to_end_ms.total_cmp(&a.end_to_end_ms));
    finished.truncate(count);
    finished
}
