//! Rejudging: a submission judged again under its id, against its problem's current test
//! cases, with a trace of its own linked to the original, its earlier verdicts kept in its
//! history; a whole problem's submissions at once; results of a superseded judging dropped;
//! admin only. All against real processes, RabbitMQ, PostgreSQL and OTLP.

use e2e_tests::environment::publish_raw;
use e2e_tests::otlp_receiver::ReceivedSpan;
use e2e_tests::{PATIENCE, TestBed, TestBedOptions, binaries};
use messaging::contract::SCHEMA_VERSION;
use messaging::semconv::span;
use messaging::{ResultMessage, StartedMessage, Verdict, WorkerTimings};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const A_PLUS_B_C: &str =
    "#include <stdio.h>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);}\n";
const A_PLUS_B_PY: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
use messaging::semconv::span::SUBMISSION_REJUDGE as REJUDGE_SPAN;

async fn rejudge(bed: &TestBed, path: &str) -> anyhow::Result<Value> {
    let (status, headers, body) = bed.admin.post(path, &json!({})).await?;
    anyhow::ensure!(status == 202, "{path}: {status} {body}");
    anyhow::ensure!(
        headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json"),
        "{headers:?}"
    );
    Ok(body)
}

/// Waits until the submission's judging `judging` is done; returns the view.
async fn wait_judged(bed: &TestBed, id: &str, judging: u64) -> anyhow::Result<Value> {
    let done = bed.admin.wait_done(id).await?;
    anyhow::ensure!(done["judging"] == judging, "judging {judging}: {done}");
    Ok(done)
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one `{name}`");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejudge_judges_against_the_new_test_cases_in_a_linked_trace_and_keeps_the_history()
-> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "rejudge-one", TestBedOptions::default()).await?;
    let problem = bed
        .admin
        .create_problem(&[("1 2\n", "3\n")], 1000, 64)
        .await?;
    let accepted = bed
        .client
        .submit(&json!({"problem_id": problem, "language": "c", "source": A_PLUS_B_C}))
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let first_trace = accepted["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let first = bed.client.wait_done(&id).await?;
    assert_eq!(first["verdict"], "Accepted", "{first}");
    assert_eq!(first["judging"], 1);
    assert_eq!(first["history"], json!([]));
    assert_eq!(
        first["timings"]["requested_at"],
        first["timings"]["accepted_at"]
    );

    // New test cases that the program fails, then a rejudge of the one submission.
    let response = bed
        .admin
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/problems/{problem}/testcases"),
        )
        .json(&json!({"testcases": [{"input": "1 2\n", "output": "4\n"}]}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let replaced: Value = response.json().await?;
    assert_eq!(replaced["version"], 2);

    let requeued = rejudge(&bed, &format!("/api/v1/submissions/{id}/rejudge")).await?;
    assert_eq!(requeued["id"], id.as_str());
    assert_eq!(requeued["judging"], 2);
    let second_trace = requeued["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(second_trace.len(), 32, "{requeued}");
    assert_ne!(second_trace, first_trace, "a new judging, a new trace");

    let second = wait_judged(&bed, &id, 2).await?;
    assert_eq!(second["verdict"], "WrongAnswer", "{second}");
    assert_eq!(second["problem_version"], 2);
    assert_eq!(second["trace_id"], second_trace.as_str());
    let history = second["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 1, "{second}");
    let past = &history[0];
    assert_eq!(past["judging"], 1);
    assert_eq!(past["status"], "done");
    assert_eq!(past["verdict"], "Accepted");
    assert_eq!(past["problem_version"], 1);
    assert_eq!(past["trace_id"], first_trace.as_str());
    assert_eq!(past["results"], first["results"]);
    assert_eq!(past["worker_id"], first["worker_id"]);
    assert_eq!(past["timings"], first["timings"]);
    assert!(past["superseded_at"].is_string());

    // End to end counts from the rejudge request, not from the original submit.
    let t = &second["timings"];
    assert_eq!(t["accepted_at"], first["timings"]["accepted_at"]);
    let at = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    let (requested, stored) = (at(&t["requested_at"]), at(&t["stored_at"]));
    let (Some(requested), Some(stored)) = (requested, stored) else {
        panic!("timestamps in {t}");
    };
    assert!(requested > at(&first["timings"]["stored_at"]).unwrap_or(requested));
    let e2e = t["end_to_end_ms"].as_f64().unwrap_or(-1.0);
    let expected = (stored - requested).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    assert!((e2e - expected).abs() < 0.01, "{e2e} vs {expected}");

    // The new trace: a root linked to the original trace's request span, and the whole
    // pipeline under it.
    let complete = |spans: &[ReceivedSpan]| {
        [
            REJUDGE_SPAN,
            span::PUBLISH_SUBMISSION,
            span::PROCESS_SUBMISSION,
            span::JUDGE_COMPILE,
            span::PROCESS_RESULT,
            span::SUBMISSION_FINALIZE,
        ]
        .iter()
        .all(|name| spans.iter().any(|s| s.name == *name))
    };
    let spans = bed
        .receiver
        .trace(&second_trace, PATIENCE, complete)
        .await
        .unwrap_or_else(|| panic!("incomplete trace: {:?}", bed.receiver.span_names()));
    let original = bed
        .receiver
        .trace(&first_trace, PATIENCE, |s| {
            s.iter().any(|s| s.name == span::SUBMIT)
        })
        .await
        .expect("the original trace");
    let submit = one(&original, span::SUBMIT);
    let root = one(&spans, REJUDGE_SPAN);
    assert_eq!(root.service, "client-api");
    assert!(root.parent_span_id.is_empty(), "the new trace's root");
    assert!(
        root.links
            .contains(&(first_trace.clone(), submit.span_id.clone())),
        "root links to the original submission: {:?}",
        root.links
    );
    assert!(
        root.links.iter().any(|(trace, _)| trace != &first_trace),
        "and to the rejudge request: {:?}",
        root.links
    );
    assert_eq!(root.attr("submission.id"), Some(id.as_str()));
    for (key, value) in [
        ("submission.judging", "2"),
        ("problem.id", problem.to_string().as_str()),
        ("problem.version", "2"),
    ] {
        assert_eq!(root.attr(key), Some(value), "{key}");
        assert_eq!(root.types.get(key).copied(), Some("int"), "{key}");
    }
    let publish = one(&spans, span::PUBLISH_SUBMISSION);
    assert_eq!(publish.parent_span_id, root.span_id);
    let processed = one(&spans, span::PROCESS_RESULT);
    assert_eq!(processed.attr("submission.judging"), Some("2"));
    assert_eq!(
        processed.types.get("submission.judging").copied(),
        Some("int")
    );
    assert!(processed.attr("judge.result.stale").is_none());
    let finalize = one(&spans, span::SUBMISSION_FINALIZE);
    let reported = finalize
        .attr("submission.end_to_end_ms")
        .and_then(|v| v.parse::<f64>().ok());
    assert!(
        reported.is_some_and(|ms| (ms - e2e).abs() <= 1.0),
        "{reported:?} vs {e2e}"
    );
    // The request that rejudged is a trace of its own, with its requeue transaction.
    let request_link = root
        .links
        .iter()
        .find(|(trace, _)| trace != &first_trace)
        .cloned()
        .unwrap_or_default();
    let requeue = bed
        .receiver
        .wait_for_span(PATIENCE, |s| s.span_id == request_link.1)
        .await
        .expect("the linked span of the rejudge request");
    assert_eq!(requeue.name, "submission.requeue");
    assert_eq!(requeue.attr("submission.count"), Some("1"));
    let server = bed
        .receiver
        .wait_for_span(PATIENCE, |s| s.span_id == requeue.parent_span_id)
        .await
        .expect("the rejudge request's server span");
    assert_eq!(server.name, "POST /api/v1/submissions/{id}/rejudge");
    assert_eq!(server.attr("http.response.status_code"), Some("202"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_problem_rejudge_requeues_every_submission_and_only_admins_may_rejudge()
-> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "rejudge-problem", TestBedOptions::default()).await?;
    let problem = bed
        .admin
        .create_problem(&[("1 2\n", "3\n")], 1000, 64)
        .await?;
    let sources = [
        A_PLUS_B_PY,
        "print(3)\n",
        "a, b = map(int, input().split())\nprint(a - b)\n",
    ];
    let mut ids = BTreeSet::new();
    for source in sources {
        let accepted = bed
            .client
            .submit(&json!({"problem_id": problem, "language": "python3", "source": source}))
            .await?;
        let id = accepted["id"].as_str().unwrap_or_default().to_string();
        bed.client.wait_done(&id).await?;
        ids.insert(id);
    }
    // Another problem's submission is left alone.
    let other = bed.admin.create_problem(&[("", "")], 1000, 64).await?;
    let bystander = bed
        .client
        .submit(&json!({"problem_id": other, "language": "python3", "source": "print()\n"}))
        .await?;
    let bystander = bystander["id"].as_str().unwrap_or_default().to_string();
    bed.client.wait_done(&bystander).await?;

    let requeued = rejudge(&bed, &format!("/api/v1/problems/{problem}/rejudge")).await?;
    assert_eq!(requeued["problem_id"], problem);
    assert_eq!(requeued["version"], 1);
    assert_eq!(requeued["count"], 3);
    assert_eq!(requeued["truncated"], false);
    let listed: BTreeSet<String> = requeued["submissions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(listed, ids);
    let traces: BTreeSet<&str> = requeued["submissions"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["trace_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(traces.len(), 3, "one trace per new judging: {requeued}");

    for id in &ids {
        let done = wait_judged(&bed, id, 2).await?;
        let history = done["history"].as_array().cloned().unwrap_or_default();
        assert_eq!(history.len(), 1, "{done}");
        assert_eq!(
            history[0]["verdict"], done["verdict"],
            "same source, same verdict"
        );
    }
    let (_, _, untouched) = bed
        .admin
        .get(&format!("/api/v1/submissions/{bystander}"))
        .await?;
    assert_eq!(untouched["judging"], 1);

    // The owner may read the rejudged submission, with its history.
    let some = ids.iter().next().cloned().unwrap_or_default();
    let (status, _, mine) = bed
        .client
        .get(&format!("/api/v1/submissions/{some}"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(mine["judging"], 2);

    // Unknown problems and submissions: 404; clients and workers: 403; no token: 401. All
    // problem details.
    let unknown = uuid::Uuid::now_v7();
    for path in [
        "/api/v1/problems/987654321/rejudge".to_string(),
        format!("/api/v1/submissions/{unknown}/rejudge"),
        "/api/v1/submissions/not-a-uuid/rejudge".to_string(),
    ] {
        let (status, headers, body) = bed.admin.post(&path, &json!({})).await?;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        assert_eq!(body["status"], 404);
    }
    let worker = bed.client_with(Some(&bed.settings.tokens.worker));
    let anonymous = bed.client_with(None);
    for path in [
        format!("/api/v1/problems/{problem}/rejudge"),
        format!("/api/v1/submissions/{some}/rejudge"),
    ] {
        for (who, expected) in [(&bed.client, 403), (&worker, 403), (&anonymous, 401)] {
            let (status, headers, body) = who.post(&path, &json!({})).await?;
            assert_eq!(status, expected, "{path}: {body}");
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/problem+json")
            );
        }
    }
    let (_, _, after) = bed
        .admin
        .get(&format!("/api/v1/submissions/{some}"))
        .await?;
    assert_eq!(after["judging"], 2, "refused rejudges changed nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_of_a_superseded_judging_is_never_stored() -> anyhow::Result<()> {
    let options = TestBedOptions {
        no_worker: true,
        ..Default::default()
    };
    let bed = TestBed::start(binaries!(), "rejudge-stale", options).await?;
    let accepted = bed
        .client
        .submit(
            &json!({"language": "python3", "source": A_PLUS_B_PY, "time_limit_ms": 1000,
                        "memory_limit_mb": 64, "testcases": [{"input": "1 2\n", "output": "3\n"}]}),
        )
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();

    // Rejudged while judging 1 is still in the queue: judging 2 supersedes it.
    let requeued = rejudge(&bed, &format!("/api/v1/submissions/{id}/rejudge")).await?;
    assert_eq!(requeued["judging"], 2);

    // Judging 1's started event and result arrive now: both are dropped.
    let topology = bed.env.topology();
    let now = chrono::Utc::now();
    let started = StartedMessage {
        schema_version: SCHEMA_VERSION,
        submission_id: id.parse()?,
        consumed_at: now,
        worker_id: "stale-worker".into(),
        judging: 1,
    };
    publish_raw(
        &topology.exchange,
        "judge.started",
        &serde_json::to_vec(&started)?,
    )
    .await?;
    let stale = ResultMessage {
        schema_version: SCHEMA_VERSION,
        submission_id: id.parse()?,
        verdict: Verdict::WrongAnswer,
        compile_output: String::new(),
        results: Vec::new(),
        timings: WorkerTimings {
            published_at: None,
            consumed_at: now,
            judged_at: now,
            queue_wait_ms: None,
            queue_wait_precision: None,
            testcase_fetch_ms: 0.0,
            compile_ms: 0.0,
            compile_cached: false,
            run_ms: 0.0,
        },
        error: None,
        worker_id: "stale-worker".into(),
        judging: 1,
    };
    publish_raw(
        &topology.exchange,
        "judge.result",
        &serde_json::to_vec(&stale)?,
    )
    .await?;
    for message in [
        "stale started event of a superseded judging ignored",
        "stale result of a superseded judging ignored",
    ] {
        let logged = bed
            .api
            .process
            .wait_for_log(PATIENCE, |v| v["message"] == message)
            .await;
        assert!(logged.is_some(), "logged: {message}");
    }
    let stale_span = bed
        .receiver
        .wait_for_span(PATIENCE, |s| {
            s.name == span::PROCESS_RESULT && s.attr("judge.result.stale").is_some()
        })
        .await
        .expect("the stale result's span");
    assert_eq!(stale_span.attr("judge.result.stale"), Some("true"));
    assert_eq!(
        stale_span.types.get("judge.result.stale").copied(),
        Some("bool")
    );
    assert_eq!(stale_span.attr("submission.judging"), Some("1"));
    assert_eq!(stale_span.attr("submission.current_judging"), Some("2"));
    assert_eq!(stale_span.status, 0, "not an error");

    let (_, _, view) = bed.admin.get(&format!("/api/v1/submissions/{id}")).await?;
    assert_eq!(view["status"], "queued", "{view}");
    assert_eq!(view["verdict"], Value::Null);
    assert_eq!(view["worker_id"], Value::Null);
    assert_eq!(view["judging"], 2);

    // A worker now judges both messages in the queue; only judging 2's verdict is stored,
    // whichever result comes first.
    let _worker = bed.start_worker().await?;
    let done = wait_judged(&bed, &id, 2).await?;
    assert_eq!(done["verdict"], "Accepted", "{done}");
    assert_ne!(done["worker_id"], "stale-worker");
    let history = done["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 1, "{done}");
    assert_eq!(history[0]["judging"], 1);
    assert_eq!(
        history[0]["status"], "queued",
        "superseded before its verdict"
    );
    assert_eq!(history[0]["verdict"], Value::Null);
    let stale_results = bed
        .api
        .process
        .wait_until(PATIENCE, |logs| {
            logs.iter()
                .filter(|v| v["message"] == "stale result of a superseded judging ignored")
                .count()
                >= 2
        })
        .await;
    assert!(
        stale_results,
        "the worker's judging-1 result was dropped too"
    );
    let (_, _, after) = bed.admin.get(&format!("/api/v1/submissions/{id}")).await?;
    assert_eq!(after["verdict"], "Accepted");
    assert_eq!(after["timings"]["stored_at"], done["timings"]["stored_at"]);
    Ok(())
}

/// Needs the worker's compile cache (judge-worker, built in parallel on main).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejudging_the_same_source_is_served_from_the_compile_cache() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "rejudge-cache", TestBedOptions::default()).await?;
    let problem = bed
        .admin
        .create_problem(&[("1 2\n", "3\n")], 1000, 64)
        .await?;
    let accepted = bed
        .client
        .submit(&json!({"problem_id": problem, "language": "c", "source": A_PLUS_B_C}))
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let first = bed.client.wait_done(&id).await?;
    assert_eq!(first["timings"]["compile_cached"], false, "{first}");
    rejudge(&bed, &format!("/api/v1/submissions/{id}/rejudge")).await?;
    let second = wait_judged(&bed, &id, 2).await?;
    assert_eq!(second["verdict"], "Accepted");
    assert_eq!(second["history"][0]["timings"]["compile_cached"], false);
    assert_eq!(
        second["timings"]["compile_cached"], true,
        "the same source compiled again: {second}"
    );
    Ok(())
}
