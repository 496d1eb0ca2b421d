//! Where the stack's queries live in Grafana's files: the dashboard's panels, the links
//! between datasources (datasources.yaml), and the alert rules (alert-rules.yaml); plus the
//! pieces of Alloy's config the log checks read. Each query is returned with where it came
//! from, so a failing check can say which panel, link or rule to fix.

use super::files::{at, str_at, values_named};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Panels, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in at(dashboard, &["panels"]).as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p.get("panels").and_then(Value::as_array) {
            out.extend(inner);
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Query {
    /// Where the query is: a panel's title, or an alert rule.
    pub panel: String,
    /// Datasource type: `prometheus`, `loki` or `tempo`.
    pub language: String,
    pub text: String,
}

pub fn dashboard_queries(dashboard: &Value) -> Vec<Query> {
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

/// A string of a Grafana provisioning file as Grafana holds it: provisioning expands
/// environment variables, so the files write a literal `$` as `$$`.
pub fn unescape_provisioning(s: &str) -> String {
    s.replace("$$", "$")
}

/// PromQL the datasources run for a span (tracesToMetrics), `$$` unescaped.
pub fn datasource_promql(datasources: &Value) -> Vec<String> {
    let mut found = Vec::new();
    values_named(datasources, "tracesToMetrics", &mut found);
    found
        .iter()
        .filter_map(|t| t.get("queries").and_then(Value::as_array))
        .flatten()
        .map(|q| unescape_provisioning(str_at(q, &["query"])))
        .collect()
}

/// The provisioned datasources' types by uid.
pub fn datasource_types(datasources: &Value) -> BTreeMap<String, String> {
    at(datasources, &["datasources"])
        .as_array()
        .expect("datasources list")
        .iter()
        .map(|d| {
            (
                str_at(d, &["uid"]).to_string(),
                str_at(d, &["type"]).to_string(),
            )
        })
        .collect()
}

/// A query one datasource runs on another for a span: "Logs for this span"
/// (tracesToLogsV2's custom query) and the span's metrics (tracesToMetrics).
#[derive(Debug, Clone)]
pub struct LinkQuery {
    /// `datasource uid.link: name`, for messages.
    pub origin: String,
    /// Type of the datasource the query runs on: `prometheus`, `loki` or `tempo`.
    pub language: String,
    /// As Grafana holds it (`$$` unescaped), variables not yet substituted.
    pub text: String,
    /// The link's `tags`: (span attribute, label it becomes), which make `$__tags`.
    pub tags: Vec<(String, String)>,
}

/// Every link query of the datasources: tracesToMetrics' `queries[].query` and
/// tracesToLogsV2's `query` (set when `customQuery` is; otherwise Grafana builds it).
pub fn datasource_link_queries(datasources: &Value) -> Vec<LinkQuery> {
    let types = datasource_types(datasources);
    let mut out = Vec::new();
    for d in at(datasources, &["datasources"])
        .as_array()
        .expect("datasources list")
    {
        let uid = str_at(d, &["uid"]);
        let Some(json_data) = d.get("jsonData") else {
            continue;
        };
        for link in ["tracesToMetrics", "tracesToLogsV2"] {
            let Some(config) = json_data.get(link) else {
                continue;
            };
            let target = str_at(config, &["datasourceUid"]);
            let language = types
                .get(target)
                .unwrap_or_else(|| panic!("{uid}.{link} links to unknown datasource {target}"))
                .clone();
            let tags = link_tags(config);
            let mut texts: Vec<(String, String)> = Vec::new();
            if let Some(queries) = config.get("queries").and_then(Value::as_array) {
                for q in queries {
                    let name = q.get("name").and_then(Value::as_str).unwrap_or("?");
                    texts.push((name.to_string(), str_at(q, &["query"]).to_string()));
                }
            }
            if let Some(q) = config.get("query").and_then(Value::as_str) {
                texts.push(("query".to_string(), q.to_string()));
            }
            for (name, text) in texts {
                out.push(LinkQuery {
                    origin: format!("datasource {uid}.{link}: {name}"),
                    language: language.clone(),
                    text: unescape_provisioning(&text),
                    tags: tags.clone(),
                });
            }
        }
    }
    out
}

/// A link's `tags`: (span attribute, the label it is renamed to; the attribute itself
/// when `value` is empty, as Grafana does).
pub fn link_tags(link: &Value) -> Vec<(String, String)> {
    let Some(tags) = link.get("tags").and_then(Value::as_array) else {
        return Vec::new();
    };
    tags.iter()
        .map(|t| {
            let key = str_at(t, &["key"]).to_string();
            let label = t
                .get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .unwrap_or(&key)
                .to_string();
            (key, label)
        })
        .collect()
}

/// The queries of Grafana-managed alert rules: each rule's `data[]` entry that reads a
/// datasource (`__expr__` entries are server-side expressions on those results). `types`
/// maps datasource uids to types; an unknown uid fails.
pub fn alert_rule_queries(rules: &Value, types: &BTreeMap<String, String>) -> Vec<Query> {
    let mut out = Vec::new();
    for group in at(rules, &["groups"]).as_array().expect("groups") {
        for rule in at(group, &["rules"]).as_array().expect("rules") {
            let uid = str_at(rule, &["uid"]);
            for data in at(rule, &["data"]).as_array().expect("data") {
                let ds = str_at(data, &["datasourceUid"]);
                if ds == "__expr__" {
                    continue;
                }
                let ref_id = str_at(data, &["refId"]);
                let language = types
                    .get(ds)
                    .unwrap_or_else(|| panic!("alert rule {uid}: unknown datasource uid {ds}"))
                    .clone();
                let key = if language == "tempo" { "query" } else { "expr" };
                out.push(Query {
                    panel: format!("alert rule {uid} ({ref_id})"),
                    text: unescape_provisioning(str_at(data, &["model", key])),
                    language,
                });
            }
        }
    }
    out
}

/// A Grafana time shift (`-1m`, `10m`) in seconds; an absent or empty one is no shift.
pub fn time_shift_seconds(shift: Option<&Value>) -> f64 {
    match shift {
        None | Some(Value::Null) => 0.0,
        Some(Value::String(s)) if s.is_empty() || s == "0" => 0.0,
        Some(Value::String(s)) => super::files::duration_seconds(s),
        Some(other) => panic!("time shift {other} is not a duration string"),
    }
}

/// An Alloy file without its comment lines (`//` also occurs inside `unix:///...`, so only
/// whole-line comments, the only kind these files use, are removed).
pub fn alloy_code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The components an Alloy config declares, as `kind.name "label"` (`loki.source.docker`).
pub fn alloy_components(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim_end();
            let head = l.strip_suffix('{')?.trim_end();
            let (kind, label) = head.split_once(' ')?;
            (kind.contains('.') && label.starts_with('"')).then(|| kind.to_string())
        })
        .collect()
}

/// The compose services an Alloy config drops from its Docker targets: the literal
/// alternatives of each `action = "drop"` rule on the compose service label.
pub fn alloy_dropped_services(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for block in code.split("rule {").skip(1) {
        let block = block.split('}').next().unwrap_or("");
        let setting = |key: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let on_service = setting("source_labels").is_some_and(|s| {
            s.contains("__meta_docker_container_label_com_docker_compose_service")
        });
        if on_service && setting("action").as_deref() == Some("drop") {
            let regex = setting("regex").expect("a drop rule has a regex");
            out.extend(regex.split('|').map(str::to_string));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provisioning_dollars_are_unescaped_once() {
        assert_eq!(
            unescape_provisioning(r#"{$${__tags}} | trace_id="$${__trace.traceId}""#),
            r#"{${__tags}} | trace_id="${__trace.traceId}""#
        );
        assert_eq!(unescape_provisioning("$$$$x $y"), "$$x $y");
    }

    #[test]
    fn link_queries_come_with_their_target_and_tags() {
        let ds = json!({"datasources": [
            {"uid": "p", "type": "prometheus"},
            {"uid": "l", "type": "loki"},
            {"uid": "t", "type": "tempo", "jsonData": {
                "tracesToMetrics": {"datasourceUid": "p",
                    "tags": [{"key": "service.name", "value": "service"}, {"key": "k8s.pod"}],
                    "queries": [{"name": "rate", "query": "rate(x{$$__tags}[5m])"}]},
                "tracesToLogsV2": {"datasourceUid": "l", "customQuery": true,
                    "query": "{$${__tags}}"}}}
        ]});
        let links = datasource_link_queries(&ds);
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].origin, "datasource t.tracesToMetrics: rate");
        assert_eq!(links[0].language, "prometheus");
        assert_eq!(links[0].text, "rate(x{$__tags}[5m])");
        assert_eq!(
            links[0].tags,
            [
                ("service.name".to_string(), "service".to_string()),
                ("k8s.pod".to_string(), "k8s.pod".to_string())
            ]
        );
        assert_eq!(links[1].language, "loki");
        assert_eq!(links[1].text, "{${__tags}}");
        assert!(links[1].tags.is_empty());
        assert_eq!(datasource_promql(&ds), ["rate(x{$__tags}[5m])"]);
    }

    #[test]
    fn alert_queries_skip_expressions() {
        let rules = json!({"groups": [{"rules": [{"uid": "r", "data": [
            {"refId": "A", "datasourceUid": "p", "model": {"expr": "up == 0"}},
            {"refId": "B", "datasourceUid": "__expr__", "model": {"type": "threshold"}}
        ]}]}]});
        let types = BTreeMap::from([("p".to_string(), "prometheus".to_string())]);
        let queries = alert_rule_queries(&rules, &types);
        assert_eq!(queries.len(), 1);
        assert_eq!(queries[0].panel, "alert rule r (A)");
        assert_eq!(queries[0].language, "prometheus");
        assert_eq!(queries[0].text, "up == 0");
    }

    #[test]
    fn time_shifts_are_signed_seconds() {
        assert_eq!(time_shift_seconds(None), 0.0);
        assert_eq!(time_shift_seconds(Some(&json!(""))), 0.0);
        assert_eq!(time_shift_seconds(Some(&json!("0"))), 0.0);
        assert_eq!(time_shift_seconds(Some(&json!("-1m"))), -60.0);
        assert_eq!(time_shift_seconds(Some(&json!("10m"))), 600.0);
    }

    #[test]
    fn alloy_components_and_drop_rules_are_read() {
        let code = alloy_code(
            r#"// a comment { with a brace
discovery.relabel "stack" {
  targets = discovery.docker.stack.targets

  rule {
    source_labels = ["__meta_docker_container_label_com_docker_compose_service"]
    regex         = "a|b-c"
    action        = "drop"
  }
  rule {
    source_labels = ["__meta_docker_container_name"]
    regex         = "x"
    action        = "drop"
  }
}
loki.source.docker "stack" {
  labels = { source = "docker" }
}
"#,
        );
        assert_eq!(
            alloy_components(&code),
            BTreeSet::from([
                "discovery.relabel".to_string(),
                "loki.source.docker".to_string()
            ])
        );
        assert_eq!(
            alloy_dropped_services(&code),
            BTreeSet::from(["a".to_string(), "b-c".to_string()])
        );
    }
}
