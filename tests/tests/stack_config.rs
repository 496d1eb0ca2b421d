//! Consistency of the observability stack's configuration: docker-compose.yml, .env, the
//! Dockerfile and collector-config/ must agree with each other and with what the services
//! emit. Nothing here starts a container: these checks run in CI, where there is no Docker.
//!
//! What the services emit is taken from the code, not restated: span names from
//! `messaging::semconv::span::ALL`, metric names from `messaging::semconv::metric::ALL`, and
//! each metric's kind and unit from the instruments the services create. The
//! Prometheus names follow from those by the translation Prometheus applies to OTLP
//! (`translation_strategy` in prometheus.yml, checked here too).

use messaging::semconv::{DURATION_BUCKETS_SECONDS, metric, span};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, Instrument, InstrumentKind, PeriodicReader, SdkMeterProvider,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

// ---------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A YAML file as JSON values, with `<<` merge keys applied as compose applies them.
fn yaml(rel: &str) -> Value {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(rel))
        .unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("{rel}: bad merge key: {e}"));
    serde_json::to_value(doc).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// `value[a][b]...`, failing with the path when something is missing.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    let mut v = value;
    for (i, key) in path.iter().enumerate() {
        v = v
            .get(key)
            .unwrap_or_else(|| panic!("missing `{}`", path[..=i].join(".")));
    }
    v
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{}` is not a string", path.join(".")))
}

fn object<'a>(value: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn strings_in(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what} holds a non-string"))
                .to_string()
        })
        .collect()
}

/// Every string in a YAML/JSON tree, with the key it sits under.
fn walk_strings<'a>(value: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(s) => out.push((key, s)),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| walk_strings(v, k, out)),
        _ => {}
    }
}

/// Every value under a key named `name`, anywhere in the tree.
fn values_named<'a>(value: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| values_named(v, name, out)),
        Value::Object(map) => {
            for (k, v) in map {
                if k == name {
                    out.push(v);
                }
                values_named(v, name, out);
            }
        }
        _ => {}
    }
}

/// Files under `dir`, relative to the repository root.
fn files_under(dir: &str) -> Vec<String> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                visit(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under the root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let root = repo();
    let mut out = Vec::new();
    visit(&root, &root.join(dir), &mut out);
    out.sort();
    out
}

/// `5s`, `10m`, `250ms`, `72h` in seconds.
fn duration_seconds(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("duration {s:?} has no number"));
    n * match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => panic!("duration {s:?} has an unknown unit"),
    }
}

// ---------------------------------------------------------------------------------------
// docker-compose.yml, interpolated with .env
// ---------------------------------------------------------------------------------------

const COMPOSE: &str = "docker-compose.yml";

struct Stack {
    compose: Value,
    env: BTreeMap<String, String>,
}

static STACK: LazyLock<Stack> = LazyLock::new(|| Stack {
    compose: yaml(COMPOSE),
    env: parse_env_file(&read(".env")),
});

fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!(".env line {} is not KEY=VALUE: {line}", n + 1));
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            ".env line {}: bad variable name {key:?}",
            n + 1
        );
        assert!(
            env.insert(key.to_string(), value.to_string()).is_none(),
            ".env sets {key} twice"
        );
    }
    env
}

/// Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`, and `$$`
/// for a literal `$`. Returns the names it needed; a name .env lacks (and that has no
/// default) is an error.
fn interpolate(s: &str, env: &BTreeMap<String, String>) -> Result<(String, Vec<String>), String> {
    let chars: Vec<char> = s.chars().collect();
    let (mut out, mut names, mut i) = (String::new(), Vec::new(), 0);
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?
                    + i;
                let inner: String = chars[i + 2..close].iter().collect();
                let (name, default) = match inner.split_once(":-").or_else(|| inner.split_once('-'))
                {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (inner.clone(), None),
                };
                match (env.get(&name), default) {
                    (Some(v), _) => out.push_str(v),
                    (None, Some(d)) => out.push_str(&d),
                    (None, None) => return Err(name),
                }
                names.push(name);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(chars.len(), |p| p + i + 1);
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(env.get(&name).ok_or_else(|| name.clone())?);
                names.push(name);
                i = end;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok((out, names))
}

impl Stack {
    fn services(&self) -> &serde_json::Map<String, Value> {
        object(at(&self.compose, &["services"]), "services")
    }

    fn service(&self, name: &str) -> &Value {
        self.services()
            .get(name)
            .unwrap_or_else(|| panic!("no compose service {name}"))
    }

    fn expand(&self, s: &str) -> String {
        interpolate(s, &self.env)
            .unwrap_or_else(|name| panic!("{COMPOSE}: ${{{name}}} is not set in .env (in {s:?})"))
            .0
    }

    fn setting<'a>(&'a self, service: &str, key: &str) -> Option<&'a Value> {
        self.service(service).get(key)
    }

    fn environment(&self, service: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(vars) = self.service(service).get("environment") {
            for (k, v) in object(vars, "environment") {
                let raw = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                env.insert(k.clone(), self.expand(&raw));
            }
        }
        env
    }

    /// Ports published on the host: (host port, container port).
    fn published(&self, service: &str) -> Vec<(u16, u16)> {
        let Some(ports) = self.setting(service, "ports") else {
            return Vec::new();
        };
        strings_in(ports, &format!("{service}.ports"))
            .iter()
            .map(|p| {
                let expanded = self.expand(p);
                let parts: Vec<&str> = expanded.split(':').collect();
                let [_, host, container] = parts[..] else {
                    panic!("{service}: port {p:?} must name the host address (BIND_ADDRESS)")
                };
                (
                    host.parse().expect("host port"),
                    container.parse().expect("container port"),
                )
            })
            .collect()
    }

    /// The ports a service serves on the compose network: `expose` plus published ones.
    fn listens(&self, service: &str) -> BTreeSet<u16> {
        let mut ports: BTreeSet<u16> = self.published(service).iter().map(|p| p.1).collect();
        if let Some(expose) = self.setting(service, "expose") {
            for p in strings_in(expose, &format!("{service}.expose")) {
                ports.insert(
                    p.parse()
                        .unwrap_or_else(|_| panic!("{service}: expose {p:?}")),
                );
            }
        }
        ports
    }

    /// Bind mounts of files in this repository: (service, path relative to the repo,
    /// container path).
    fn repo_mounts(&self) -> Vec<(String, String, String)> {
        let mut mounts = Vec::new();
        for (name, service) in self.services() {
            let Some(volumes) = service.get("volumes") else {
                continue;
            };
            for v in strings_in(volumes, &format!("{name}.volumes")) {
                let mut parts = v.split(':');
                let (source, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if let Some(rel) = source.strip_prefix("./") {
                    mounts.push((name.clone(), rel.to_string(), target.to_string()));
                }
            }
        }
        mounts
    }

    /// Which service reads a file of this repository, through which container path.
    fn owner(&self, rel: &str) -> Option<(String, String)> {
        self.repo_mounts()
            .into_iter()
            .find_map(|(service, source, target)| {
                if rel == source {
                    Some((service, target))
                } else {
                    let inner = rel.strip_prefix(&format!("{source}/"))?;
                    Some((service, format!("{target}/{inner}")))
                }
            })
    }
}

// ---------------------------------------------------------------------------------------
// What the services emit
// ---------------------------------------------------------------------------------------

/// `service.name` of each service (client-api/src/lib.rs, judge-worker/src/lib.rs,
/// loadtest/src/otel.rs); `services_named_in_code_are_the_ones_listed_here` keeps this honest.
const SERVICES: [&str; 3] = ["client-api", "judge-worker", "loadtest"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Histogram,
    Counter,
    Gauge,
}

#[derive(Debug, Clone, PartialEq)]
struct Emitted {
    name: String,
    unit: String,
    kind: Kind,
}

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

    let mut emitted: BTreeMap<String, Emitted> = BTreeMap::new();
    for e in seen.lock().expect("no panic while held").drain(..) {
        // Both services make some semconv instruments; Prometheus keeps one type and one
        // unit per name, so they must agree.
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
});

/// Prometheus' `UnderscoreEscapingWithSuffixes` translation of an OTLP metric name: every
/// character outside `[A-Za-z0-9_:]` becomes `_`, the unit adds a suffix (`s` → `_seconds`;
/// an annotation in braces such as `{message}` adds nothing), monotonic sums add `_total`,
/// and a classic histogram is three series.
fn prometheus_series(name: &str, unit: &str, kind: Kind) -> Vec<String> {
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

/// Prometheus series of one of the code's metric constants.
fn series_of(metric_name: &str) -> Vec<String> {
    let e = EMITTED
        .iter()
        .find(|e| e.name == metric_name)
        .unwrap_or_else(|| panic!("{metric_name} was not emitted by the services' instruments"));
    prometheus_series(&e.name, &e.unit, e.kind)
}

/// Series Tempo's metrics-generator writes (span metrics and service graphs).
const TEMPO_SERIES: [&str; 19] = [
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
const RABBITMQ_SERIES: [&str; 6] = [
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_messages",
    "rabbitmq_queue_consumers",
    "rabbitmq_global_messages_redelivered_total",
    "rabbitmq_global_messages_dead_lettered_delivery_limit_total",
];

/// Every series name a query may use.
fn known_series() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = EMITTED
        .iter()
        .flat_map(|e| prometheus_series(&e.name, &e.unit, e.kind))
        .collect();
    known.extend(TEMPO_SERIES.iter().map(|s| s.to_string()));
    known.extend(RABBITMQ_SERIES.iter().map(|s| s.to_string()));
    known
}

// ---------------------------------------------------------------------------------------
// Reading queries: PromQL metric names, and `label op "value"` matchers in PromQL, LogQL
// and TraceQL
// ---------------------------------------------------------------------------------------

#[rustfmt::skip]
const PROMQL_FUNCTIONS: &[&str] = &[
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "delta",
    "deriv", "exp", "floor", "group", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_sum", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "max", "max_over_time", "min",
    "min_over_time", "predict_linear", "quantile", "quantile_over_time", "rate", "resets",
    "round", "scalar", "sort", "sort_desc", "sqrt", "stddev", "stdvar", "sum", "sum_over_time",
    "time", "timestamp", "topk", "vector",
];

#[rustfmt::skip]
const PROMQL_KEYWORDS: &[&str] = &[
    "and", "atan2", "bool", "by", "group_left", "group_right", "ignoring", "inf", "nan",
    "offset", "on", "or", "unless", "without",
];

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Index just past the string literal starting at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let quote = b[i];
    i += 1;
    while i < b.len() && b[i] != quote {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Index just past the bracketed group starting at `i` (strings inside are skipped).
fn skip_group(b: &[u8], mut i: usize) -> usize {
    let (open, close) = (
        b[i],
        match b[i] {
            b'{' => b'}',
            b'[' => b']',
            _ => b')',
        },
    );
    let mut depth = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!(
        "unbalanced {} in {:?}",
        open as char,
        String::from_utf8_lossy(b)
    )
}

/// The metric names a PromQL expression reads. A word followed by `(` must be a PromQL
/// function (so a typo there fails too); label lists after `by`, `on`... are not metrics.
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            b'{' | b'[' => i = skip_group(b, i),
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    i = skip_group(b, i);
                } else {
                    while i < b.len() && is_ident(b[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut next = i;
                while next < b.len() && b[next].is_ascii_whitespace() {
                    next += 1;
                }
                let call = b.get(next) == Some(&b'(');
                if PROMQL_KEYWORDS.contains(&word) {
                    if call && word != "bool" {
                        i = skip_group(b, next);
                    }
                } else if PROMQL_FUNCTIONS.contains(&word) {
                    // a call, or an aggregation followed by `by (...)`
                } else {
                    assert!(!call, "`{word}(` is not a PromQL function, in {expr}");
                    out.insert(word.to_string());
                }
            }
            _ => i += 1,
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(String),
    Other,
}

/// A lexer good enough for PromQL, LogQL and TraceQL matchers: words may hold `.` and `:`
/// (`span:name`, `resource.service.name`), strings are unescaped.
fn tokens(query: &str) -> Vec<Tok> {
    let c: Vec<char> = query.chars().collect();
    let word = |ch: char| ch.is_ascii_alphanumeric() || "_.:".contains(ch);
    let (mut out, mut i) = (Vec::new(), 0);
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if "\"'`".contains(c[i]) {
            let quote = c[i];
            let mut s = String::new();
            i += 1;
            while i < c.len() && c[i] != quote {
                if c[i] == '\\' && quote != '`' && i + 1 < c.len() {
                    s.push(c[i + 1]);
                    i += 2;
                } else {
                    s.push(c[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c[i] == '$' {
            i += 1;
            if c.get(i) == Some(&'{') {
                while i < c.len() && c[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < c.len() && word(c[i]) {
                    i += 1;
                }
            }
            out.push(Tok::Other);
        } else if word(c[i]) {
            let start = i;
            while i < c.len() && word(c[i]) {
                i += 1;
            }
            out.push(Tok::Word(c[start..i].iter().collect()));
        } else if "=!<>~&|".contains(c[i]) {
            let start = i;
            while i < c.len() && "=!<>~&|".contains(c[i]) {
                i += 1;
            }
            out.push(Tok::Op(c[start..i].iter().collect()));
        } else {
            out.push(Tok::Other);
            i += 1;
        }
    }
    out
}

/// The values a query asks `label` to equal or match: `label="v"` gives `v`, and
/// `label=~"a|b"` gives `a` and `b` (only literal alternatives; regex syntax is skipped, as
/// are negative matchers and values holding a `$` variable).
fn wanted_values(query: &str, labels: &[&str]) -> Vec<(String, String)> {
    let toks = tokens(query);
    let mut out = Vec::new();
    for w in toks.windows(3) {
        let (Tok::Word(label), Tok::Op(op), Tok::Str(value)) = (&w[0], &w[1], &w[2]) else {
            continue;
        };
        if !labels.contains(&label.as_str()) || value.contains('$') {
            continue;
        }
        match op.as_str() {
            "=" => out.push((label.clone(), value.clone())),
            "=~" => {
                for alt in value.split('|') {
                    let literal = alt.replace("\\.", ".");
                    if !literal.chars().any(|c| "\\*+?[](){}^$".contains(c)) {
                        out.push((label.clone(), literal));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Labels and attributes whose values are span names.
const SPAN_NAME_KEYS: [&str; 5] = [
    "span:name",
    "name",
    "trace:rootName",
    "rootName",
    "span_name",
];

/// Labels and attributes whose values are service names (or, for `job`, scrape jobs).
const SERVICE_KEYS: [&str; 9] = [
    "resource.service.name",
    ".service.name",
    "trace:rootService",
    "rootServiceName",
    "service",
    "service_name",
    "client",
    "server",
    "job",
];

// ---------------------------------------------------------------------------------------
// The dashboard and the datasources
// ---------------------------------------------------------------------------------------

const DASHBOARD: &str = "collector-config/grafana/dashboards/grading-pipeline.json";
const DATASOURCES: &str = "collector-config/grafana/provisioning/datasources/datasources.yaml";
const DASHBOARD_PROVIDERS: &str =
    "collector-config/grafana/provisioning/dashboards/dashboards.yaml";
const COLLECTOR: &str = "collector-config/otel-collector.yaml";
const TEMPO: &str = "collector-config/tempo.yaml";
const LOKI: &str = "collector-config/loki.yaml";
const PROMETHEUS: &str = "collector-config/prometheus.yml";
const ALLOY: &str = "collector-config/alloy/config.alloy";

/// Panels, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in at(dashboard, &["panels"]).as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p.get("panels").and_then(Value::as_array) {
            out.extend(inner);
        }
    }
    out
}

#[derive(Debug)]
struct Query {
    panel: String,
    /// Datasource type: `prometheus`, `loki` or `tempo`.
    language: String,
    text: String,
}

fn dashboard_queries(dashboard: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        let Some(targets) = p.get("targets").and_then(Value::as_array) else {
            continue;
        };
        let title = p
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        for t in targets {
            let ds = t.get("datasource").or_else(|| p.get("datasource"));
            let language = ds
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("panel {title:?}: a target without datasource type"))
                .to_string();
            let key = if language == "tempo" { "query" } else { "expr" };
            let text = t
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("panel {title:?}: a {language} target without `{key}`"))
                .to_string();
            out.push(Query {
                panel: title.clone(),
                language,
                text,
            });
        }
    }
    out
}

/// PromQL the datasources run for a span (tracesToMetrics), `$$` unescaped.
fn datasource_promql(datasources: &Value) -> Vec<String> {
    let mut found = Vec::new();
    values_named(datasources, "tracesToMetrics", &mut found);
    found
        .iter()
        .filter_map(|t| t.get("queries").and_then(Value::as_array))
        .flatten()
        .map(|q| str_at(q, &["query"]).replace("$$", "$"))
        .collect()
}

/// An Alloy file without its comment lines (`//` also occurs inside `unix:///...`, so only
/// whole-line comments, the only kind these files use, are removed).
fn alloy_code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn every_config_file_parses_and_says_what_it_is_for() {
    let mut files = files_under("collector-config");
    files.extend(
        [COMPOSE, ".env", "Dockerfile", ".dockerignore"]
            .iter()
            .map(|s| s.to_string()),
    );
    let mut parsed = 0;
    for rel in &files {
        let text = read(rel);
        let first = text.lines().next().unwrap_or("");
        if rel.ends_with(".yaml") || rel.ends_with(".yml") {
            let v = yaml(rel);
            assert!(
                v.as_object().is_some_and(|m| !m.is_empty()),
                "{rel} is not a non-empty mapping"
            );
            assert!(
                first.starts_with("# "),
                "{rel} must open with a comment saying what it is for"
            );
            parsed += 1;
        } else if rel.ends_with(".json") {
            // JSON has no comments: the description field says what the file is for.
            let v = json(rel);
            let description = v.get("description").and_then(Value::as_str).unwrap_or("");
            assert!(
                description.len() > 20,
                "{rel} needs a top-level description"
            );
            parsed += 1;
        } else if rel.ends_with(".alloy") {
            assert!(first.starts_with("// "), "{rel} must open with a comment");
            let code = alloy_code(&text);
            let b = code.as_bytes();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'"' => i = skip_string(b, i),
                    b'{' | b'[' | b'(' => i = skip_group(b, i),
                    b'}' | b']' | b')' => panic!("{rel}: unbalanced {}", b[i] as char),
                    _ => i += 1,
                }
            }
            parsed += 1;
        } else if rel.ends_with("enabled_plugins") {
            assert!(first.starts_with('%'), "{rel} must open with a comment");
            let term: String = text.lines().filter(|l| !l.starts_with('%')).collect();
            assert!(
                term.trim().starts_with('[') && term.trim().ends_with("]."),
                "{rel}: not an Erlang list term"
            );
            for plugin in ["rabbitmq_management", "rabbitmq_prometheus"] {
                assert!(term.contains(plugin), "{rel} must enable {plugin}");
            }
            parsed += 1;
        } else {
            assert!(
                first.starts_with("# "),
                "{rel} must open with a comment saying what it is for"
            );
        }
    }
    // compose, collector, tempo, loki, prometheus, two provisioning files, the dashboard,
    // alloy, rabbitmq's plugins
    assert!(parsed >= 10, "only {parsed} config files found: {files:?}");
}

#[test]
fn every_config_file_is_mounted_into_a_service() {
    let stack = &*STACK;
    for rel in files_under("collector-config") {
        assert!(
            stack.owner(&rel).is_some(),
            "{rel} is mounted into no compose service (an unused file, or a missing mount)"
        );
    }
    for (service, source, _) in stack.repo_mounts() {
        assert!(
            repo().join(&source).exists(),
            "{service} mounts ./{source}, which does not exist"
        );
    }
}

#[test]
fn images_are_pinned_to_exact_versions() {
    // Images whose releases are numbered major.minor (PostgreSQL 17.10 is a release).
    const TWO_PART_VERSIONS: [&str; 1] = ["postgres"];
    fn check(image: &str, origin: &str) {
        if image.contains("@sha256:") {
            return;
        }
        let name_end = image.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = image[name_end..]
            .split_once(':')
            .map(|(n, t)| (format!("{}{n}", &image[..name_end]), t))
            .unwrap_or_else(|| panic!("{origin}: image {image} has no tag"));
        assert!(!tag.contains("latest"), "{origin}: {image} is not pinned");
        let version: Vec<&str> = tag
            .trim_start_matches('v')
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .collect();
        let dotted = version
            .iter()
            .map(|v| v.split('.').filter(|p| !p.is_empty()).count())
            .max()
            .unwrap_or(0);
        let dated = version.iter().any(|v| v.len() == 8 && !v.contains('.'));
        let needed = if TWO_PART_VERSIONS.contains(&name.as_str()) {
            2
        } else {
            3
        };
        assert!(
            dotted >= needed || dated,
            "{origin}: {image} names a moving tag; pin an exact release (x.y.z) or a dated build"
        );
    }

    let stack = &*STACK;
    let mut pinned = 0;
    for (name, service) in stack.services() {
        match service.get("image").and_then(Value::as_str) {
            Some(image) => {
                check(&stack.expand(image), &format!("{COMPOSE} {name}"));
                pinned += 1;
            }
            None => assert!(
                service.get("build").is_some(),
                "{name} has neither image nor build"
            ),
        }
    }
    assert!(pinned >= 8, "only {pinned} images found in {COMPOSE}");

    let dockerfile = read("Dockerfile");
    let mut stages = BTreeSet::new();
    let mut froms = 0;
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let image = words
                .iter()
                .skip(1)
                .find(|w| !w.starts_with("--"))
                .expect("FROM names an image");
            if !stages.contains(*image) {
                check(image, "Dockerfile");
                froms += 1;
            }
            if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
                stages.insert(words[i + 1].to_string());
            }
        }
    }
    assert!(froms >= 2, "Dockerfile: no base images found");
}

#[test]
fn compose_settings_are_complete_and_consistent() {
    let stack = &*STACK;
    let compose = &stack.compose;
    assert!(
        compose.get("version").is_none(),
        "the compose specification has no `version:` key"
    );

    // Every variable comes from .env, and .env holds nothing unused.
    let mut strings = Vec::new();
    walk_strings(compose, "", &mut strings);
    let mut used = BTreeSet::new();
    for (_, s) in &strings {
        let (_, names) = interpolate(s, &stack.env)
            .unwrap_or_else(|name| panic!("{COMPOSE}: ${{{name}}} is not set in .env"));
        used.extend(names);
    }
    let defined: BTreeSet<String> = stack.env.keys().cloned().collect();
    let unused: Vec<_> = defined.difference(&used).collect();
    assert!(
        unused.is_empty(),
        ".env sets variables compose never reads: {unused:?}"
    );

    // Only published ports are reachable from outside, and only on BIND_ADDRESS.
    let mut published = 0;
    for (name, service) in stack.services() {
        if let Some(ports) = service.get("ports") {
            for p in strings_in(ports, "ports") {
                assert!(
                    p.starts_with("${BIND_ADDRESS}:"),
                    "{name}: port {p} must bind ${{BIND_ADDRESS}}"
                );
                published += 1;
            }
        }
    }
    assert_eq!(
        published, 4,
        "publish the API, Grafana, RabbitMQ management and OTLP only"
    );

    // Volumes: named ones declared (and each declared one used), bind sources present.
    let declared: BTreeSet<String> = object(at(compose, &["volumes"]), "volumes")
        .keys()
        .cloned()
        .collect();
    let mut named = BTreeSet::new();
    for (name, service) in stack.services() {
        let Some(volumes) = service.get("volumes") else {
            continue;
        };
        for v in strings_in(volumes, "volumes") {
            let source = v.split(':').next().unwrap_or("");
            if !(source.starts_with("./") || source.starts_with('/') || source.starts_with('$')) {
                assert!(
                    declared.contains(source),
                    "{name}: volume {source} is not declared"
                );
                named.insert(source.to_string());
            }
        }
    }
    assert_eq!(
        named, declared,
        "declared volumes must be the ones services use"
    );

    // Dependencies exist; waiting for health needs a health check.
    let dockerfile = read("Dockerfile");
    let mut healthy_waits = 0;
    for (name, service) in stack.services() {
        if let Some(deps) = service.get("depends_on") {
            let deps: Vec<(String, String)> = match deps {
                Value::Array(list) => list
                    .iter()
                    .map(|d| {
                        (
                            d.as_str().expect("service").to_string(),
                            "service_started".to_string(),
                        )
                    })
                    .collect(),
                Value::Object(map) => map
                    .iter()
                    .map(|(d, c)| (d.clone(), str_at(c, &["condition"]).to_string()))
                    .collect(),
                _ => panic!("{name}: depends_on"),
            };
            for (dep, condition) in deps {
                assert!(
                    stack.services().contains_key(&dep),
                    "{name} depends on unknown {dep}"
                );
                if condition == "service_healthy" {
                    assert!(
                        stack.setting(&dep, "healthcheck").is_some(),
                        "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                    );
                    healthy_waits += 1;
                }
            }
        }
        assert!(
            service.get("extends").is_none(),
            "{name}: share settings through the x-judge-worker anchor, which these checks read"
        );
        if let Some(target) = service
            .get("build")
            .and_then(|b| b.get("target"))
            .and_then(Value::as_str)
        {
            assert!(
                dockerfile
                    .lines()
                    .any(|l| l.trim_end().ends_with(&format!(" AS {target}"))),
                "{name} builds Dockerfile target {target}, which has no stage"
            );
        }
    }
    assert!(
        healthy_waits >= 4,
        "start order must wait for health (broker, database, API)"
    );

    // Both services export to the Collector and ship the same metric interval.
    for service in ["client-api", "judge-worker"] {
        let env = stack.environment(service);
        for key in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_METRIC_EXPORT_INTERVAL",
            "AMQP_URL",
            "QUEUE_PREFIX",
        ] {
            assert!(env.contains_key(key), "{service} lacks {key}");
        }
    }
    assert_eq!(
        stack.environment("client-api")["LISTEN_ADDR"],
        "0.0.0.0:8080"
    );

    // Grafana finds the dashboards where the provider looks, and the home dashboard exists.
    let providers = yaml(DASHBOARD_PROVIDERS);
    let path = str_at(&at(&providers, &["providers"])[0], &["options", "path"]);
    let (_, dashboard_in_container) = stack.owner(DASHBOARD).expect("dashboard mounted");
    assert_eq!(
        Path::new(&dashboard_in_container).parent(),
        Some(Path::new(path)),
        "the dashboard provider reads {path}, but the dashboard is mounted at {dashboard_in_container}"
    );
    assert_eq!(
        stack.environment("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"],
        dashboard_in_container
    );

    // Alloy follows exactly this compose project's containers.
    let project = str_at(compose, &["name"]);
    assert!(
        read(ALLOY).contains(&format!("\"com.docker.compose.project={project}\"")),
        "{ALLOY} must filter on compose project {project}"
    );
}

/// (host, port) pairs in a string: URLs (`scheme://user:pw@host:port/...`), bash's
/// `/dev/tcp/host/port`, a bare `host:port`, or a `--flag=host:port`.
fn addresses(s: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+'))
            .map_or(0, |j| j + 1);
        let scheme = &rest[scheme_start..i];
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| "/?#\"' ".contains(c))
            .unwrap_or(after.len());
        let authority = after[..end]
            .rsplit_once('@')
            .map_or(&after[..end], |(_, h)| h);
        if !matches!(scheme, "unix" | "file") && !authority.is_empty() {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()),
                None => (
                    authority,
                    match scheme {
                        "http" => Some(80),
                        "https" => Some(443),
                        "amqp" => Some(5672),
                        "postgres" | "postgresql" => Some(5432),
                        _ => None,
                    },
                ),
            };
            let port = port.unwrap_or_else(|| panic!("cannot tell the port of {s:?}"));
            out.push((host.to_string(), port));
        }
        rest = &after[end..];
    }
    if let Some(i) = s.find("/dev/tcp/") {
        let mut parts = s[i + 9..].split('/');
        let host = parts.next().unwrap_or("").to_string();
        let port: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        out.push((host, port.parse().expect("/dev/tcp port")));
    }
    let bare = s
        .rsplit_once('=')
        .filter(|_| s.starts_with("--"))
        .map_or(s, |(_, v)| v);
    if !bare.contains("://")
        && let Some((host, port)) = bare.rsplit_once(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        && let Ok(port) = port.parse::<u16>()
    {
        out.push((host.to_string(), port));
    }
    out
}

#[test]
fn addresses_are_parsed_as_intended() {
    assert_eq!(
        addresses("amqp://judge:secret@rabbitmq:5672/%2f"),
        [("rabbitmq".to_string(), 5672)]
    );
    assert_eq!(
        addresses("http://loki:3100/otlp"),
        [("loki".to_string(), 3100)]
    );
    assert_eq!(addresses("tempo:4317"), [("tempo".to_string(), 4317)]);
    assert_eq!(addresses("0.0.0.0:4317"), [("0.0.0.0".to_string(), 4317)]);
    assert_eq!(
        addresses("--server.http.listen-addr=0.0.0.0:12345"),
        [("0.0.0.0".to_string(), 12345)]
    );
    assert_eq!(
        addresses("exec 3<>/dev/tcp/127.0.0.1/8080 && printf x"),
        [("127.0.0.1".to_string(), 8080)]
    );
    assert!(addresses("unix:///var/run/docker.sock").is_empty());
    assert!(addresses("grafana/tempo:3.0.3").is_empty());
    assert!(addresses("./collector-config/tempo.yaml:/etc/tempo.yaml:ro").is_empty());
}

#[test]
fn every_address_is_a_compose_service_and_a_port_it_listens_on() {
    let stack = &*STACK;
    // Addresses meant for the user's browser: the host side of a published port.
    const BROWSER_URLS: [&str; 2] = ["GRAFANA_URL", "GF_SERVER_ROOT_URL"];
    let mut checked = 0;
    let mut check = |owner: &str, origin: &str, host: &str, port: u16| {
        let listens = |service: &str| stack.listens(service);
        match host {
            "0.0.0.0" | "" | "[::]" | "::" | "localhost" | "127.0.0.1" => assert!(
                listens(owner).contains(&port),
                "{origin}: {owner} uses its own port {port}, which it does not expose"
            ),
            _ => {
                assert!(
                    stack.services().contains_key(host),
                    "{origin}: {host}:{port} is not a compose service"
                );
                assert!(
                    listens(host).contains(&port),
                    "{origin}: {host} does not listen on {port} (its ports: {:?})",
                    listens(host)
                );
            }
        }
        checked += 1;
    };

    // The services' own settings.
    for name in stack.services().keys() {
        for (key, value) in stack.environment(name) {
            for (host, port) in addresses(&value) {
                if BROWSER_URLS.contains(&key.as_str()) {
                    assert!(
                        matches!(host.as_str(), "localhost" | "127.0.0.1"),
                        "{name} {key}: {value}"
                    );
                    assert!(
                        stack.published("grafana").iter().any(|p| p.0 == port),
                        "{name} {key}={value}: Grafana is not published on port {port}"
                    );
                } else {
                    check(name, &format!("{name} {key}"), &host, port);
                }
            }
        }
        for key in ["command", "healthcheck"] {
            let mut strings = Vec::new();
            if let Some(v) = stack.service(name).get(key) {
                walk_strings(v, key, &mut strings);
            }
            for (_, s) in strings {
                for (host, port) in addresses(&stack.expand(s)) {
                    check(name, &format!("{name} {key}"), &host, port);
                }
            }
        }
    }

    // The configuration files, each on behalf of the service that reads it.
    for rel in files_under("collector-config") {
        let (owner, _) = stack.owner(&rel).expect("mounted (checked elsewhere)");
        let tree = if rel.ends_with(".yaml") || rel.ends_with(".yml") {
            yaml(&rel)
        } else if rel.ends_with(".json") {
            json(&rel)
        } else if rel.ends_with(".alloy") {
            // Its string literals are where addresses live.
            let literals: Vec<Value> = alloy_code(&read(&rel))
                .split('"')
                .skip(1)
                .step_by(2)
                .map(|s| Value::String(s.to_string()))
                .collect();
            Value::Array(literals)
        } else {
            continue;
        };
        let mut strings = Vec::new();
        walk_strings(&tree, "", &mut strings);
        for (_, s) in strings {
            for (host, port) in addresses(s) {
                check(&owner, &rel, &host, port);
            }
        }
        // Listen ports given as numbers: `http_listen_port: 3200`, or `host:` + `port:`.
        let mut listen_ports = Vec::new();
        values_named(&tree, "http_listen_port", &mut listen_ports);
        for port in listen_ports {
            check(&owner, &rel, "0.0.0.0", port.as_u64().expect("port") as u16);
        }
        let mut hosts = Vec::new();
        values_named(&tree, "prometheus", &mut hosts);
        for h in hosts {
            if let (Some(host), Some(port)) = (
                h.get("host").and_then(Value::as_str),
                h.get("port").and_then(Value::as_u64),
            ) {
                check(&owner, &rel, host, port as u16);
            }
        }
    }
    assert!(checked >= 30, "only {checked} addresses found");
}

#[test]
fn collector_pipelines_use_exactly_the_defined_components() {
    let c = yaml(COLLECTOR);
    // Component types of contrib 0.159 (snake_case names since 0.144) that this stack may
    // use; another one must be checked against `otelcol-contrib components` first.
    let known: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("receivers", &["otlp", "prometheus"][..]),
        (
            "processors",
            &[
                "memory_limiter",
                "batch",
                "resource_detection",
                "transform",
                "filter",
                "attributes",
                "resource",
            ][..],
        ),
        (
            "exporters",
            &["otlp_grpc", "otlp_http", "debug", "prometheus_remote_write"][..],
        ),
        (
            "connectors",
            &["forward", "span_metrics", "service_graph"][..],
        ),
        ("extensions", &["health_check", "pprof"][..]),
    ]);
    // Pre-0.144 names: still accepted by 0.159 but deprecated (`otlp` is deprecated as an
    // exporter only).
    let deprecated = [
        "otlphttp",
        "prometheusremotewrite",
        "spanmetrics",
        "servicegraph",
        "filelog",
        "resourcedetection",
    ];

    let mut defined: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (section, types) in &known {
        let names: BTreeSet<String> = c
            .get(*section)
            .map(|s| object(s, section).keys().cloned().collect())
            .unwrap_or_default();
        for name in &names {
            let ty = name.split('/').next().unwrap_or("");
            assert!(
                !deprecated.contains(&ty),
                "{section}.{name}: deprecated name, use the snake_case one"
            );
            assert!(
                types.contains(&ty),
                "{section}.{name}: type {ty} is not a known {section} type"
            );
        }
        defined.insert(section, names);
    }
    assert!(
        !defined["exporters"]
            .iter()
            .any(|n| n == "otlp" || n.starts_with("otlp/")),
        "the otlp exporter is now otlp_grpc"
    );

    let pipelines = object(at(&c, &["service", "pipelines"]), "pipelines");
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut connectors_out = BTreeSet::new();
    let mut connectors_in = BTreeSet::new();
    let mut signals = BTreeSet::new();
    for (name, p) in pipelines {
        let signal = name.split('/').next().unwrap_or("");
        assert!(
            ["traces", "metrics", "logs"].contains(&signal),
            "pipeline {name}: unknown signal"
        );
        signals.insert(signal);
        let list = |key: &str| {
            p.get(key)
                .map(|v| strings_in(v, &format!("{name}.{key}")))
                .unwrap_or_default()
        };
        let (receivers, processors, exporters) =
            (list("receivers"), list("processors"), list("exporters"));
        assert!(
            !receivers.is_empty() && !exporters.is_empty(),
            "pipeline {name} needs receivers and exporters"
        );
        assert_eq!(
            processors.first().map(String::as_str),
            Some("memory_limiter"),
            "pipeline {name}: memory_limiter must come first"
        );
        for r in receivers {
            if defined["connectors"].contains(&r) {
                connectors_in.insert(r);
            } else {
                assert!(
                    defined["receivers"].contains(&r),
                    "pipeline {name}: receiver {r} is not defined"
                );
                used.entry("receivers").or_default().insert(r);
            }
        }
        for x in processors {
            assert!(
                defined["processors"].contains(&x),
                "pipeline {name}: processor {x} is not defined"
            );
            used.entry("processors").or_default().insert(x);
        }
        for e in exporters {
            if defined["connectors"].contains(&e) {
                connectors_out.insert(e);
            } else {
                assert!(
                    defined["exporters"].contains(&e),
                    "pipeline {name}: exporter {e} is not defined"
                );
                used.entry("exporters").or_default().insert(e);
            }
        }
    }
    assert_eq!(
        signals,
        BTreeSet::from(["traces", "metrics", "logs"]),
        "a pipeline per signal"
    );
    for section in ["receivers", "processors", "exporters"] {
        assert_eq!(
            used.get(section).cloned().unwrap_or_default(),
            defined[section],
            "every defined {section} entry is used by a pipeline, and only those"
        );
    }
    assert_eq!(
        connectors_in, defined["connectors"],
        "each connector must feed a pipeline"
    );
    assert_eq!(
        connectors_out, defined["connectors"],
        "each connector must be fed by a pipeline"
    );
    let extensions: BTreeSet<String> = c
        .get("service")
        .and_then(|s| s.get("extensions"))
        .map(|e| strings_in(e, "service.extensions").into_iter().collect())
        .unwrap_or_default();
    assert_eq!(
        extensions, defined["extensions"],
        "service.extensions must list exactly the defined extensions"
    );
}

#[test]
fn datasource_uids_used_anywhere_exist() {
    let ds = yaml(DATASOURCES);
    let list = at(&ds, &["datasources"])
        .as_array()
        .expect("datasources list");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for d in list {
        let uid = str_at(d, &["uid"]).to_string();
        assert!(
            names.insert(str_at(d, &["name"]).to_string()),
            "duplicate datasource name"
        );
        assert!(
            types
                .insert(uid.clone(), str_at(d, &["type"]).to_string())
                .is_none(),
            "duplicate datasource uid {uid}"
        );
    }
    // client-api's trace_url opens Explore on the Tempo datasource by uid `tempo`.
    for (uid, ty) in [
        ("tempo", "tempo"),
        ("loki", "loki"),
        ("prometheus", "prometheus"),
    ] {
        assert_eq!(
            types.get(uid).map(String::as_str),
            Some(ty),
            "datasource uid {uid} must be a {ty}"
        );
    }
    assert!(
        read("client-api/src/state.rs").contains(r#""uid": "tempo""#),
        "client-api's trace_url no longer names the Tempo datasource uid `tempo`"
    );

    // The links between datasources.
    let mut links = Vec::new();
    values_named(&ds, "datasourceUid", &mut links);
    assert!(links.len() >= 6, "datasource links missing: {links:?}");
    for l in &links {
        let uid = l.as_str().expect("datasourceUid is a string");
        assert!(
            types.contains_key(uid),
            "a datasource links to unknown uid {uid}"
        );
    }
    let by_uid = |uid: &str| {
        list.iter()
            .find(|d| str_at(d, &["uid"]) == uid)
            .expect("datasource")
    };
    let tempo = at(by_uid("tempo"), &["jsonData"]);
    assert_eq!(str_at(tempo, &["tracesToLogsV2", "datasourceUid"]), "loki");
    assert_eq!(
        str_at(tempo, &["serviceMap", "datasourceUid"]),
        "prometheus"
    );
    let loki = at(by_uid("loki"), &["jsonData"]);
    assert!(
        at(loki, &["derivedFields"])
            .as_array()
            .expect("derivedFields")
            .iter()
            .any(|f| {
                f.get("matcherType").and_then(Value::as_str) == Some("label")
                    && f.get("matcherRegex").and_then(Value::as_str) == Some("trace_id")
                    && f.get("datasourceUid").and_then(Value::as_str) == Some("tempo")
            }),
        "Loki needs a derived field on the trace_id structured metadata, linking to Tempo"
    );
    let prometheus = at(by_uid("prometheus"), &["jsonData"]);
    let exemplar_labels: BTreeSet<&str> = at(prometheus, &["exemplarTraceIdDestinations"])
        .as_array()
        .expect("exemplarTraceIdDestinations")
        .iter()
        .filter(|d| d.get("datasourceUid").and_then(Value::as_str) == Some("tempo"))
        .map(|d| str_at(d, &["name"]))
        .collect();
    // Only Tempo's metrics-generator produces exemplars (label `traceID`); the services'
    // Rust SDK emits none, so a `trace_id` destination could never match anything.
    assert_eq!(
        exemplar_labels,
        BTreeSet::from(["traceID"]),
        "exemplar destinations name a label some producer emits"
    );

    // Every datasource reference in the dashboard.
    let dashboard = json(DASHBOARD);
    let mut refs = Vec::new();
    values_named(&dashboard, "datasource", &mut refs);
    let mut checked = 0;
    for r in refs {
        let uid = r
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("datasource reference without uid: {r}"));
        if uid == "-- Grafana --" {
            continue;
        }
        let ty = str_at(r, &["type"]);
        assert_eq!(
            types.get(uid).map(String::as_str),
            Some(ty),
            "dashboard refers to datasource {uid} ({ty})"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} datasource references in the dashboard"
    );
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
fn query_readers_find_what_they_should() {
    assert_eq!(
        promql_metrics(
            r#"histogram_quantile(0.95, sum by (le, span_name) (rate(traces_spanmetrics_latency_bucket{service=~"a|b"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["traces_spanmetrics_latency_bucket".to_string()])
    );
    assert_eq!(
        promql_metrics(
            r#"label_replace(sum(rate(a_total[5m])) / sum(rate(b_count{x="y"}[5m])), "stage", "q", "", "") or c"#
        ),
        BTreeSet::from([
            "a_total".to_string(),
            "b_count".to_string(),
            "c".to_string()
        ])
    );
    assert_eq!(
        wanted_values(
            r#"{ span:name = "judge.run" && resource.service.name =~ "client-api|judge-worker" }"#,
            &SPAN_NAME_KEYS
        ),
        [("span:name".to_string(), "judge.run".to_string())]
    );
    assert_eq!(
        wanted_values(
            r#"{service_name=~"client-api|judge\\.worker"} | severity_text="ERROR""#,
            &SERVICE_KEYS
        ),
        [
            ("service_name".to_string(), "client-api".to_string()),
            ("service_name".to_string(), "judge.worker".to_string())
        ]
    );
    assert!(
        wanted_values(
            r#"x{span_name="${__span.name}", service!="z"}"#,
            &SPAN_NAME_KEYS
        )
        .is_empty()
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
                                .is_some_and(|q| q.contains("trace:duration"))
                    }))),
        "no TraceQL table of slow traces"
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

#[test]
fn backends_are_configured_for_this_pipeline() {
    let stack = &*STACK;

    // Tempo 3: span metrics and service graph with the services' buckets, queue hops
    // measured, edges kept long enough, exemplars on.
    let tempo = yaml(TEMPO);
    for removed in ["ingester", "compactor"] {
        assert!(
            tempo.get(removed).is_none(),
            "{TEMPO}: `{removed}` is Tempo 2 config; 3.0 refuses to start"
        );
    }
    let (mut blocks, mut strings) = (Vec::new(), Vec::new());
    values_named(&tempo, "local_blocks", &mut blocks);
    walk_strings(&tempo, "", &mut strings);
    assert!(
        blocks.is_empty() && !strings.iter().any(|(_, s)| *s == "local-blocks"),
        "{TEMPO}: Tempo 3 has no local-blocks processor"
    );
    let processor = at(&tempo, &["metrics_generator", "processor"]);
    for p in ["service_graphs", "span_metrics"] {
        let buckets: Vec<f64> = at(processor, &[p, "histogram_buckets"])
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b.as_f64().expect("bucket"))
            .collect();
        assert_eq!(
            buckets, DURATION_BUCKETS_SECONDS,
            "{TEMPO}: {p} buckets must be the services' buckets"
        );
    }
    let longest = DURATION_BUCKETS_SECONDS[DURATION_BUCKETS_SECONDS.len() - 1];
    assert!(longest >= 60.0, "buckets must reach minutes");
    let wait = duration_seconds(str_at(processor, &["service_graphs", "wait"]));
    assert!(
        wait > longest,
        "{TEMPO}: service graph wait {wait}s must exceed the longest queue wait ({longest}s)"
    );
    assert_eq!(
        at(
            processor,
            &[
                "service_graphs",
                "enable_messaging_system_latency_histogram"
            ]
        ),
        &Value::Bool(true)
    );
    let enabled = strings_in(
        at(
            &tempo,
            &["overrides", "defaults", "metrics_generator", "processors"],
        ),
        "processors",
    );
    assert_eq!(
        str_at(
            &tempo,
            &[
                "overrides",
                "defaults",
                "metrics_generator",
                "generate_native_histograms"
            ]
        ),
        "classic",
        "{TEMPO}: the dashboard reads classic _bucket series"
    );
    assert!(
        enabled.contains(&"service-graphs".to_string())
            && enabled.contains(&"span-metrics".to_string())
    );
    let remote_write = &at(&tempo, &["metrics_generator", "storage", "remote_write"])[0];
    assert_eq!(
        str_at(remote_write, &["url"]),
        "http://prometheus:9090/api/v1/write"
    );
    assert_eq!(at(remote_write, &["send_exemplars"]), &Value::Bool(true));

    // Prometheus: the receivers and exemplar storage the stack relies on, and the OTLP name
    // translation this test applies.
    let flags = strings_in(
        stack.setting("prometheus", "command").expect("command"),
        "command",
    );
    for flag in [
        "--web.enable-remote-write-receiver",
        "--web.enable-otlp-receiver",
        "--enable-feature=exemplar-storage",
        "--storage.tsdb.path=/prometheus",
    ] {
        assert!(flags.iter().any(|f| f == flag), "prometheus needs {flag}");
    }
    let prometheus = yaml(PROMETHEUS);
    assert_eq!(
        str_at(&prometheus, &["otlp", "translation_strategy"]),
        "UnderscoreEscapingWithSuffixes"
    );
    let rabbitmq_job = at(&prometheus, &["scrape_configs"])
        .as_array()
        .expect("scrape_configs")
        .iter()
        .find(|j| str_at(j, &["job_name"]) == "rabbitmq")
        .expect("a rabbitmq scrape job");
    assert_eq!(
        str_at(rabbitmq_job, &["metrics_path"]),
        "/metrics/per-object",
        "per-queue series"
    );

    // The Collector: metrics reach Prometheus through its OTLP receiver (where the
    // translation above applies), logs reach Loki's OTLP endpoint at its base path.
    let collector = yaml(COLLECTOR);
    let metrics_exporters = strings_in(
        at(
            &collector,
            &["service", "pipelines", "metrics", "exporters"],
        ),
        "exporters",
    );
    for e in &metrics_exporters {
        assert!(
            e.starts_with("otlp_http/"),
            "metrics go to Prometheus over OTLP, not {e}"
        );
        assert_eq!(
            str_at(at(&collector, &["exporters"]), &[e.as_str(), "endpoint"]),
            "http://prometheus:9090/api/v1/otlp"
        );
    }
    for e in strings_in(
        at(&collector, &["service", "pipelines", "logs", "exporters"]),
        "exporters",
    ) {
        let endpoint = str_at(at(&collector, &["exporters"]), &[e.as_str(), "endpoint"]);
        assert!(
            endpoint.ends_with("/otlp"),
            "{e}: the exporter appends /v1/logs itself; {endpoint}"
        );
    }

    // Loki: schema v13 on tsdb with structured metadata, where trace_id lives.
    let loki = yaml(LOKI);
    let schema = &at(&loki, &["schema_config", "configs"])[0];
    assert_eq!(str_at(schema, &["schema"]), "v13");
    assert_eq!(str_at(schema, &["store"]), "tsdb");
    assert_eq!(
        at(&loki, &["limits_config", "allow_structured_metadata"]),
        &Value::Bool(true)
    );
}

#[test]
fn worker_privileges_are_exactly_what_the_sandbox_needs() {
    let stack = &*STACK;
    // The capabilities the isolated sandbox documents as its needs, in the section "What a
    // worker container needs" of sandbox/src/namespaces/mod.rs.
    let doc = read("sandbox/src/namespaces/mod.rs");
    let section: String = doc
        .lines()
        .skip_while(|l| !l.contains("# What a worker container needs"))
        .skip(1)
        .take_while(|l| l.starts_with("//!") && !l.starts_with("//! #"))
        .collect::<Vec<_>>()
        .join(" ");
    let needed: BTreeSet<String> = section
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter_map(|w| w.strip_prefix("CAP_"))
        .map(str::to_string)
        .collect();
    assert!(
        needed.len() >= 5,
        "the sandbox's list of needs was not found: {needed:?}"
    );

    let isolated = stack.service("judge-worker");
    assert_eq!(stack.environment("judge-worker")["SANDBOX"], "namespaces");
    let granted: BTreeSet<String> = strings_in(at(isolated, &["cap_add"]), "cap_add")
        .into_iter()
        .collect();
    assert_eq!(
        granted, needed,
        "judge-worker's cap_add must be what the sandbox documents"
    );
    assert_eq!(strings_in(at(isolated, &["cap_drop"]), "cap_drop"), ["ALL"]);
    let options = strings_in(at(isolated, &["security_opt"]), "security_opt");
    for option in ["seccomp=unconfined", "apparmor=unconfined"] {
        assert!(
            options.iter().any(|o| o == option),
            "judge-worker needs {option}"
        );
    }
    assert!(!options.iter().any(|o| o.starts_with("privileged")));
    assert!(
        isolated.get("privileged").is_none(),
        "name each privilege, never --privileged"
    );
    assert_eq!(str_at(isolated, &["cgroup"]), "private");
    // Each capability is explained where it is granted.
    let compose = read(COMPOSE);
    for cap in &granted {
        assert!(
            compose
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("- {cap} ")) && l.contains(" # ")),
            "{COMPOSE}: say why judge-worker needs {cap}, in a comment on its line"
        );
    }

    // The plain sandbox isolates nothing, so its worker holds no privilege at all.
    let plain = stack.service("judge-worker-plain");
    assert_eq!(stack.environment("judge-worker-plain")["SANDBOX"], "plain");
    assert!(
        plain.get("cap_add").is_none(),
        "the plain worker gets no capability"
    );
    assert_eq!(strings_in(at(plain, &["cap_drop"]), "cap_drop"), ["ALL"]);
    assert_ne!(
        str_at(plain, &["user"]).split(':').next(),
        Some("0"),
        "the plain worker is not root"
    );
    assert_eq!(at(plain, &["read_only"]), &Value::Bool(true));
    let profiles = strings_in(at(plain, &["profiles"]), "profiles");
    assert!(
        !profiles.is_empty(),
        "the plain worker must not start by default"
    );
}
