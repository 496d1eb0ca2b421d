//! The stack's files on their own terms: every config file parses and says what it is for,
//! is mounted into the service that reads it, images are pinned, compose's settings are
//! complete and consistent (and docker-compose.yml is valid by the compose spec), every
//! address names a service and a port it serves, the Collector's pipelines use exactly what
//! they define, the backends are configured for this pipeline, and the dashboard has what
//! Grafana needs to load it. Nothing here starts a container: these checks run in CI, where
//! there is no Docker.

use e2e_tests::stack::compose::{STACK, addresses, assert_valid_compose_file, interpolate};
use e2e_tests::stack::files::{
    ALLOY, COLLECTOR, COMPOSE, DASHBOARD, DASHBOARD_PROVIDERS, K8S_COMPONENT, LOKI, PROMETHEUS,
    TEMPO, at, duration_seconds, files_under, json, object, read, repo, str_at, strings_in,
    values_named, walk_strings, yaml,
};
use e2e_tests::stack::grafana::{alloy_code, panels};
use e2e_tests::stack::query_text::{skip_group, skip_string};
use messaging::semconv::DURATION_BUCKETS_SECONDS;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
        if rel == K8S_COMPONENT {
            // Read by kustomize (deploy/k8s), not by a compose service: tests/tests/deploy_k8s.rs.
            continue;
        }
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
        if rel == K8S_COMPONENT {
            continue;
        }
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

/// docker-compose.yml by the compose specification's JSON schema, which check-jsonschema
/// bundles (`vendor.compose-spec`): a misspelt key or a value of the wrong shape, which the
/// checks above would not notice, is refused here as `docker compose` would refuse it.
#[test]
fn compose_file_validates_against_the_compose_spec() {
    assert_valid_compose_file(COMPOSE);
}

/// What Grafana needs to load the dashboard and run its queries.
///
/// Not a JSON Schema validation: Grafana publishes none for the classic dashboard JSON model
/// (schemaVersion 41) of the pinned Grafana 13.2. check-jsonschema bundles no Grafana schema;
/// on npm, `@grafana/schema` (13.2.x) and `@grafana/grafana-foundation-sdk` ship TypeScript
/// types generated from Grafana's CUE kinds, no JSON Schema; the JSON Schemas the foundation
/// SDK generates live only in its source repository, for Grafana up to 11.6 and `next`, and
/// reach this machine through no package registry. So the facts are asserted directly.
#[test]
fn dashboard_has_what_grafana_needs_to_load_it() {
    let dashboard = json(DASHBOARD);
    for key in ["uid", "title"] {
        assert!(
            dashboard
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "{DASHBOARD}: `{key}` must be a non-empty string"
        );
    }
    assert!(
        at(&dashboard, &["schemaVersion"]).is_u64(),
        "{DASHBOARD}: schemaVersion is a number"
    );
    assert!(
        dashboard.get("id").is_none_or(Value::is_null),
        "{DASHBOARD}: a provisioned dashboard has no database id"
    );

    let all_panels = panels(&dashboard);
    let mut ids = BTreeSet::new();
    for p in &all_panels {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("?");
        let id = p
            .get("id")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("panel {title:?} has no numeric id"));
        assert!(ids.insert(id), "panel id {id} used twice");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        assert!(!ty.is_empty(), "panel {title:?} has no type");
        let grid = p
            .get("gridPos")
            .unwrap_or_else(|| panic!("panel {title:?} has no gridPos"));
        let cell = |k: &str| {
            grid.get(k)
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("panel {title:?}: gridPos.{k} is not a whole number"))
        };
        let (x, w, h) = (cell("x"), cell("w"), cell("h"));
        cell("y");
        assert!(
            w >= 1 && h >= 1 && x + w <= 24,
            "panel {title:?}: gridPos {grid} is outside the 24-column grid"
        );
        if ty == "row" {
            assert!(
                p.get("targets").is_none(),
                "row {title:?} holds queries; rows only group panels"
            );
        } else {
            let mut ref_ids = BTreeSet::new();
            for t in p
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ref_id = t
                    .get("refId")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("panel {title:?}: a query without refId"));
                assert!(
                    ref_ids.insert(ref_id),
                    "panel {title:?}: refId {ref_id} used twice"
                );
            }
        }
    }
    assert!(all_panels.len() >= 20, "only {} panels", all_panels.len());

    // Datasources by uid (a bare string is a reference by name, which breaks when the name
    // changes), each with its type.
    let mut refs = Vec::new();
    values_named(&dashboard, "datasource", &mut refs);
    for r in &refs {
        assert!(
            r.get("uid").and_then(Value::as_str).is_some()
                && r.get("type").and_then(Value::as_str).is_some(),
            "{DASHBOARD}: datasource reference {r} must be an object with `type` and `uid`"
        );
    }
    assert!(
        refs.len() >= 20,
        "only {} datasource references",
        refs.len()
    );

    let mut names = BTreeSet::new();
    for v in at(&dashboard, &["templating", "list"])
        .as_array()
        .expect("templating.list")
    {
        let name = str_at(v, &["name"]);
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{DASHBOARD}: variable name {name:?} is not a word"
        );
        assert!(names.insert(name), "variable {name} defined twice");
        assert!(
            v.get("type").and_then(Value::as_str).is_some(),
            "variable {name} has no type"
        );
    }
}
