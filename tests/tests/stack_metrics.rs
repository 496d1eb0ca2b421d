//! What the dashboard asks of the services is what they emit. Span names come from
//! `messaging::semconv::span::ALL`, metric names from `messaging::semconv::metric::ALL`, and
//! each metric's kind and unit from the instruments client-api and judge-worker create, seen
//! here through `opentelemetry_sdk`'s testing feature (a dev-dependency, which is why this
//! part lives in a test and not in `e2e_tests::stack`). The Prometheus names follow from
//! those by the translation Prometheus applies to OTLP (`translation_strategy` in
//! prometheus.yml, checked in stack_files.rs).

use e2e_tests::stack::compose::STACK;
use e2e_tests::stack::files::{DASHBOARD, DATASOURCES, PROMETHEUS, at, json, read, str_at, yaml};
use e2e_tests::stack::grafana::{dashboard_queries, datasource_promql, panels};
use e2e_tests::stack::query_text::{SERVICE_KEYS, SPAN_NAME_KEYS, promql_metrics, wanted_values};
use e2e_tests::stack::series::{self, Emitted, Kind, SERVICES, prometheus_series};
use messaging::semconv::{metric, span};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, Instrument, InstrumentKind, PeriodicReader, SdkMeterProvider,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, Mutex};

/// The services' own instruments, as the SDK sees them when client-api and judge-worker
/// create their metrics: a view that changes nothing records each instrument's name, kind
/// and unit. (An exporter would need a measurement on every instrument, which would tie
/// this test to the layout of the services' metric structs.)
static EMITTED: LazyLock<Vec<Emitted>> = LazyLock::new(|| {
    let seen: Arc<Mutex<Vec<Emitted>>> = Arc::default();
    let record = Arc::clone(&seen);
    let provider = SdkMeterProvider::builder()
        // Pipelines, and so views, exist only with a reader.
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .with_view(move |instrument: &Instrument| {
            let kind = match instrument.kind() {
                InstrumentKind::Histogram => Kind::Histogram,
                InstrumentKind::Counter | InstrumentKind::ObservableCounter => Kind::Counter,
                // Non-monotonic sums and gauges are both Prometheus gauges.
                _ => Kind::Gauge,
            };
            record.lock().expect("no panic while held").push(Emitted {
                name: instrument.name().to_string(),
                unit: instrument.unit().to_string(),
                kind,
            });
            None
        })
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    let _api = client_api::metrics::ApiMetrics::new();
    let _worker = judge_worker::metrics::WorkerMetrics::new();
    let _ = provider.shutdown();

    let seen = std::mem::take(&mut *seen.lock().expect("no panic while held"));
    series::one_per_name(seen)
});

/// Prometheus series of one of the code's metric constants.
fn series_of(metric_name: &str) -> Vec<String> {
    series::series_of(&EMITTED, metric_name)
}

/// Every series name a query may use.
fn known_series() -> BTreeSet<String> {
    series::known_series(&EMITTED)
}

#[test]
fn the_code_emits_every_metric_it_declares() {
    let emitted: BTreeSet<&str> = EMITTED.iter().map(|e| e.name.as_str()).collect();
    let declared: BTreeSet<&str> = metric::ALL.into_iter().collect();
    assert_eq!(
        emitted, declared,
        "messaging::semconv::metric::ALL and the instruments of client-api and judge-worker differ"
    );
    for e in EMITTED.iter().filter(|e| e.kind == Kind::Histogram) {
        assert_eq!(e.unit, "s", "{}: histograms are in seconds", e.name);
    }
}

#[test]
fn prometheus_translation_gives_the_expected_names() {
    let names = |n: &str| series_of(n).join(" ");
    assert_eq!(
        names(metric::QUEUE_WAIT),
        "judge_queue_wait_seconds_bucket judge_queue_wait_seconds_sum judge_queue_wait_seconds_count"
    );
    assert_eq!(names(metric::SUBMISSIONS), "judge_submissions_total");
    assert_eq!(names(metric::SLOTS_BUSY), "judge_slots_busy");
    assert_eq!(
        names(metric::MESSAGING_CLIENT_SENT_MESSAGES),
        "messaging_client_sent_messages_total"
    );
    assert_eq!(
        prometheus_series("http.server.request.duration", "s", Kind::Histogram)[0],
        "http_server_request_duration_seconds_bucket"
    );
    assert_eq!(
        prometheus_series("x.latency_seconds", "s", Kind::Gauge),
        ["x_latency_seconds"]
    );
}

#[test]
fn services_named_in_code_are_the_ones_listed_here() {
    for (file, name) in [
        ("client-api/src/lib.rs", "service_name: \"client-api\""),
        ("judge-worker/src/lib.rs", "service_name: \"judge-worker\""),
        ("loadtest/src/otel.rs", "SERVICE_NAME: &str = \"loadtest\""),
    ] {
        assert!(
            read(file).contains(name),
            "{file} no longer says {name}; update SERVICES"
        );
    }
}

#[test]
fn dashboard_queries_only_what_the_services_emit() {
    let stack = &*STACK;
    let dashboard = json(DASHBOARD);
    let queries = dashboard_queries(&dashboard);
    let known = known_series();
    let spans: BTreeSet<&str> = span::ALL.into_iter().collect();

    let prometheus_jobs: Vec<String> = at(&yaml(PROMETHEUS), &["scrape_configs"])
        .as_array()
        .expect("scrape_configs")
        .iter()
        .map(|j| str_at(j, &["job_name"]).to_string())
        .collect();
    let mut services: BTreeSet<String> = SERVICES.iter().map(|s| s.to_string()).collect();
    services.extend(stack.services().keys().cloned());
    services.extend(prometheus_jobs);

    let mut promql: Vec<(String, String)> = queries
        .iter()
        .filter(|q| q.language == "prometheus")
        .map(|q| (q.panel.clone(), q.text.clone()))
        .collect();
    promql.extend(
        datasource_promql(&yaml(DATASOURCES))
            .into_iter()
            .map(|q| ("datasources".to_string(), q)),
    );

    let (mut metrics_seen, mut spans_seen, mut services_seen) = (0, 0, 0);
    for (panel, expr) in &promql {
        let metrics = promql_metrics(expr);
        assert!(!metrics.is_empty(), "{panel}: no metric in {expr}");
        for m in metrics {
            assert!(
                known.contains(&m),
                "{panel}: {m} is not a series the stack produces (in {expr})"
            );
            metrics_seen += 1;
        }
    }
    for q in &queries {
        if q.language == "loki" {
            assert!(
                q.text.trim_start().starts_with('{'),
                "{}: LogQL starts with a stream selector",
                q.panel
            );
        }
    }
    let all_queries = queries
        .iter()
        .map(|q| (q.panel.as_str(), q.text.as_str()))
        .chain(promql.iter().map(|(p, q)| (p.as_str(), q.as_str())));
    for (panel, text) in all_queries {
        for (label, value) in wanted_values(text, &SPAN_NAME_KEYS) {
            assert!(
                spans.contains(value.as_str()),
                "{panel}: {label}={value:?} is not a span name the code emits"
            );
            spans_seen += 1;
        }
        for (label, value) in wanted_values(text, &SERVICE_KEYS) {
            assert!(
                services.contains(&value),
                "{panel}: {label}={value:?} names no service"
            );
            services_seen += 1;
        }
    }
    assert!(metrics_seen >= 40, "only {metrics_seen} metric references");
    assert!(spans_seen >= 1, "no span name queried");
    assert!(
        services_seen >= 10,
        "only {services_seen} service references"
    );
}

#[test]
fn dashboard_shows_every_stage_and_view_the_issue_asks_for() {
    let dashboard = json(DASHBOARD);
    assert_eq!(str_at(&dashboard, &["uid"]), "grading-pipeline");
    assert_eq!(str_at(&dashboard, &["title"]), "Grading pipeline");
    let queries = dashboard_queries(&dashboard);
    let promql: Vec<&str> = queries
        .iter()
        .filter(|q| q.language == "prometheus")
        .map(|q| q.text.as_str())
        .collect();
    let queried: BTreeSet<String> = promql.iter().flat_map(|q| promql_metrics(q)).collect();

    // Each stage from the services' own histograms (names from the code's constants): its
    // buckets for the quantiles, its sum for the stacked mean.
    for m in [
        metric::HTTP_SERVER_REQUEST_DURATION,
        metric::QUEUE_WAIT,
        metric::HTTP_CLIENT_REQUEST_DURATION,
        metric::COMPILE_DURATION,
        metric::RUN_DURATION,
        metric::MESSAGING_PROCESS_DURATION,
        metric::E2E_DURATION,
    ] {
        for s in series_of(m).iter().filter(|s| !s.ends_with("_count")) {
            assert!(
                queried.contains(s),
                "the dashboard does not query {s} ({m})"
            );
        }
    }
    for m in [metric::SUBMISSIONS, metric::SLOTS_BUSY] {
        assert!(
            series_of(m).iter().any(|s| queried.contains(s)),
            "the dashboard shows nothing of {m}"
        );
    }
    for s in [
        "traces_service_graph_request_messaging_system_seconds_bucket",
        "traces_spanmetrics_latency_bucket",
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_consumers",
    ] {
        assert!(queried.contains(s), "the dashboard does not query {s}");
    }
    // p50/p95/p99 and a stacked mean.
    for q in [
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
    ] {
        assert!(
            promql.iter().any(|e| e.contains(q)),
            "no {q}...) in the dashboard"
        );
    }
    let all_panels = panels(&dashboard);
    assert!(
        all_panels.iter().any(
            |p| p.get("type").and_then(Value::as_str) == Some("timeseries")
                && p.pointer("/fieldConfig/defaults/custom/stacking/mode")
                    .and_then(Value::as_str)
                    == Some("normal")
                && p.get("targets")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.len() >= 7)
        ),
        "no stacked panel of the stages"
    );
    // Submissions by verdict and by language.
    let submissions = &series_of(metric::SUBMISSIONS)[0];
    for label in ["judge_verdict", "judge_language"] {
        assert!(
            promql
                .iter()
                .any(|e| e.contains(submissions) && e.contains(&format!("by ({label})"))),
            "no {submissions} by {label}"
        );
    }
    // An error-log panel, a slow-trace table and every panel with a query.
    assert!(
        queries
            .iter()
            .any(|q| q.language == "loki" && q.text.contains("ERROR")),
        "no error-log panel"
    );
    assert!(
        all_panels
            .iter()
            .any(|p| p.get("type").and_then(Value::as_str) == Some("table")
                && p.get("targets")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| {
                        t.get("queryType").and_then(Value::as_str) == Some("traceql")
                            && t.get("tableType").and_then(Value::as_str) == Some("traces")
                            && t.get("query")
                                .and_then(Value::as_str)
                                // Not `trace:duration`: Tempo knows a trace's duration only
                                // once the pieces it cut while the submission sat in the queue
                                // are joined, so the table reads the exact end-to-end time the
                                // API puts on `submission.finalize`.
                                .is_some_and(|q| {
                                    q.contains("submission.finalize")
                                        && q.contains("span.submission.end_to_end_ms")
                                })
                    }))),
        "no TraceQL table of slow submissions"
    );
    let mut ids = BTreeSet::new();
    for p in &all_panels {
        let id = p.get("id").and_then(Value::as_u64).expect("panel id");
        assert!(ids.insert(id), "panel id {id} used twice");
        if p.get("type").and_then(Value::as_str) != Some("row") {
            let title = p.get("title").and_then(Value::as_str).unwrap_or("?");
            assert!(
                p.get("targets")
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty()),
                "panel {title:?} has no query"
            );
        }
    }
    assert!(all_panels.len() >= 20, "only {} panels", all_panels.len());
}
