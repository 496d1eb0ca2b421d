//! One submission, one trace: every span of design.md's tree with the right kind and parent,
//! messaging attributes, `queue.wait` consistent with the reported timings; logs that carry
//! the trace id (over OTLP and on the console); the metrics. All received over real OTLP.

use e2e_tests::otlp_receiver::ReceivedSpan;
use e2e_tests::{PATIENCE, TestBed, TestBedOptions, binaries};
use messaging::semconv::{metric, span};
use serde_json::{Value, json};

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;
const INTERNAL: i32 = 1;

/// Every span the tree needs for a C submission with two test cases on a cache miss.
fn complete(spans: &[ReceivedSpan]) -> bool {
    let count = |name: &str| spans.iter().filter(|s| s.name == name).count();
    count(span::SUBMIT) == 1
        && count(span::SUBMISSION_FINALIZE) == 1
        && count(span::JUDGE_RUN) == 2
        && count(span::TESTCASE_FETCH) == 2 // the worker's CLIENT span and the API's SERVER span
        && [
            span::SUBMISSION_STORE,
            span::PUBLISH_SUBMISSION,
            span::CONFIRM_SUBMISSION,
            span::QUEUE_WAIT,
            span::PROCESS_SUBMISSION,
            span::JUDGE_COMPILE,
            span::PUBLISH_RESULT,
            span::CONFIRM_RESULT,
            span::PROCESS_RESULT,
        ]
        .iter()
        .all(|n| count(n) == 1)
}

/// The OTLP type of every attribute the pipeline's spans carry (TraceQL compares numbers only
/// with numbers: `{ span.testcase.index = 1 }` finds nothing if the index is a string).
/// Every attribute a span arrives with must be listed here, so a new one gets a type too.
const ATTRIBUTE_TYPES: &[(&str, &str)] = &[
    // Numbers the code sets.
    ("http.response.status_code", "int"),
    ("server.port", "int"),
    ("messaging.message.body.size", "int"),
    ("messaging.rabbitmq.message.delivery_tag", "int"),
    ("testcase.index", "int"),
    ("sandbox.cpu_time_ms", "int"),
    ("sandbox.wall_time_ms", "int"),
    ("sandbox.memory_kb", "int"),
    ("process.exit.code", "int"),
    ("process.signal", "int"),
    ("problem.id", "int"),
    ("problem.version", "int"),
    ("judge.delivery_count", "int"),
    ("submission.end_to_end_ms", "int"),
    ("judge.queue_wait_ms", "double"),
    // Added by tracing-opentelemetry to every span.
    ("code.line.number", "int"),
    ("code.file.path", "string"),
    ("code.module.name", "string"),
    ("target", "string"),
    // Strings.
    ("http.request.method", "string"),
    ("http.route", "string"),
    ("network.protocol.version", "string"),
    ("url.path", "string"),
    ("url.scheme", "string"),
    ("url.full", "string"),
    ("url.template", "string"),
    ("user_agent.original", "string"),
    ("server.address", "string"),
    ("db.system.name", "string"),
    ("db.operation.name", "string"),
    ("db.collection.name", "string"),
    ("messaging.system", "string"),
    ("messaging.operation.name", "string"),
    ("messaging.operation.type", "string"),
    ("messaging.destination.name", "string"),
    ("messaging.rabbitmq.destination.routing_key", "string"),
    ("messaging.message.id", "string"),
    ("messaging.client.id", "string"),
    ("submission.id", "string"),
    ("judge.language", "string"),
    ("judge.verdict", "string"),
    ("sandbox.kind", "string"),
    ("sandbox.termination", "string"),
    ("error.type", "string"),
    ("judge.queue_wait_precision", "string"),
    // Booleans.
    ("judge.compile.cached", "bool"),
    // Only in rejudged judgings' traces (tests/tests/rejudge.rs), listed for completeness.
    ("submission.judging", "int"),
    ("submission.current_judging", "int"),
    ("judge.result.stale", "bool"),
];

fn assert_attribute_types(spans: &[ReceivedSpan]) {
    for span in spans {
        for (key, got) in &span.types {
            let want = ATTRIBUTE_TYPES
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| {
                    panic!(
                        "`{}` has attribute {key} ({got}), not in ATTRIBUTE_TYPES",
                        span.name
                    )
                });
            assert_eq!(*got, want, "`{}`: {key} must be an OTLP {want}", span.name);
        }
    }
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str, service: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.service == service)
        .collect();
    assert_eq!(found.len(), 1, "exactly one `{name}` from {service}");
    found[0]
}

fn assert_child(child: &ReceivedSpan, parent: &ReceivedSpan) {
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "`{}` must be a child of `{}`",
        child.name, parent.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_submission_is_one_connected_trace_with_logs_and_metrics() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "trace", TestBedOptions::default()).await?;
    let problem = bed
        .admin
        .create_problem(&[("1 2\n", "3\n"), ("2 3\n", "5\n")], 1000, 64)
        .await?;

    // The caller's trace is continued.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = bed
        .client
        .request(reqwest::Method::POST, "/api/v1/submissions")
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({"problem_id": problem, "language": "c",
            "source": "#include <stdio.h>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);}\n"}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await?;
    assert_eq!(accepted["trace_id"], caller_trace);
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let done = bed.client.wait_done(&id).await?;
    assert_eq!(done["verdict"], "Accepted", "{done}");
    assert_eq!(done["trace_id"], caller_trace);

    let spans = bed
        .receiver
        .trace(caller_trace, PATIENCE, complete)
        .await
        .unwrap_or_else(|| {
            panic!(
                "incomplete trace; received: {:?}",
                bed.receiver.span_names()
            )
        });

    assert_attribute_types(&spans);
    let server = one(&spans, span::SUBMIT, "client-api");
    assert_eq!(server.kind, SERVER);
    assert_eq!(server.parent_span_id, caller_span);
    assert_eq!(server.attr("http.route"), Some("/api/v1/submissions"));
    assert_eq!(server.attr("http.response.status_code"), Some("202"));

    let store = one(&spans, span::SUBMISSION_STORE, "client-api");
    assert_eq!(store.kind, INTERNAL);
    assert_child(store, server);

    let publish = one(&spans, span::PUBLISH_SUBMISSION, "client-api");
    assert_eq!(publish.kind, PRODUCER);
    assert_child(publish, server);
    let exchange = format!("{}judge", bed.env.prefix());
    assert_eq!(publish.attr("messaging.system"), Some("rabbitmq"));
    assert_eq!(publish.attr("messaging.operation.name"), Some("publish"));
    assert_eq!(publish.attr("messaging.operation.type"), Some("send"));
    assert_eq!(
        publish.attr("messaging.destination.name"),
        Some(format!("{exchange}:judge.submission").as_str())
    );
    assert_eq!(
        publish.attr("messaging.rabbitmq.destination.routing_key"),
        Some("judge.submission")
    );
    assert_eq!(publish.attr("messaging.message.id"), Some(id.as_str()));
    assert_eq!(publish.attr("server.address"), Some("127.0.0.1"));

    let wait = one(&spans, span::QUEUE_WAIT, "judge-worker");
    assert_eq!(wait.kind, INTERNAL);
    assert_child(wait, publish);
    assert!(wait.end_ns >= wait.start_ns);
    let wait_ms = (wait.end_ns - wait.start_ns) as f64 / 1e6;
    let reported = done["timings"]["queue_wait_ms"].as_f64().unwrap_or(-1.0);
    assert!(reported >= 0.0);
    assert!(
        (wait_ms - reported).abs() < 1.0,
        "queue.wait span {wait_ms} ms vs timings.queue_wait_ms {reported} ms"
    );

    let process = one(&spans, span::PROCESS_SUBMISSION, "judge-worker");
    assert_eq!(process.kind, CONSUMER);
    assert_child(process, publish);
    // The PRODUCER span ends when the message is written, before the consumer can start on
    // it (Tempo's service graph drops a hop whose producer ends after its consumer starts);
    // the wait for the broker's confirm is a span of its own beside it.
    assert!(
        publish.end_ns <= process.start_ns,
        "publish ends {} ns after the consumer started",
        publish.end_ns - process.start_ns
    );
    let confirm = one(&spans, span::CONFIRM_SUBMISSION, "client-api");
    assert_eq!(confirm.kind, INTERNAL);
    assert_child(confirm, server);
    assert!(confirm.start_ns >= publish.end_ns && confirm.end_ns >= confirm.start_ns);
    assert_eq!(confirm.attr("messaging.message.id"), Some(id.as_str()));
    assert!(
        process
            .links
            .contains(&(caller_trace.to_string(), publish.span_id.clone())),
        "the consumer span links to the producer span: {:?}",
        process.links
    );
    assert_eq!(process.attr("messaging.operation.type"), Some("process"));
    assert_eq!(process.attr("submission.id"), Some(id.as_str()));
    assert!(
        process
            .attr("messaging.rabbitmq.message.delivery_tag")
            .is_some()
    );

    let fetch = spans
        .iter()
        .find(|s| s.name == span::TESTCASE_FETCH && s.kind == CLIENT)
        .expect("test-case fetch CLIENT span");
    assert_eq!(fetch.service, "judge-worker");
    assert_child(fetch, process);
    let fetch_server = spans
        .iter()
        .find(|s| s.name == span::TESTCASE_FETCH && s.kind == SERVER)
        .expect("API SERVER span of the fetch");
    assert_eq!(fetch_server.service, "client-api");
    assert_child(fetch_server, fetch);

    let compile = one(&spans, span::JUDGE_COMPILE, "judge-worker");
    assert_child(compile, process);
    assert_eq!(compile.attr("judge.language"), Some("c"));
    // A fresh worker has compiled nothing yet; the attribute is a boolean, not a string.
    assert_eq!(compile.attr("judge.compile.cached"), Some("false"));
    assert_eq!(compile.types.get("judge.compile.cached"), Some(&"bool"));
    let runs: Vec<_> = spans.iter().filter(|s| s.name == span::JUDGE_RUN).collect();
    for run in &runs {
        assert_child(run, process);
        assert_eq!(run.attr("judge.verdict"), Some("Accepted"));
        assert!(run.attr("sandbox.wall_time_ms").is_some());
    }
    let mut indexes: Vec<_> = runs
        .iter()
        .filter_map(|r| r.attr("testcase.index"))
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1"]);

    let publish_result = one(&spans, span::PUBLISH_RESULT, "judge-worker");
    assert_eq!(publish_result.kind, PRODUCER);
    assert_child(publish_result, process);

    let process_result = one(&spans, span::PROCESS_RESULT, "client-api");
    assert_eq!(process_result.kind, CONSUMER);
    assert_child(process_result, publish_result);
    assert!(publish_result.end_ns <= process_result.start_ns);
    assert_child(one(&spans, span::CONFIRM_RESULT, "judge-worker"), process);
    assert!(
        process_result
            .links
            .contains(&(caller_trace.to_string(), publish_result.span_id.clone()))
    );
    assert_eq!(
        process_result.attr("messaging.destination.name"),
        Some(format!("{exchange}:judge.result:{}judge.result", bed.env.prefix()).as_str())
    );

    let finalize = one(&spans, span::SUBMISSION_FINALIZE, "client-api");
    assert_child(finalize, process_result);
    // The exact end-to-end time, for slow-submission queries that cannot wait for Tempo to
    // join a trace's pieces: what the API reports, to the millisecond.
    let end_to_end = finalize
        .attr("submission.end_to_end_ms")
        .and_then(|v| v.parse::<f64>().ok());
    let reported = done["timings"]["end_to_end_ms"].as_f64().unwrap_or(-1.0);
    assert!(
        end_to_end.is_some_and(|ms| (ms - reported).abs() <= 1.0),
        "submission.end_to_end_ms {end_to_end:?} vs timings.end_to_end_ms {reported}"
    );

    // Logs written while judging carry the trace id, over OTLP…
    let logs = bed
        .receiver
        .logs(
            PATIENCE,
            |l| l.trace_id == caller_trace,
            |found| {
                found
                    .iter()
                    .any(|l| l.service == "judge-worker" && l.body == "test case judged")
                    && found
                        .iter()
                        .any(|l| l.service == "client-api" && l.body == "submission finalized")
            },
        )
        .await
        .expect("OTLP log records with the trace id");
    let judged = logs
        .iter()
        .find(|l| l.body == "test case judged")
        .expect("judge log");
    assert!(
        runs.iter().any(|r| r.span_id == judged.span_id),
        "log tied to its judge.run span"
    );

    // …and on the console.
    let worker = bed.worker.as_ref().expect("worker");
    let console = worker
        .process
        .wait_for_log(PATIENCE, |v| {
            v["message"] == "submission judged" && v["trace_id"] == caller_trace
        })
        .await;
    assert!(console.is_some(), "console JSON log with trace_id");

    // The metrics of design.md, histograms in seconds with buckets past a minute.
    let expected = [
        metric::HTTP_SERVER_REQUEST_DURATION,
        metric::HTTP_CLIENT_REQUEST_DURATION,
        metric::MESSAGING_CLIENT_OPERATION_DURATION,
        metric::MESSAGING_CLIENT_SENT_MESSAGES,
        metric::MESSAGING_CLIENT_CONSUMED_MESSAGES,
        metric::MESSAGING_PROCESS_DURATION,
        metric::QUEUE_WAIT,
        metric::COMPILE_DURATION,
        metric::RUN_DURATION,
        metric::SUBMISSIONS,
        metric::SLOTS_BUSY,
        metric::E2E_DURATION,
    ];
    let metrics = bed
        .receiver
        .metrics(PATIENCE, &expected)
        .await
        .expect("every metric arrives");
    for name in [
        metric::QUEUE_WAIT,
        metric::COMPILE_DURATION,
        metric::RUN_DURATION,
        metric::E2E_DURATION,
        metric::HTTP_SERVER_REQUEST_DURATION,
        metric::MESSAGING_PROCESS_DURATION,
    ] {
        let m = &metrics[name];
        assert_eq!(m.unit, "s", "{name} in seconds");
        assert!(
            m.bounds.last().copied().unwrap_or(0.0) >= 60.0,
            "{name} buckets reach a minute: {:?}",
            m.bounds
        );
    }
    let submissions = &metrics[metric::SUBMISSIONS];
    assert_eq!(submissions.service, "judge-worker");
    assert!(submissions.points.iter().any(|p| {
        p.get("judge.language").map(String::as_str) == Some("c")
            && p.get("judge.verdict").map(String::as_str) == Some("Accepted")
    }));

    // A second submission to the same problem hits the worker's cache: no fetch span.
    let again = bed
        .client
        .submit(&json!({"problem_id": problem, "language": "c",
            "source": "#include <stdio.h>\nint main(){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);}\n"}))
        .await?;
    let second_trace = again["trace_id"].as_str().unwrap_or_default().to_string();
    assert_ne!(second_trace, caller_trace);
    let done = bed
        .client
        .wait_done(again["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(done["timings"]["testcase_fetch_ms"].as_f64(), Some(0.0));
    let spans = bed
        .receiver
        .trace(&second_trace, PATIENCE, |s| {
            s.iter().any(|s| s.name == span::SUBMISSION_FINALIZE)
        })
        .await
        .expect("second trace");
    assert!(
        !spans.iter().any(|s| s.name == span::TESTCASE_FETCH),
        "cache hit: no fetch span"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_telemetry_before_exit() -> anyhow::Result<()> {
    // Spans are exported only in batches every 10 minutes here, so anything the receiver
    // gets before that was flushed by the shutdown guard.
    let mut bed = TestBed::start(
        binaries!(),
        "flush",
        TestBedOptions {
            no_worker: true,
            api_env: vec![("OTEL_BSP_SCHEDULE_DELAY", "600000".into())],
            ..Default::default()
        },
    )
    .await?;
    let (status, _, _) = bed.client.get("/api/v1/languages").await?;
    assert_eq!(status, 200);
    let code = bed.api.process.terminate().await?;
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    let spans = bed
        .receiver
        .wait_for_span(PATIENCE, |s| {
            s.service == "client-api" && s.name == "GET /api/v1/languages"
        })
        .await;
    assert!(
        spans.is_some(),
        "the request's span was flushed at shutdown"
    );
    Ok(())
}
