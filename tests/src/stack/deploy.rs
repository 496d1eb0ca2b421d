//! Helpers of the deploy/ tests (deploy_two_host.rs, deploy_k8s.rs): which components a
//! Collector config uses and whether the pinned otelcol-contrib image has them, and the
//! `${env:VAR}` references a Collector config expands.

use super::files::{at, object, parse_yaml, read, strings_in, yaml};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The build manifest of otelcol-contrib 0.159.0 (the image compose pins), vendored.
pub const MANIFEST: &str = "tests/collector-components/otelcol-contrib-0.159.0.manifest.yaml";

/// Component type → the Go module it is built from (the type is the module's
/// `metadata.yaml` `type`). Every component a deploy/ config names must be listed here, and
/// its module must be in the pinned image's build manifest.
pub const COMPONENT_MODULES: [(&str, &str); 8] = [
    (
        "otlp",
        "go.opentelemetry.io/collector/receiver/otlpreceiver",
    ),
    (
        "prometheus",
        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver",
    ),
    (
        "memory_limiter",
        "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
    ),
    (
        "otlp_grpc",
        "go.opentelemetry.io/collector/exporter/otlpexporter",
    ),
    (
        "otlp_http",
        "go.opentelemetry.io/collector/exporter/otlphttpexporter",
    ),
    (
        "bearertokenauth",
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension",
    ),
    (
        "basicauth",
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/basicauthextension",
    ),
    (
        "health_check",
        "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
    ),
];

/// `type/name` → `type`, for each kind of component a Collector config defines, and the
/// pipelines' and extensions' references, which must name defined components.
pub fn collector_components(rel: &str) -> BTreeSet<String> {
    let config = yaml(rel);
    let mut types = BTreeSet::new();
    for kind in [
        "receivers",
        "processors",
        "exporters",
        "extensions",
        "connectors",
    ] {
        let Some(defined) = config.get(kind) else {
            continue;
        };
        let defined = object(defined, kind);
        for id in defined.keys() {
            types.insert(id.split('/').next().unwrap_or(id).to_string());
        }
        let mut referenced: Vec<String> = Vec::new();
        if kind == "extensions" {
            referenced.extend(strings_in(
                at(&config, &["service", "extensions"]),
                "service.extensions",
            ));
        } else if let Some(pipelines) = config.pointer("/service/pipelines") {
            for (name, p) in object(pipelines, "pipelines") {
                if let Some(list) = p.get(kind) {
                    referenced.extend(strings_in(list, name));
                }
            }
        }
        for r in &referenced {
            assert!(defined.contains_key(r), "{rel}: {kind} {r} is not defined");
        }
        for id in defined.keys() {
            assert!(
                referenced.contains(id),
                "{rel}: {kind} {id} is defined but used nowhere"
            );
        }
    }
    types
}

/// Every component type `rel` uses is built into the pinned image.
pub fn check_components_exist(rel: &str) {
    let manifest = parse_yaml(&read(MANIFEST), MANIFEST);
    let modules: BTreeSet<String> = ["receivers", "processors", "exporters", "extensions"]
        .iter()
        .flat_map(|k| {
            manifest
                .get(*k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| {
            let gomod = c.get("gomod")?.as_str()?;
            let (module, _version) = gomod.split_once(' ')?;
            Some(module.to_string())
        })
        .collect();
    assert!(
        modules.len() > 100,
        "the manifest lists {} modules",
        modules.len()
    );
    let table: BTreeMap<&str, &str> = COMPONENT_MODULES.into_iter().collect();
    for t in collector_components(rel) {
        let module = table
            .get(t.as_str())
            .unwrap_or_else(|| panic!("{rel}: component type {t} is unknown to this test"));
        assert!(
            modules.contains(*module),
            "{rel}: {t} ({module}) is not built into otelcol-contrib 0.159.0"
        );
    }
}

/// `${env:VAR}` references of a Collector config (outside its comments), which must all be
/// set in the container.
pub fn env_references(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let code = code.join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("${env:") {
        let tail = &rest[i + 6..];
        let end = tail.find('}').expect("closing brace of ${env:...}");
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}
