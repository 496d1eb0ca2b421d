//! The stack's queries parsed by the grammars Grafana's query editors use (the Lezer
//! grammars of PromQL, TraceQL and LogQL, npm packages in tests/stack-tools/), after the
//! variable substitution Grafana does before it sends a query, so the grammar sees what the
//! backend will see. The hand-written readers of [`super::query_text`] find names in a
//! query; only a real grammar can say that the query as a whole is well-formed.
//!
//! Needs Node.js (20 or later) and `npm ci --prefix tests/stack-tools`.

use super::files::{at, repo};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// The npm project holding the grammars and the script that runs them.
pub const STACK_TOOLS: &str = "tests/stack-tools";
const GRAMMARS: [&str; 3] = [
    "@prometheus-io/lezer-promql",
    "@grafana/lezer-traceql",
    "@grafana/lezer-logql",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Language {
    PromQL,
    TraceQL,
    LogQL,
}

impl Language {
    /// The name parse-queries.mjs knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Language::PromQL => "promql",
            Language::TraceQL => "traceql",
            Language::LogQL => "logql",
        }
    }

    /// The query language of a Grafana datasource type.
    pub fn of_datasource(datasource_type: &str) -> Language {
        match datasource_type {
            "prometheus" => Language::PromQL,
            "tempo" => Language::TraceQL,
            "loki" => Language::LogQL,
            other => panic!("no grammar for datasource type {other:?}"),
        }
    }
}

/// One query to parse: `id` says where it comes from.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub language: Language,
    pub query: String,
}

/// The grammar's verdict on one query: `None`, or where the first syntax error is.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub source: Source,
    pub error: Option<String>,
}

/// Parses every query with its language's grammar (one `node` process for all of them).
pub fn parse_all(sources: &[Source]) -> Vec<Parsed> {
    let tools = repo().join(STACK_TOOLS);
    for grammar in GRAMMARS {
        assert!(
            tools.join("node_modules").join(grammar).is_dir(),
            "the query grammars are not installed ({grammar} is missing from \
             {STACK_TOOLS}/node_modules): run `npm ci --prefix {STACK_TOOLS}`"
        );
    }
    let input = Value::Array(
        sources
            .iter()
            .map(|s| json!({"id": s.id, "language": s.language.name(), "query": s.query}))
            .collect(),
    );
    let mut child = Command::new("node")
        .arg(tools.join("parse-queries.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `node` ({e}): the grammar checks need Node.js 20 or later, and \
                 `npm ci --prefix {STACK_TOOLS}`"
            )
        });
    // The script reads all of stdin before it writes anything, so this cannot deadlock.
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.to_string().as_bytes())
        .expect("writing the queries to node");
    let output = child.wait_with_output().expect("waiting for node");
    assert!(
        output.status.success(),
        "{STACK_TOOLS}/parse-queries.mjs failed ({}); if a module is missing, run \
         `npm ci --prefix {STACK_TOOLS}`:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "parse-queries.mjs printed no JSON array ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(
        results.len(),
        sources.len(),
        "parse-queries.mjs answered for a different number of queries"
    );
    sources
        .iter()
        .zip(results)
        .map(|(source, result)| {
            assert_eq!(
                result.get("id").and_then(Value::as_str),
                Some(source.id.as_str()),
                "parse-queries.mjs answered out of order"
            );
            let ok = result.get("ok").and_then(Value::as_bool).unwrap_or(false);
            Parsed {
                source: source.clone(),
                error: (!ok).then(|| {
                    result
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("no error message")
                        .to_string()
                }),
            }
        })
        .collect()
}

/// The failures among `parsed`, one line each (empty when every query parsed).
pub fn failures(parsed: &[Parsed]) -> Vec<String> {
    parsed
        .iter()
        .filter_map(|p| {
            let error = p.error.as_ref()?;
            Some(format!(
                "{} ({}): {error}\n    query: {}",
                p.source.id,
                p.source.language.name(),
                p.source.query
            ))
        })
        .collect()
}

/// Values of template variables, by name (`__rate_interval`, `queue_prefix`,
/// `__span.name`: a field path is part of the name).
pub type Variables = BTreeMap<String, String>;

/// Grafana's global variables, with the values of a one-hour range at a one-minute interval.
pub fn global_variables() -> Variables {
    [
        ("__rate_interval", "1m"),
        ("__interval", "1m"),
        ("__interval_ms", "60000"),
        ("__auto", "1m"),
        ("__range", "1h"),
        ("__range_s", "3600"),
        ("__range_ms", "3600000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A dashboard's own variables (`templating.list`) with the value Grafana starts from: the
/// current one, or a textbox's or constant's query, or the first option.
pub fn dashboard_variables(dashboard: &Value) -> Variables {
    let mut vars = Variables::new();
    let Some(list) = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
    else {
        return vars;
    };
    for v in list {
        let name = at(v, &["name"])
            .as_str()
            .expect("a variable's name is a string");
        let text = |value: &Value| match value {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => items.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let value = v
            .pointer("/current/value")
            .and_then(text)
            .or_else(|| {
                matches!(
                    v.get("type").and_then(Value::as_str),
                    Some("textbox" | "constant")
                )
                .then(|| v.get("query").and_then(Value::as_str).map(str::to_string))
                .flatten()
            })
            .or_else(|| v.pointer("/options/0/value").and_then(text))
            .unwrap_or_else(|| panic!("dashboard variable {name} has no value to start from"));
        vars.insert(name.to_string(), value);
    }
    vars
}

/// Sample values of the span attributes a datasource link's `tags` may name.
const SPAN_ATTRIBUTES: [(&str, &str); 3] = [
    ("service.name", "client-api"),
    ("service.namespace", "grading-pipeline"),
    ("deployment.environment.name", "compose"),
];

/// The variables of a datasource link for a span (Tempo's tracesToLogsV2 and
/// tracesToMetrics, Loki's derived fields): `__tags` is the link's tags as matchers,
/// `label="value"` joined by `, ` (the attribute's sample value under the label it is
/// renamed to), the span's and trace's ids and name are plausible values.
pub fn link_variables(tags: &[(String, String)]) -> Variables {
    let matchers: Vec<String> = tags
        .iter()
        .map(|(attribute, label)| {
            let value = SPAN_ATTRIBUTES
                .iter()
                .find(|(a, _)| a == attribute)
                .unwrap_or_else(|| {
                    panic!("a link tag names span attribute {attribute}: add a sample value")
                })
                .1;
            format!("{label}=\"{value}\"")
        })
        .collect();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    [
        ("__tags", matchers.join(", ").as_str()),
        ("__span.name", "judge.run"),
        ("__span.spanId", "00f067aa0ba902b7"),
        ("__span.traceId", trace_id),
        ("__span.duration", "1200"),
        ("__trace.traceId", trace_id),
        ("__trace.duration", "5400"),
        ("__trace.name", "POST /api/v1/submissions"),
        ("__value.raw", trace_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Grafana's template substitution: `$name`, `${name}`, `${name.field}`, `${name:format}`
/// and `[[name]]` (names are `\w+`, as in Grafana's variable regex) take their value from
/// `vars`. Formats `raw`, `text`, `pipe`, `csv`, `glob` and `queryparam` leave a single value
/// as it is, `regex` escapes it, `doublequote`/`singlequote` quote it.
///
/// Grafana leaves a variable it does not know as it is; here that is an error, so a misspelt
/// variable, or a new one without a sample value, fails rather than reaching the grammar as
/// text it may happen to accept. Only all-digit names (`$1` in a regex replacement) pass
/// through untouched.
pub fn substitute(query: &str, vars: &Variables) -> Result<String, String> {
    let chars: Vec<char> = query.chars().collect();
    let (mut out, mut i) = (String::new(), 0);
    let lookup = |name: &str, format: Option<&str>| -> Result<String, String> {
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown variable `{name}` in {query:?}"))?;
        Ok(match format {
            None | Some("raw" | "text" | "pipe" | "csv" | "glob" | "queryparam") => value.clone(),
            Some("regex") => value
                .chars()
                .flat_map(|c| {
                    let escape = "\\^$.|?*+()[]{}/".contains(c);
                    escape.then_some('\\').into_iter().chain([c])
                })
                .collect(),
            Some("doublequote") => format!("\"{value}\""),
            Some("singlequote") => format!("'{value}'"),
            Some(other) => return Err(format!("unknown format `{other}` of `{name}`")),
        })
    };
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(2).collect();
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let close = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or_else(|| format!("unclosed ${{ in {query:?}"))?
                + i;
            let inner: String = chars[i + 2..close].iter().collect();
            let (name, format) = match inner.split_once(':') {
                Some((n, f)) => (n, Some(f)),
                None => (inner.as_str(), None),
            };
            out.push_str(&lookup(name, format)?);
            i = close + 1;
        } else if chars[i] == '$' && chars.get(i + 1).is_some_and(|&c| is_word(c)) {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| !is_word(c))
                .map_or(chars.len(), |p| p + i + 1);
            let name: String = chars[i + 1..end].iter().collect();
            if name.chars().all(|c| c.is_ascii_digit()) {
                out.push('$');
                out.push_str(&name);
            } else {
                out.push_str(&lookup(&name, None)?);
            }
            i = end;
        } else if rest == "[[" {
            let inner: String = chars[i + 2..].iter().take_while(|&&c| c != ']').collect();
            let (name, format) = match inner.split_once(':') {
                Some((n, f)) => (n, Some(f)),
                None => (inner.as_str(), None),
            };
            let end = i + 2 + inner.chars().count();
            if !name.is_empty()
                && name.chars().all(is_word)
                && chars.get(end) == Some(&']')
                && chars.get(end + 1) == Some(&']')
            {
                out.push_str(&lookup(name, format)?);
                i = end + 2;
            } else {
                out.push('[');
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variables_are_substituted_in_every_syntax() {
        let v = vars(&[
            ("__rate_interval", "1m"),
            ("queue_prefix", "dev."),
            ("__span.name", "judge.run"),
        ]);
        assert_eq!(
            substitute("rate(x[$__rate_interval])", &v).unwrap(),
            "rate(x[1m])"
        );
        assert_eq!(
            substitute(r#"x{queue="${queue_prefix}judge.dead"}"#, &v).unwrap(),
            r#"x{queue="dev.judge.dead"}"#
        );
        assert_eq!(
            substitute(r#"x{span_name="${__span.name}"}"#, &v).unwrap(),
            r#"x{span_name="judge.run"}"#
        );
        assert_eq!(
            substitute(r#"x{q=~"${queue_prefix:regex}.+"}"#, &v).unwrap(),
            r#"x{q=~"dev\..+"}"#
        );
        assert_eq!(
            substitute("x{q=${queue_prefix:doublequote}}[[__rate_interval]]", &v).unwrap(),
            r#"x{q="dev."}1m"#
        );
    }

    #[test]
    fn text_that_is_no_variable_is_left_alone() {
        let v = vars(&[]);
        for text in [
            r#"x{q=~"a$"} [5m] [[ ]] $ $1 $."#,
            r#"label_replace(x, "a", "$1", "b", "(.*)")"#,
            "sum(x[5m:1m])",
        ] {
            assert_eq!(substitute(text, &v).unwrap(), text);
        }
    }

    #[test]
    fn unknown_variables_and_formats_fail() {
        let v = vars(&[("a", "1")]);
        assert!(
            substitute("$b", &v)
                .unwrap_err()
                .contains("unknown variable `b`")
        );
        assert!(
            substitute("${a:lucene}", &v)
                .unwrap_err()
                .contains("unknown format `lucene`")
        );
        assert!(substitute("${a", &v).unwrap_err().contains("unclosed"));
        // `$a_b` is one name, as in Grafana.
        assert!(substitute("$a_b", &v).is_err());
    }

    #[test]
    fn link_tags_become_matchers() {
        let v = link_variables(&[
            ("service.name".to_string(), "service".to_string()),
            ("deployment.environment.name".to_string(), "env".to_string()),
        ]);
        assert_eq!(v["__tags"], r#"service="client-api", env="compose""#);
        assert_eq!(v["__trace.traceId"].len(), 32);
        assert_eq!(v["__span.spanId"].len(), 16);
        assert_eq!(
            substitute("{${__tags}} | span_id=\"${__span.spanId}\"", &v).unwrap(),
            r#"{service="client-api", env="compose"} | span_id="00f067aa0ba902b7""#
        );
    }

    #[test]
    fn dashboard_variables_start_from_their_current_value() {
        let dashboard = json!({"templating": {"list": [
            {"name": "a", "type": "textbox", "query": "q", "current": {"value": ""}},
            {"name": "b", "type": "textbox", "query": "q"},
            {"name": "c", "type": "custom", "options": [{"value": "1s"}, {"value": "5s"}]},
            {"name": "d", "type": "custom", "current": {"value": ["x", "y"]}}
        ]}});
        assert_eq!(
            dashboard_variables(&dashboard),
            vars(&[("a", ""), ("b", "q"), ("c", "1s"), ("d", "x")])
        );
        assert!(dashboard_variables(&json!({})).is_empty());
    }

    #[test]
    fn languages_follow_datasource_types() {
        assert_eq!(Language::of_datasource("prometheus"), Language::PromQL);
        assert_eq!(Language::of_datasource("tempo"), Language::TraceQL);
        assert_eq!(Language::of_datasource("loki"), Language::LogQL);
        assert_eq!(Language::LogQL.name(), "logql");
    }
}
