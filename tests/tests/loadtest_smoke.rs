//! A short `loadtest` run through the whole pipeline: a few seconds at a low rate, every kind
//! of verdict in every language. Asserts the report's contents (counts per component, the
//! JSON keys, the slowest submissions' traces, no mismatch, nothing unfinished) and that the
//! load generator's spans and the pipeline's are one trace. Never asserts speed: that is
//! what `BENCHMARKS.md` is for.

use e2e_tests::{PATIENCE, TestBed, TestBedOptions, binaries};
use loadtest::api_client::Tokens;
use loadtest::components::COMPONENTS;
use loadtest::otel::names;
use loadtest::proc_watch::WatchTarget;
use loadtest::{LoadConfig, LoadtestTelemetry, run_load};
use messaging::semconv::span;
use std::time::Duration;

/// One submission of every kind: accepted, wrong, tle, mle, re, ce.
const EVERY_KIND: &str = "accepted=1,wrong=1,tle=1,mle=1,re=1,ce=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_reports_every_component_and_no_mismatch() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "loadtest", TestBedOptions::default()).await?;
    let telemetry = LoadtestTelemetry::init(Some(&bed.receiver.endpoint()))?;
    let api_pid = bed
        .api
        .process
        .pid()
        .ok_or_else(|| anyhow::anyhow!("the API has no pid"))?;

    let mut config = LoadConfig::new(&bed.api.base_url, 2.0, Duration::from_secs(3));
    config.tokens = Tokens {
        admin: Some(bed.settings.tokens.admin.clone()),
        clients: bed.settings.tokens.clients.to_vec(),
    };
    config.mix = EVERY_KIND.parse()?;
    config.drain_timeout = PATIENCE;
    config.slowest = 3;
    config.watch = vec![WatchTarget {
        name: "client-api".into(),
        pid: api_pid,
    }];
    let report = run_load(&config).await?;
    let shutdown_failures = telemetry.shutdown(Duration::from_secs(10)).await;
    let table = loadtest::table::render(&report);
    eprintln!("{table}");

    // Counts: six scheduled at 2/s over 3 s, all judged as expected.
    let counts = &report.counts;
    assert_eq!(
        (
            counts.scheduled,
            counts.sent,
            counts.accepted,
            counts.completed
        ),
        (6, 6, 6, 6),
        "{table}"
    );
    assert_eq!(
        (counts.mismatched, counts.unfinished, counts.failed),
        (0, 0, 0),
        "{table}"
    );
    assert!(report.passed(), "{table}");
    assert!(
        report.mismatches.is_empty() && report.unfinished.is_empty() && report.failures.is_empty()
    );
    for kind in ["accepted", "wrong", "tle", "mle", "re", "ce"] {
        assert_eq!(report.by_kind.get(kind), Some(&1), "{kind}: {table}");
    }
    for language in ["c", "cpp", "java", "python3"] {
        assert!(
            report.by_language.contains_key(language),
            "{language}: {table}"
        );
    }
    for verdict in [
        "Accepted",
        "WrongAnswer",
        "TimeLimitExceeded",
        "MemoryLimitExceeded",
        "RuntimeError",
        "CompileError",
    ] {
        assert_eq!(
            report.by_verdict.get(verdict),
            Some(&1),
            "{verdict}: {table}"
        );
    }

    // Every component has a value for every submission, and the percentiles are ordered.
    for component in COMPONENTS {
        let s = &report.components[component];
        assert_eq!(s.count, 6, "{component}: {table}");
        assert!(
            s.min <= s.p50
                && s.p50 <= s.p90
                && s.p90 <= s.p99
                && s.p99 <= s.p99_9
                && s.p99_9 <= s.max,
            "{component}: {s:?}"
        );
    }
    for measure in ["submit", "verdict", "send_lag"] {
        assert_eq!(report.client[measure].count, 6, "{measure}: {table}");
    }
    assert!(report.components["end_to_end"].max >= report.components["compile"].max);
    assert!(report.client["verdict"].min >= report.client["submit"].min);
    assert_eq!(report.target_rate, 2.0);
    assert!(
        report.achieved_rate > 0.0 && report.throughput.is_some(),
        "{table}"
    );
    let api = &report.processes[0];
    assert_eq!((api.name.as_str(), api.pid), ("client-api", api_pid));
    assert!(
        api.idle_rss_mib > 0.0 && api.peak_rss_mib >= api.idle_rss_mib,
        "{api:?}"
    );

    // The JSON file's keys: components named after the timings fields, with percentiles.
    let json = serde_json::to_value(&report)?;
    for component in [
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
    ] {
        for percentile in ["p50", "p90", "p99", "p99_9", "max"] {
            assert!(
                json["components"][component][percentile].is_number(),
                "components.{component}.{percentile} in {json}"
            );
        }
    }
    for key in [
        "target_rate",
        "achieved_rate",
        "counts",
        "client",
        "slowest",
        "mismatches",
        "unfinished",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }

    // The slowest submissions, slowest first, with their trace ids.
    assert_eq!(report.slowest.len(), 3, "{table}");
    assert!(
        report
            .slowest
            .windows(2)
            .all(|w| w[0].end_to_end_ms >= w[1].end_to_end_ms)
    );

    // The load generator's span is the parent of the API's: one trace per submission.
    assert!(shutdown_failures.is_empty(), "{shutdown_failures:?}");
    for slow in &report.slowest {
        assert_eq!(slow.trace_id.len(), 32, "{slow:?}");
        let spans = bed
            .receiver
            .trace(&slow.trace_id, PATIENCE, |spans| {
                spans
                    .iter()
                    .any(|s| s.service == "loadtest" && s.name == names::SUBMISSION_SPAN)
                    && spans
                        .iter()
                        .any(|s| s.service == "client-api" && s.name == span::SUBMIT)
                    && spans.iter().any(|s| s.name == span::SUBMISSION_FINALIZE)
            })
            .await
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no joined trace {}; spans seen: {:?}",
                    slow.trace_id,
                    bed.receiver.span_names()
                )
            })?;
        let find = |service: &str, name: &str| {
            spans
                .iter()
                .find(|s| s.service == service && s.name == name)
                .ok_or_else(|| anyhow::anyhow!("no {name} ({service}) in {spans:?}"))
        };
        let root = find("loadtest", names::SUBMISSION_SPAN)?;
        let post = find("loadtest", names::SUBMIT_SPAN)?;
        let server = find("client-api", span::SUBMIT)?;
        assert_eq!(root.parent_span_id, "", "the generator's span is the root");
        assert_eq!(post.parent_span_id, root.span_id);
        assert_eq!(server.parent_span_id, post.span_id);
        assert_eq!(root.attr("submission.id"), Some(slow.id.as_str()));
        assert_eq!(root.attr("judge.verdict"), Some(slow.verdict.as_str()));
    }

    // And its metrics arrived.
    let metrics = bed
        .receiver
        .metrics(
            PATIENCE,
            &[
                names::SUBMISSIONS,
                names::LATENCY,
                names::SUBMIT_LATENCY,
                names::COMPONENT_DURATION,
                names::TARGET_RATE,
                names::ACHIEVED_RATE,
            ],
        )
        .await
        .ok_or_else(|| anyhow::anyhow!("the load generator's metrics did not arrive"))?;
    assert_eq!(metrics[names::LATENCY].service, "loadtest");
    assert_eq!(metrics[names::LATENCY].unit, "s");
    let outcomes: Vec<&str> = metrics[names::SUBMISSIONS]
        .points
        .iter()
        .filter_map(|p| p.get("loadtest.outcome").map(String::as_str))
        .collect();
    assert!(outcomes.iter().all(|o| *o == "ok"), "{outcomes:?}");
    Ok(())
}
