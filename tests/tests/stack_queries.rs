//! The queries Grafana runs and the links between its datasources: every datasource uid
//! used anywhere exists; every PromQL, TraceQL and LogQL query of the dashboard, of the
//! datasources' links and of the alert rules parses with the grammars Grafana's editors use
//! (after Grafana's variable substitution); and the datasources' settings mean what their
//! comments say: the time windows widen the way Grafana applies them, exemplar links name a
//! label some producer emits, and every derived field has logs it can match.

use e2e_tests::stack::compose::STACK;
use e2e_tests::stack::files::{
    ALERT_RULES, ALLOY, COLLECTOR, DASHBOARD, DATASOURCES, LOKI, TEMPO, at, json, read, str_at,
    strings_in, values_named, yaml,
};
use e2e_tests::stack::grafana::{
    alert_rule_queries, alloy_code, alloy_components, alloy_dropped_services, dashboard_queries,
    datasource_link_queries, datasource_types, time_shift_seconds, unescape_provisioning,
};
use e2e_tests::stack::grammar::{
    Language, Source, dashboard_variables, failures, global_variables, link_variables, parse_all,
    substitute,
};
use e2e_tests::stack::query_text::{Tok, skip_group, tokens};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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

/// Parses `sources` and fails with every query that does not parse; returns how many
/// queries of each language were checked.
fn assert_all_parse(what: &str, sources: &[Source]) -> BTreeMap<Language, usize> {
    let failed = failures(&parse_all(sources));
    assert!(
        failed.is_empty(),
        "{} of {what}'s {} queries do not parse with Grafana's grammars:\n{}",
        failed.len(),
        sources.len(),
        failed.join("\n")
    );
    let mut counts = BTreeMap::new();
    for s in sources {
        *counts.entry(s.language).or_insert(0) += 1;
    }
    counts
}

fn count(counts: &BTreeMap<Language, usize>, language: Language) -> usize {
    counts.get(&language).copied().unwrap_or(0)
}

/// The checker itself: queries Grafana's editors reject are reported, with the place, and
/// a variable left unsubstituted is a syntax error to the grammar (so substitution matters).
#[test]
fn the_grammars_reject_malformed_queries() {
    let source = |id: &str, language, query: &str| Source {
        id: id.to_string(),
        language,
        query: query.to_string(),
    };
    let parsed = parse_all(&[
        source(
            "good traceql",
            Language::TraceQL,
            "{ resource.service.name = \"a\" } | quantile_over_time(span:duration, 0.95)",
        ),
        source(
            "bare decimal",
            Language::TraceQL,
            "{ resource.service.name = \"a\" } | quantile_over_time(span:duration, .95)",
        ),
        source(
            "good promql",
            Language::PromQL,
            "sum by (le) (rate(x_bucket{a=~\"b|c\"}[1m]))",
        ),
        source("unclosed call", Language::PromQL, "sum(rate(x[5m])"),
        source(
            "unsubstituted",
            Language::PromQL,
            "sum(rate(x[$__rate_interval]))",
        ),
        source(
            "good logql",
            Language::LogQL,
            "{service_name=\"a\"} | trace_id=\"b\"",
        ),
        source("no selector", Language::LogQL, "| trace_id=\"b\""),
    ]);
    let verdicts: Vec<(&str, bool)> = parsed
        .iter()
        .map(|p| (p.source.id.as_str(), p.error.is_none()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("good traceql", true),
            ("bare decimal", false),
            ("good promql", true),
            ("unclosed call", false),
            ("unsubstituted", false),
            ("good logql", true),
            ("no selector", false),
        ]
    );
    assert!(
        parsed[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("<<HERE>>.95")),
        "the error points at the bad token: {:?}",
        parsed[1].error
    );
}

#[test]
fn every_dashboard_query_parses_with_grafanas_grammars() {
    let dashboard = json(DASHBOARD);
    let mut vars = global_variables();
    vars.extend(dashboard_variables(&dashboard));
    let mut per_panel: BTreeMap<String, usize> = BTreeMap::new();
    let sources: Vec<Source> = dashboard_queries(&dashboard)
        .into_iter()
        .map(|q| {
            let n = per_panel.entry(q.panel.clone()).or_insert(0);
            *n += 1;
            let id = format!("panel {:?}, query {n}", q.panel);
            Source {
                query: substitute(&q.text, &vars).unwrap_or_else(|e| panic!("{id}: {e}")),
                language: Language::of_datasource(&q.language),
                id,
            }
        })
        .collect();
    let counts = assert_all_parse(DASHBOARD, &sources);
    // What the dashboard holds today: an extractor that finds less has lost some.
    assert!(
        count(&counts, Language::PromQL) >= 42,
        "only {counts:?} queries"
    );
    assert!(
        count(&counts, Language::TraceQL) >= 2,
        "only {counts:?} queries"
    );
    assert!(
        count(&counts, Language::LogQL) >= 2,
        "only {counts:?} queries"
    );
}

#[test]
fn every_datasource_link_query_parses_with_grafanas_grammars() {
    let sources: Vec<Source> = datasource_link_queries(&yaml(DATASOURCES))
        .into_iter()
        .map(|q| {
            let mut vars = global_variables();
            vars.extend(link_variables(&q.tags));
            Source {
                query: substitute(&q.text, &vars).unwrap_or_else(|e| panic!("{}: {e}", q.origin)),
                language: Language::of_datasource(&q.language),
                id: q.origin,
            }
        })
        .collect();
    let counts = assert_all_parse(DATASOURCES, &sources);
    // tracesToMetrics' two queries and tracesToLogsV2's custom query.
    assert!(
        count(&counts, Language::PromQL) >= 2,
        "only {counts:?} queries"
    );
    assert!(
        count(&counts, Language::LogQL) >= 1,
        "only {counts:?} queries"
    );
}

#[test]
fn every_alert_rule_query_parses_with_grafanas_grammars() {
    let types = datasource_types(&yaml(DATASOURCES));
    let vars = global_variables();
    let sources: Vec<Source> = alert_rule_queries(&yaml(ALERT_RULES), &types)
        .into_iter()
        .map(|q| Source {
            query: substitute(&q.text, &vars).unwrap_or_else(|e| panic!("{}: {e}", q.panel)),
            language: Language::of_datasource(&q.language),
            id: q.panel,
        })
        .collect();
    let counts = assert_all_parse(ALERT_RULES, &sources);
    assert!(
        count(&counts, Language::PromQL) >= 7,
        "only {counts:?} queries"
    );
}

/// The provisioned datasources of one type.
fn datasources_of_type<'a>(ds: &'a Value, ty: &str) -> Vec<&'a Value> {
    let found: Vec<&Value> = at(ds, &["datasources"])
        .as_array()
        .expect("datasources list")
        .iter()
        .filter(|d| str_at(d, &["type"]) == ty)
        .collect();
    assert!(!found.is_empty(), "no {ty} datasource");
    found
}

/// Trace by id: with `timeShiftEnabled`, Grafana searches from (range start -
/// spanStartTimeShift) to (range end + spanEndTimeShift), so both shifts are positive to
/// widen the window (a negative start shift would narrow it).
#[test]
fn the_trace_by_id_window_is_widened_on_both_sides() {
    let ds = yaml(DATASOURCES);
    for tempo in datasources_of_type(&ds, "tempo") {
        let name = str_at(tempo, &["name"]);
        let query = at(tempo, &["jsonData", "traceQuery"]);
        assert_eq!(
            at(query, &["timeShiftEnabled"]),
            &Value::Bool(true),
            "{name}: traceQuery's shifts apply only with timeShiftEnabled"
        );
        for (key, side) in [
            ("spanStartTimeShift", "subtracted from the range's start"),
            ("spanEndTimeShift", "added to the range's end"),
        ] {
            let shift = time_shift_seconds(query.get(key));
            assert!(
                shift > 0.0,
                "{name}: traceQuery.{key} is {side}, so it must be positive to widen the \
                 window; it is {shift} s"
            );
        }
    }
}

/// "Logs for this span": Grafana adds the shifts to the span's start and end, so the start
/// shift is negative (or zero) and the end shift positive (or zero); the query filters by
/// the span's trace and span ids, which are structured metadata (filters after the stream
/// selector, not selector labels).
#[test]
fn span_logs_cover_the_span_and_filter_by_its_ids() {
    let ds = yaml(DATASOURCES);
    let types = datasource_types(&ds);
    for tempo in datasources_of_type(&ds, "tempo") {
        let name = str_at(tempo, &["name"]);
        let link = at(tempo, &["jsonData", "tracesToLogsV2"]);
        assert_eq!(
            types
                .get(str_at(link, &["datasourceUid"]))
                .map(String::as_str),
            Some("loki"),
            "{name}: tracesToLogsV2 links to a Loki datasource"
        );
        let start = time_shift_seconds(link.get("spanStartTimeShift"));
        let end = time_shift_seconds(link.get("spanEndTimeShift"));
        assert!(
            start <= 0.0,
            "{name}: tracesToLogsV2.spanStartTimeShift is added to the span's start; {start} s \
             starts the window after the span began"
        );
        assert!(
            end >= 0.0,
            "{name}: tracesToLogsV2.spanEndTimeShift is added to the span's end; {end} s ends \
             the window before the span ended"
        );
        for key in ["filterByTraceID", "filterBySpanID"] {
            assert_eq!(
                at(link, &[key]),
                &Value::Bool(true),
                "{name}: tracesToLogsV2.{key}"
            );
        }
        if link.get("customQuery") != Some(&Value::Bool(true)) {
            continue; // Grafana builds the query, with the filters above.
        }
        let query = unescape_provisioning(str_at(link, &["query"]));
        assert!(
            query.starts_with('{'),
            "{name}: the custom query starts with a stream selector: {query}"
        );
        let selector_end = skip_group(query.as_bytes(), 0);
        let (selector, pipeline) = query.split_at(selector_end);
        let filters = |label: &str, values: &[&str]| {
            tokens(pipeline).windows(3).any(|w| {
                matches!(
                    (&w[0], &w[1], &w[2]),
                    (Tok::Word(l), Tok::Op(op), Tok::Str(v))
                        if l == label && op == "=" && values.contains(&v.as_str())
                )
            })
        };
        assert!(
            filters("trace_id", &["${__trace.traceId}", "${__span.traceId}"]),
            "{name}: the custom query must filter trace_id=\"${{__trace.traceId}}\": {query}"
        );
        assert!(
            filters("span_id", &["${__span.spanId}"]),
            "{name}: the custom query must filter span_id=\"${{__span.spanId}}\": {query}"
        );
        for label in ["trace_id", "span_id"] {
            assert!(
                !tokens(selector).contains(&Tok::Word(label.to_string())),
                "{name}: {label} is structured metadata, not a stream label: filter it after \
                 the selector ({query})"
            );
        }
    }
}

/// An exemplar link opens the trace whose id an exemplar carries under the destination's
/// `name`; only labels some producer writes can ever match. The producers of exemplars here:
/// Tempo's metrics-generator, remote-writing with `send_exemplars` (label `traceID`); the
/// Collector's span_metrics connector would be another (label `trace_id`, through
/// Prometheus' OTLP receiver) but the stack has none; the services' Rust SDK emits none.
#[test]
fn exemplar_links_name_a_label_some_producer_emits() {
    let ds = yaml(DATASOURCES);
    let types = datasource_types(&ds);
    let tempo = yaml(TEMPO);
    let collector = yaml(COLLECTOR);
    let stores_exemplars = strings_in(
        STACK.setting("prometheus", "command").expect("command"),
        "command",
    )
    .iter()
    .any(|f| f == "--enable-feature=exemplar-storage");

    for prometheus in datasources_of_type(&ds, "prometheus") {
        let name = str_at(prometheus, &["name"]);
        let url = str_at(prometheus, &["url"]);
        let mut producers: BTreeMap<&str, &str> = BTreeMap::new();
        let generator_on = tempo
            .pointer("/overrides/defaults/metrics_generator/processors")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        let writes_exemplars_here = tempo
            .pointer("/metrics_generator/storage/remote_write")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|w| {
                w.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with(&format!("{url}/")))
                    && w.get("send_exemplars") == Some(&Value::Bool(true))
            });
        if generator_on && writes_exemplars_here && stores_exemplars {
            producers.insert("traceID", "Tempo's metrics-generator");
        }
        let mut connectors = Vec::new();
        values_named(&collector, "connectors", &mut connectors);
        for c in connectors.iter().filter_map(|c| c.as_object()).flatten() {
            if c.0.starts_with("span_metrics")
                && c.1.pointer("/exemplars/enabled") == Some(&Value::Bool(true))
            {
                producers.insert("trace_id", "the Collector's span_metrics connector");
            }
        }

        let destinations = at(prometheus, &["jsonData", "exemplarTraceIdDestinations"])
            .as_array()
            .expect("exemplarTraceIdDestinations");
        assert!(!destinations.is_empty(), "{name}: no exemplar links");
        for d in destinations {
            let label = str_at(d, &["name"]);
            assert!(
                producers.contains_key(label),
                "{name}: exemplar destination {label:?} names a label no producer in this \
                 stack emits (exemplars come from: {producers:?})"
            );
            let target = str_at(d, &["datasourceUid"]);
            assert_eq!(
                types.get(target).map(String::as_str),
                Some("tempo"),
                "{name}: exemplar destination {label:?} opens traces in a Tempo datasource"
            );
        }
    }
}

/// A derived field makes a link out of each log line it matches: a `label` field matches
/// structured metadata or a label by name, a `regex` field (Grafana's default) the line's
/// text. The services' logs arrive over OTLP, where Loki keeps the record's trace and span
/// ids as structured metadata (`trace_id`, `span_id`); the only log lines are those Alloy
/// ships from the other containers, which never carry this pipeline's trace ids. So a
/// regex field would match nothing unless Alloy shipped a service built here.
#[test]
fn every_derived_field_has_logs_it_can_match() {
    const OTLP_LOG_METADATA: [&str; 2] = ["trace_id", "span_id"];
    let ds = yaml(DATASOURCES);
    let types = datasource_types(&ds);
    let stack = &*STACK;

    // The OTLP logs reach Loki's OTLP endpoint, and Loki keeps structured metadata.
    let collector = yaml(COLLECTOR);
    let receivers = strings_in(
        at(&collector, &["service", "pipelines", "logs", "receivers"]),
        "receivers",
    );
    assert_eq!(
        receivers,
        ["otlp"],
        "the Collector's logs are the services' OTLP logs"
    );
    let endpoints: Vec<&str> = strings_in(
        at(&collector, &["service", "pipelines", "logs", "exporters"]),
        "exporters",
    )
    .iter()
    .map(|e| str_at(at(&collector, &["exporters"]), &[e.as_str(), "endpoint"]))
    .collect();
    assert_eq!(
        at(&yaml(LOKI), &["limits_config", "allow_structured_metadata"]),
        &Value::Bool(true)
    );

    // The log lines: Alloy's Docker containers of this project, less those it drops.
    let code = alloy_code(&read(ALLOY));
    let sources: BTreeSet<String> = alloy_components(&code)
        .into_iter()
        .filter(|c| c.starts_with("loki.source."))
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from(["loki.source.docker".to_string()]),
        "{ALLOY}: this test knows Alloy's Docker containers as the only line source; teach \
         it the others"
    );
    let dropped = alloy_dropped_services(&code);
    for d in &dropped {
        assert!(
            stack.services().contains_key(d),
            "{ALLOY} drops {d}, which is no compose service"
        );
    }
    let shipped: BTreeSet<&String> = stack
        .services()
        .keys()
        .filter(|s| !dropped.contains(*s))
        .collect();
    // Only the services built from this repository write this pipeline's trace ids.
    let lines_with_trace_ids: Vec<&&String> = shipped
        .iter()
        .filter(|s| stack.service(s).get("build").is_some())
        .collect();

    let mut label_fields = 0;
    for loki in datasources_of_type(&ds, "loki") {
        let name = str_at(loki, &["name"]);
        let url = str_at(loki, &["url"]);
        assert!(
            endpoints
                .iter()
                .any(|e| e.starts_with(url) && e.ends_with("/otlp")),
            "{name}: the Collector does not send the services' logs to {url}/otlp \
             (its log exporters: {endpoints:?})"
        );
        let fields = loki
            .pointer("/jsonData/derivedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for f in fields {
            let field = str_at(f, &["name"]);
            let matcher = str_at(f, &["matcherRegex"]);
            match f
                .get("matcherType")
                .and_then(Value::as_str)
                .unwrap_or("regex")
            {
                "label" => {
                    assert!(
                        OTLP_LOG_METADATA.contains(&matcher),
                        "{name}: derived field {field} matches {matcher:?}, which the services' \
                         OTLP logs do not carry (they carry {OTLP_LOG_METADATA:?})"
                    );
                    label_fields += 1;
                }
                "regex" => assert!(
                    !lines_with_trace_ids.is_empty(),
                    "{name}: derived field {field} searches log lines for {matcher:?}, but no \
                     line Loki receives carries a trace id: Alloy ships {shipped:?}, and the \
                     services' logs arrive over OTLP (use matcherType: label)"
                ),
                other => panic!("{name}: derived field {field}: unknown matcherType {other}"),
            }
            if let Some(target) = f.get("datasourceUid").and_then(Value::as_str) {
                assert!(
                    types.contains_key(target),
                    "{name}: derived field {field} links to unknown uid {target}"
                );
                assert_eq!(
                    unescape_provisioning(str_at(f, &["url"])),
                    "${__value.raw}",
                    "{name}: derived field {field}: an internal link's url is the query it \
                     runs, the matched value"
                );
            }
        }
    }
    assert!(label_fields >= 1, "no derived field on trace_id");
}
