//! The stack's files as data: where they are, YAML (with compose's `<<` merges applied) and
//! JSON read into `serde_json::Value`, and accessors that fail with the path of what is
//! missing, so a test's assertion reads as the fact it checks rather than as tree walking.

use serde_json::Value;
use std::path::{Path, PathBuf};

pub const COMPOSE: &str = "docker-compose.yml";
pub const ENV_FILE: &str = ".env";
pub const DASHBOARD: &str = "collector-config/grafana/dashboards/grading-pipeline.json";
pub const DATASOURCES: &str = "collector-config/grafana/provisioning/datasources/datasources.yaml";
pub const DASHBOARD_PROVIDERS: &str =
    "collector-config/grafana/provisioning/dashboards/dashboards.yaml";
pub const ALERT_RULES: &str = "collector-config/grafana/provisioning/alerting/alert-rules.yaml";
pub const COLLECTOR: &str = "collector-config/otel-collector.yaml";
pub const TEMPO: &str = "collector-config/tempo.yaml";
pub const LOKI: &str = "collector-config/loki.yaml";
pub const PROMETHEUS: &str = "collector-config/prometheus.yml";
pub const ALLOY: &str = "collector-config/alloy/config.alloy";
/// The kustomize component deploy/k8s takes Grafana's files from; no compose service reads it.
pub const K8S_COMPONENT: &str = "collector-config/kustomization.yaml";

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// A file of the repository, by its path relative to the root.
pub fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A YAML file as JSON values, with `<<` merge keys applied as compose applies them.
pub fn yaml(rel: &str) -> Value {
    parse_yaml(&read(rel), rel)
}

/// YAML text as JSON values, merges applied; `what` names it in a failure.
pub fn parse_yaml(text: &str, what: &str) -> Value {
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"));
    doc.apply_merge()
        .unwrap_or_else(|e| panic!("{what}: bad merge key: {e}"));
    serde_json::to_value(doc).unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// `value[a][b]...`, failing with the path when something is missing.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    let mut v = value;
    for (i, key) in path.iter().enumerate() {
        v = v
            .get(key)
            .unwrap_or_else(|| panic!("missing `{}`", path[..=i].join(".")));
    }
    v
}

pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{}` is not a string", path.join(".")))
}

pub fn object<'a>(value: &'a Value, what: &str) -> &'a serde_json::Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

pub fn strings_in(value: &Value, what: &str) -> Vec<String> {
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
pub fn walk_strings<'a>(value: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(s) => out.push((key, s)),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, key, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| walk_strings(v, k, out)),
        _ => {}
    }
}

/// Every value under a key named `name`, anywhere in the tree.
pub fn values_named<'a>(value: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
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
pub fn files_under(dir: &str) -> Vec<String> {
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

/// `5s`, `10m`, `250ms`, `72h` in seconds (`-1m` is -60).
pub fn duration_seconds(s: &str) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_are_read_in_seconds() {
        assert_eq!(duration_seconds("250ms"), 0.25);
        assert_eq!(duration_seconds("5s"), 5.0);
        assert_eq!(duration_seconds("10m"), 600.0);
        assert_eq!(duration_seconds("72h"), 259_200.0);
        assert_eq!(duration_seconds("-1m"), -60.0);
        assert_eq!(duration_seconds("1.5s"), 1.5);
    }

    #[test]
    #[should_panic(expected = "unknown unit")]
    fn a_duration_in_days_is_refused() {
        duration_seconds("7d");
    }

    #[test]
    #[should_panic(expected = "has no number")]
    fn a_duration_without_a_number_is_refused() {
        duration_seconds("m");
    }

    #[test]
    fn yaml_merge_keys_are_applied() {
        let v = parse_yaml(
            "x-base: &base\n  a: 1\n  b: 2\nservice:\n  <<: *base\n  b: 3\n",
            "test",
        );
        assert_eq!(v["service"], json!({"a": 1, "b": 3}));
    }

    #[test]
    fn accessors_follow_a_path() {
        let v = json!({"a": {"s": "x", "n": 1, "list": ["p", "q"]}});
        assert_eq!(at(&v, &["a", "n"]), &json!(1));
        assert_eq!(str_at(&v, &["a", "s"]), "x");
        assert_eq!(strings_in(at(&v, &["a", "list"]), "list"), ["p", "q"]);
        assert_eq!(object(&v, "root").len(), 1);
    }

    #[test]
    #[should_panic(expected = "`a.n` is not a string")]
    fn a_number_is_not_a_string() {
        str_at(&json!({"a": {"n": 1}}), &["a", "n"]);
    }

    #[test]
    fn strings_and_named_values_are_found_anywhere() {
        let v = json!({"a": {"b": ["x", {"c": "y"}], "n": 1}, "c": {"c": "z"}});
        let mut strings = Vec::new();
        walk_strings(&v, "", &mut strings);
        assert_eq!(strings, [("b", "x"), ("c", "y"), ("c", "z")]);
        let mut named = Vec::new();
        values_named(&v, "c", &mut named);
        assert_eq!(named, [&json!("y"), &json!({"c": "z"}), &json!("z")]);
    }

    #[test]
    #[should_panic(expected = "missing `a.x`")]
    fn a_missing_key_is_named_by_its_path() {
        at(&json!({"a": {}}), &["a", "x"]);
    }
}
