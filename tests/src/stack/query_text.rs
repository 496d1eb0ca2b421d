//! Token readers for PromQL, LogQL and TraceQL: the metric names a PromQL expression reads,
//! and the values a query's `label op "value"` matchers ask for. Only as much of each
//! language as these answers need; whether a query is well-formed is [`super::grammar`]'s
//! job, with the real grammars.

use std::collections::BTreeSet;

#[rustfmt::skip]
pub const PROMQL_FUNCTIONS: &[&str] = &[
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
pub const PROMQL_KEYWORDS: &[&str] = &[
    "and", "atan2", "bool", "by", "group_left", "group_right", "ignoring", "inf", "nan",
    "offset", "on", "or", "unless", "without",
];

/// Labels and attributes whose values are span names.
pub const SPAN_NAME_KEYS: [&str; 5] = [
    "span:name",
    "name",
    "trace:rootName",
    "rootName",
    "span_name",
];

/// Labels and attributes whose values are service names (or, for `job`, scrape jobs).
pub const SERVICE_KEYS: [&str; 9] = [
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

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Index just past the string literal starting at `i`.
pub fn skip_string(b: &[u8], mut i: usize) -> usize {
    let quote = b[i];
    i += 1;
    while i < b.len() && b[i] != quote {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Index just past the bracketed group starting at `i` (strings inside are skipped).
pub fn skip_group(b: &[u8], mut i: usize) -> usize {
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
pub fn promql_metrics(expr: &str) -> BTreeSet<String> {
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
pub enum Tok {
    Word(String),
    Str(String),
    Op(String),
    Other,
}

/// A lexer good enough for PromQL, LogQL and TraceQL matchers: words may hold `.` and `:`
/// (`span:name`, `resource.service.name`), strings are unescaped.
pub fn tokens(query: &str) -> Vec<Tok> {
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
pub fn wanted_values(query: &str, labels: &[&str]) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn promql_metrics_skip_keywords_label_lists_and_variables() {
        assert_eq!(
            promql_metrics(
                "sum(x) > 0 and on() sum(increase(y_total[10m])) == 0 or vector(0) offset 5m"
            ),
            BTreeSet::from(["x".to_string(), "y_total".to_string()])
        );
        assert_eq!(
            promql_metrics(r#"a / ignoring(le) group_left b{q="${queue_prefix}x"} * 1e3"#),
            BTreeSet::from(["a".to_string(), "b".to_string()])
        );
        assert!(promql_metrics(r#"sum(rate({__name__=~"x_.+"}[5m]))"#).is_empty());
    }

    #[test]
    #[should_panic(expected = "`histogram_quantil(` is not a PromQL function")]
    fn a_misspelt_function_fails() {
        promql_metrics("histogram_quantil(0.95, x)");
    }

    #[test]
    #[should_panic(expected = "unbalanced {")]
    fn an_unbalanced_selector_fails() {
        promql_metrics(r#"sum(rate(x{a="}"[5m]))"#);
    }

    #[test]
    fn tokens_read_words_strings_and_operators() {
        assert_eq!(
            tokens(r#"{ span:name != "a \"b\"" } | x=~`c\d` ${v} $w"#),
            [
                Tok::Other,
                Tok::Word("span:name".into()),
                Tok::Op("!=".into()),
                Tok::Str("a \"b\"".into()),
                Tok::Other,
                Tok::Op("|".into()),
                Tok::Word("x".into()),
                Tok::Op("=~".into()),
                Tok::Str(r"c\d".into()),
                Tok::Other,
                Tok::Other,
            ]
        );
    }

    #[test]
    fn regex_alternatives_count_only_when_literal() {
        assert_eq!(
            wanted_values(r#"{job=~"a|b.+|c[.]d|e"}"#, &SERVICE_KEYS),
            [
                ("job".to_string(), "a".to_string()),
                ("job".to_string(), "e".to_string())
            ]
        );
    }
}
