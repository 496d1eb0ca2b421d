//! The pipeline components a run reports on, and what each one took in one submission's
//! result `timings`.
//!
//! Its own module because two places read a submission's components: the report, for the
//! percentiles of a whole run, and the submission task, which records them as metrics the
//! moment the verdict arrives.

use crate::api_client::Timings;

/// Components from the result `timings`, named after its fields without `_ms`, in pipeline
/// order, and three derived ones:
/// - `pipeline_overhead`: end to end minus compile and run, everything that is not judging;
/// - `pipeline_hops`: api + queue_wait + testcase_fetch + result_delivery, the HTTP, broker
///   and database hops alone;
/// - `worker_overhead`: consumed to judged minus compile, run and testcase_fetch, the judge's
///   own work outside the measured compile and runs (work dir, sandbox set-up and tear-down).
pub const COMPONENTS: [&str; 10] = [
    "api",
    "queue_wait",
    "testcase_fetch",
    "compile",
    "run",
    "result_delivery",
    "end_to_end",
    "pipeline_overhead",
    "pipeline_hops",
    "worker_overhead",
];

/// The value of every component in `timings`, in milliseconds, in [`COMPONENTS`] order.
pub(crate) fn component_values(timings: &Timings) -> [(&'static str, Option<f64>); 10] {
    [
        ("api", timings.api_ms),
        ("queue_wait", timings.queue_wait_ms),
        ("testcase_fetch", timings.testcase_fetch_ms),
        ("compile", timings.compile_ms),
        ("run", timings.run_ms),
        ("result_delivery", timings.result_delivery_ms),
        ("end_to_end", timings.end_to_end_ms),
        ("pipeline_overhead", pipeline_overhead(timings)),
        ("pipeline_hops", pipeline_hops(timings)),
        ("worker_overhead", worker_overhead(timings)),
    ]
}

fn pipeline_overhead(t: &Timings) -> Option<f64> {
    Some(t.end_to_end_ms? - t.compile_ms? - t.run_ms?)
}

fn pipeline_hops(t: &Timings) -> Option<f64> {
    Some(t.api_ms? + t.queue_wait_ms? + t.testcase_fetch_ms? + t.result_delivery_ms?)
}

fn worker_overhead(t: &Timings) -> Option<f64> {
    let judging = (t.judged_at? - t.consumed_at?).num_microseconds()? as f64 / 1000.0;
    Some(judging - t.compile_ms? - t.run_ms? - t.testcase_fetch_ms?)
}
