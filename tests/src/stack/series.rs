//! The Prometheus series the stack produces, so a query can be checked against them: the
//! services' OTLP metrics under Prometheus' name translation (`translation_strategy` in
//! prometheus.yml), and the series of Tempo's metrics-generator and of RabbitMQ's plugin.
//!
//! Which instruments the services create (name, kind, unit) is learnt in
//! tests/tests/stack_metrics.rs through `opentelemetry_sdk`'s testing feature, a
//! dev-dependency; this module takes that list as an argument.

use std::collections::{BTreeMap, BTreeSet};

/// `service.name` of each service (client-api/src/lib.rs, judge-worker/src/lib.rs,
/// loadtest/src/otel.rs); `services_named_in_code_are_the_ones_listed_here` keeps this honest.
pub const SERVICES: [&str; 3] = ["client-api", "judge-worker", "loadtest"];

/// An instrument's kind as Prometheus sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Histogram,
    Counter,
    Gauge,
}

/// An instrument the services create.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub name: String,
    pub unit: String,
    pub kind: Kind,
}

/// One instrument per name, sorted by name. Both services make some semconv instruments;
/// Prometheus keeps one type and one unit per name, so they must agree.
pub fn one_per_name(seen: impl IntoIterator<Item = Emitted>) -> Vec<Emitted> {
    let mut emitted: BTreeMap<String, Emitted> = BTreeMap::new();
    for e in seen {
        if let Some(other) = emitted.get(&e.name) {
            assert_eq!(
                other, &e,
                "{}: the two services disagree on kind or unit",
                e.name
            );
        }
        emitted.insert(e.name.clone(), e);
    }
    emitted.into_values().collect()
}

/// Prometheus' `UnderscoreEscapingWithSuffixes` translation of an OTLP metric name: every
/// character outside `[A-Za-z0-9_:]` becomes `_`, the unit adds a suffix (`s` → `_seconds`;
/// an annotation in braces such as `{message}` adds nothing), monotonic sums add `_total`,
/// and a classic histogram is three series.
pub fn prometheus_series(name: &str, unit: &str, kind: Kind) -> Vec<String> {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = match unit {
        "" => None,
        "s" => Some("seconds"),
        "ms" => Some("milliseconds"),
        "By" => Some("bytes"),
        u if u.starts_with('{') && u.ends_with('}') => None,
        other => panic!(
            "{name}: unit {other:?} is not in this translation table; add its Prometheus suffix"
        ),
    };
    if let Some(suffix) = suffix
        && !base.ends_with(&format!("_{suffix}"))
    {
        base = format!("{base}_{suffix}");
    }
    match kind {
        Kind::Histogram => ["bucket", "sum", "count"]
            .iter()
            .map(|s| format!("{base}_{s}"))
            .collect(),
        Kind::Counter if base.ends_with("_total") => vec![base],
        Kind::Counter => vec![format!("{base}_total")],
        Kind::Gauge => vec![base],
    }
}

/// Prometheus series of one of the code's metric constants, among `emitted`.
pub fn series_of(emitted: &[Emitted], metric_name: &str) -> Vec<String> {
    let e = emitted
        .iter()
        .find(|e| e.name == metric_name)
        .unwrap_or_else(|| panic!("{metric_name} was not emitted by the services' instruments"));
    prometheus_series(&e.name, &e.unit, e.kind)
}

/// Series Tempo's metrics-generator writes (span metrics and service graphs).
pub const TEMPO_SERIES: [&str; 19] = [
    "traces_spanmetrics_calls_total",
    "traces_spanmetrics_latency_bucket",
    "traces_spanmetrics_latency_sum",
    "traces_spanmetrics_latency_count",
    "traces_spanmetrics_size_total",
    "traces_service_graph_request_total",
    "traces_service_graph_request_failed_total",
    "traces_service_graph_request_server_seconds_bucket",
    "traces_service_graph_request_server_seconds_sum",
    "traces_service_graph_request_server_seconds_count",
    "traces_service_graph_request_client_seconds_bucket",
    "traces_service_graph_request_client_seconds_sum",
    "traces_service_graph_request_client_seconds_count",
    "traces_service_graph_request_messaging_system_seconds_bucket",
    "traces_service_graph_request_messaging_system_seconds_sum",
    "traces_service_graph_request_messaging_system_seconds_count",
    "traces_service_graph_unpaired_spans_total",
    "traces_service_graph_dropped_spans_total",
    "traces_service_graph_expired_edges_total",
];

/// Series of RabbitMQ's rabbitmq_prometheus plugin that the stack relies on (per-queue ones
/// from /metrics/per-object).
pub const RABBITMQ_SERIES: [&str; 6] = [
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_messages",
    "rabbitmq_queue_consumers",
    "rabbitmq_global_messages_redelivered_total",
    "rabbitmq_global_messages_dead_lettered_delivery_limit_total",
];

/// Every series name a query may use: the services' (`emitted`), Tempo's and RabbitMQ's.
pub fn known_series(emitted: &[Emitted]) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = emitted
        .iter()
        .flat_map(|e| prometheus_series(&e.name, &e.unit, e.kind))
        .collect();
    known.extend(TEMPO_SERIES.iter().map(|s| s.to_string()));
    known.extend(RABBITMQ_SERIES.iter().map(|s| s.to_string()));
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(name: &str, unit: &str, kind: Kind) -> Emitted {
        Emitted {
            name: name.to_string(),
            unit: unit.to_string(),
            kind,
        }
    }

    #[test]
    fn prometheus_translation_of_names_units_and_kinds() {
        assert_eq!(
            prometheus_series("http.server.request.duration", "s", Kind::Histogram),
            [
                "http_server_request_duration_seconds_bucket",
                "http_server_request_duration_seconds_sum",
                "http_server_request_duration_seconds_count"
            ]
        );
        assert_eq!(
            prometheus_series("x.latency_seconds", "s", Kind::Gauge),
            ["x_latency_seconds"]
        );
        assert_eq!(
            prometheus_series("messaging.client.sent.messages", "{message}", Kind::Counter),
            ["messaging_client_sent_messages_total"]
        );
        assert_eq!(
            prometheus_series("requests_total", "", Kind::Counter),
            ["requests_total"]
        );
        assert_eq!(
            prometheus_series("payload-size", "By", Kind::Gauge),
            ["payload_size_bytes"]
        );
        assert_eq!(
            prometheus_series("a:b.c", "ms", Kind::Counter),
            ["a:b_c_milliseconds_total"]
        );
    }

    #[test]
    #[should_panic(expected = "not in this translation table")]
    fn an_unknown_unit_must_be_added_to_the_table() {
        prometheus_series("x", "kBy", Kind::Gauge);
    }

    #[test]
    fn known_series_add_tempos_and_rabbitmqs() {
        let known = known_series(&[emitted("judge.slots.busy", "{slot}", Kind::Gauge)]);
        assert!(known.contains("judge_slots_busy"));
        assert!(known.contains("traces_spanmetrics_latency_bucket"));
        assert!(known.contains("rabbitmq_queue_consumers"));
        assert_eq!(known.len(), 1 + TEMPO_SERIES.len() + RABBITMQ_SERIES.len());
        assert_eq!(
            series_of(
                &[emitted("judge.queue.wait", "s", Kind::Histogram)],
                "judge.queue.wait"
            )[0],
            "judge_queue_wait_seconds_bucket"
        );
    }

    #[test]
    fn instruments_made_twice_are_one() {
        let merged = one_per_name([
            emitted("b", "s", Kind::Histogram),
            emitted("a", "", Kind::Counter),
            emitted("b", "s", Kind::Histogram),
        ]);
        assert_eq!(
            merged,
            [
                emitted("a", "", Kind::Counter),
                emitted("b", "s", Kind::Histogram)
            ]
        );
    }

    #[test]
    #[should_panic(expected = "disagree on kind or unit")]
    fn instruments_of_one_name_agree() {
        one_per_name([
            emitted("b", "s", Kind::Histogram),
            emitted("b", "ms", Kind::Histogram),
        ]);
    }
}
