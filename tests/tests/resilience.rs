//! Nothing accepted is lost and nothing is judged twice into the record: poison messages,
//! redeliveries, a broker that is unreachable when a submission arrives, infrastructure
//! failures past the delivery limit, and an OTLP endpoint that is down.

use e2e_tests::environment::{publish_raw, publish_with};
use e2e_tests::tcp_proxy::TcpProxy;
use e2e_tests::{AMQP_URL, PATIENCE, TestBed, TestBedOptions, binaries};
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use messaging::contract::SCHEMA_VERSION;
use messaging::{Limits, SubmissionMessage, Testcase, TestcaseSource};
use serde_json::{Value, json};

const A_PLUS_B_PY: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

fn inline_submission() -> Value {
    json!({"language": "python3", "source": A_PLUS_B_PY, "time_limit_ms": 1000,
           "memory_limit_mb": 64, "testcases": [{"input": "1 2\n", "output": "3\n"}]})
}

/// The first `n` message bodies that arrive on `queue` (consumed with auto-ack so the test
/// leaves nothing behind).
async fn first_messages(queue: &str, n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let connection = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "e2e-inspector".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut bodies = Vec::new();
    while bodies.len() < n {
        let delivery = tokio::time::timeout(PATIENCE, consumer.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("consumer ended"))??;
        bodies.push(delivery.data);
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(bodies)
}

/// How many messages `queue` holds now.
async fn queue_depth(queue: &str) -> anyhow::Result<u32> {
    let connection = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(declared.message_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_worker_keeps_serving() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "poison", TestBedOptions::default()).await?;
    let topology = bed.env.topology();
    publish_raw(
        &topology.exchange,
        "judge.submission",
        b"\xff\xfe this is not json",
    )
    .await?;
    publish_raw(
        &topology.exchange,
        "judge.submission",
        br#"{"schema_version": 99, "submission_id": "nope"}"#,
    )
    .await?;

    let mut dead = first_messages(&topology.dead_letter_queue, 2).await?;
    dead.sort();
    assert_eq!(dead[1], b"\xff\xfe this is not json");
    assert!(dead[0].starts_with(br#"{"schema_version": 99"#));

    let worker = bed.worker.as_ref().expect("worker");
    let logged = worker
        .process
        .wait_for_log(PATIENCE, |v| {
            v["level"] == "ERROR"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("undecodable submission message"))
        })
        .await;
    assert!(logged.is_some(), "error log for the poison message");

    let accepted = bed.client.submit(&inline_submission()).await?;
    let done = bed
        .client
        .wait_done(accepted["id"].as_str().unwrap_or_default())
        .await?;
    assert_eq!(
        done["verdict"], "Accepted",
        "the worker still judges: {done}"
    );

    let metrics = bed
        .receiver
        .metrics(PATIENCE, &[messaging::semconv::metric::MESSAGES_REJECTED])
        .await;
    assert!(metrics.is_some(), "rejected-message counter exported");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_submission_yields_one_final_result() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "redeliver", TestBedOptions::default()).await?;
    let accepted = bed.client.submit(&inline_submission()).await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let first = bed.client.wait_done(&id).await?;
    assert_eq!(first["verdict"], "Accepted");

    // The same submission arrives again (a redelivery after a lost ack, or a second
    // publish by the outbox relay), this time with a program that would fail.
    let again = SubmissionMessage {
        schema_version: SCHEMA_VERSION,
        submission_id: id.parse()?,
        language: "python3".into(),
        source: "print('changed')\n".into(),
        limits: Limits {
            time_limit_ms: 1000,
            memory_limit_mb: 64,
        },
        testcases: TestcaseSource::Inline {
            testcases: vec![Testcase {
                input: "1 2\n".into(),
                output: "3\n".into(),
            }],
        },
        run_all_testcases: false,
        judging: 1,
    };
    let topology = bed.env.topology();
    publish_raw(
        &topology.exchange,
        "judge.submission",
        &serde_json::to_vec(&again)?,
    )
    .await?;

    let duplicate = bed
        .api
        .process
        .wait_for_log(PATIENCE, |v| {
            v["message"] == "duplicate result for a finished submission ignored"
        })
        .await;
    assert!(
        duplicate.is_some(),
        "the API saw and ignored the second result"
    );
    let (_, _, after) = bed.client.get(&format!("/api/v1/submissions/{id}")).await?;
    assert_eq!(after["verdict"], "Accepted");
    assert_eq!(after["timings"]["stored_at"], first["timings"]["stored_at"]);
    assert_eq!(after["results"], first["results"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_are_accepted_while_the_broker_is_unreachable() -> anyhow::Result<()> {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse()?).await?;
    let options = TestBedOptions {
        api_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", proxy.address())),
        ..Default::default()
    };
    let bed = TestBed::start(binaries!(), "outage", options).await?;

    proxy.cut().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let accepted = bed.client.submit(&inline_submission()).await?;
        ids.push(accepted["id"].as_str().unwrap_or_default().to_string());
    }
    let (_, _, pending) = bed
        .client
        .get(&format!("/api/v1/submissions/{}", ids[0]))
        .await?;
    assert_eq!(pending["status"], "queued");
    assert!(
        pending["timings"]["published_at"].is_null(),
        "not published while cut: {pending}"
    );

    proxy.restore();
    for id in &ids {
        let done = bed.client.wait_done(id).await?;
        assert_eq!(done["verdict"], "Accepted", "{done}");
        assert!(!done["timings"]["published_at"].is_null());
    }

    // The relay's publish continues the request's trace.
    let trace_id = {
        let (_, _, view) = bed
            .client
            .get(&format!("/api/v1/submissions/{}", ids[0]))
            .await?;
        view["trace_id"].as_str().unwrap_or_default().to_string()
    };
    let spans = bed
        .receiver
        .trace(&trace_id, PATIENCE, |s| {
            s.iter()
                .any(|s| s.name == messaging::semconv::span::SUBMISSION_FINALIZE)
        })
        .await
        .expect("the trace reaches finalize");
    let server = spans
        .iter()
        .find(|s| s.name == messaging::semconv::span::SUBMIT)
        .expect("SERVER span");
    let published: Vec<_> = spans
        .iter()
        .filter(|s| s.name == messaging::semconv::span::PUBLISH_SUBMISSION)
        .collect();
    assert!(
        published.len() >= 2,
        "a failed attempt and the relay's publish"
    );
    assert!(published.iter().all(|p| p.parent_span_id == server.span_id));
    assert!(
        published.iter().any(|p| p.status == 2),
        "the failed attempt is an error span"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infrastructure_failure_is_retried_then_reported_as_server_error() -> anyhow::Result<()>
{
    let bed = TestBed::start(
        binaries!(),
        "infra",
        TestBedOptions {
            no_worker: true,
            ..Default::default()
        },
    )
    .await?;
    // A worker that cannot reach the API for test cases.
    let broken_worker =
        e2e_tests::services::Worker::start(bed.binaries, &bed.settings, "http://127.0.0.1:9", &[])
            .await?;
    let problem = bed
        .admin
        .create_problem(&[("1 2\n", "3\n")], 1000, 64)
        .await?;
    let accepted = bed
        .client
        .submit(&json!({"problem_id": problem, "language": "python3", "source": A_PLUS_B_PY}))
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let done = bed.client.wait_done(&id).await?;
    assert_eq!(done["verdict"], "ServerError", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("test cases"),
        "{done}"
    );
    // Once the API is reachable again, an operator replays the dead-letter queue and the
    // submission gets its real verdict.
    let mut broken = broken_worker;
    broken.process.kill().await?;
    let _healthy = bed.start_worker().await?;
    let replay = tokio::process::Command::new(bed.binaries.worker)
        .env_clear()
        .env("AMQP_URL", &bed.settings.amqp_url)
        .env("QUEUE_PREFIX", bed.env.prefix())
        .env("LOG_FORMAT", "json")
        .arg("replay-dead-letters")
        .output()
        .await?;
    let log = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{log}");
    let replayed = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "dead letters replayed")
        .unwrap_or_else(|| panic!("no replay report in {log}"));
    assert!(
        replayed["fields"]["replayed"]
            .as_str()
            .is_some_and(|r| r.contains("\"judge.submission\": 1")),
        "{replayed}"
    );
    let rejudged = bed
        .api
        .process
        .wait_for_log(PATIENCE, |v| {
            v["message"] == "submission finalized"
                && v["fields"]["submission.id"] == id.as_str()
                && v["fields"]["verdict"] == "Accepted"
        })
        .await;
    assert!(rejudged.is_some(), "the replayed submission was judged");
    let (_, _, view) = bed.client.get(&format!("/api/v1/submissions/{id}")).await?;
    assert_eq!(view["verdict"], "Accepted", "{view}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judging_goes_on_when_the_otlp_endpoint_is_unreachable() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "nootlp",
        TestBedOptions {
            otlp_endpoint: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let accepted = bed.client.submit(&inline_submission()).await?;
        assert_eq!(accepted["trace_id"].as_str().map(str::len), Some(32));
        ids.push(accepted["id"].as_str().unwrap_or_default().to_string());
    }
    for id in ids {
        let done = bed.client.wait_done(&id).await?;
        assert_eq!(done["verdict"], "Accepted");
    }
    Ok(())
}

/// Runs `judge-worker replay-dead-letters` and returns its JSON log lines.
async fn replay_dead_letters(bed: &TestBed) -> anyhow::Result<Vec<Value>> {
    let replay = tokio::process::Command::new(bed.binaries.worker)
        .env_clear()
        .env("AMQP_URL", &bed.settings.amqp_url)
        .env("QUEUE_PREFIX", bed.env.prefix())
        .env("LOG_FORMAT", "json")
        .arg("replay-dead-letters")
        .output()
        .await?;
    let log = String::from_utf8_lossy(&replay.stdout).to_string();
    anyhow::ensure!(replay.status.success(), "replay failed: {log}");
    Ok(log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_replay_cannot_fix_stay_put_and_the_replay_says_why() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "unfixable", TestBedOptions::default()).await?;
    let topology = bed.env.topology();
    // A submission no worker can read, and a result for a submission that does not exist.
    publish_raw(
        &topology.exchange,
        "judge.submission",
        b"{\"not\": \"a submission\"}",
    )
    .await?;
    let orphan = json!({
        "schema_version": SCHEMA_VERSION, "submission_id": "01a217a0-61d6-709e-9ad7-b0acb38305b1",
        "verdict": "Accepted", "compile_output": "", "results": [],
        "timings": {"consumed_at": "2026-12-02T10:00:00Z", "judged_at": "2026-12-02T10:00:01Z",
                    "testcase_fetch_ms": 0.0, "compile_ms": 0.0, "run_ms": 0.0},
        "worker_id": "elsewhere@1"});
    publish_raw(
        &topology.exchange,
        "judge.result",
        &serde_json::to_vec(&orphan)?,
    )
    .await?;
    let refused = |v: &Value| {
        v["message"] == "result for an unknown submission; sending it to the dead-letter queue"
    };
    assert!(
        bed.api
            .process
            .wait_for_log(PATIENCE, refused)
            .await
            .is_some()
    );
    assert!(
        bed.worker
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no worker"))?
            .process
            .wait_for_log(PATIENCE, |v| v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("undecodable submission message")))
            .await
            .is_some()
    );

    // Twice: the second replay must not find them anywhere but where the first left them.
    for pass in 1..=2 {
        let log = replay_dead_letters(&bed).await?;
        let kept: Vec<&str> = log
            .iter()
            .filter(|v| v["message"] == "dead letter kept: replaying cannot fix it")
            .filter_map(|v| v["fields"]["reason"].as_str())
            .collect();
        assert_eq!(kept.len(), 2, "pass {pass}: {log:?}");
        assert!(
            kept.iter()
                .any(|r| r.contains("not a valid judge.submission message")),
            "pass {pass}: {kept:?}"
        );
        assert!(
            kept.iter()
                .any(|r| r.contains("its submission does not exist")),
            "pass {pass}: {kept:?}"
        );
        let report = log
            .iter()
            .find(|v| v["message"] == "dead letters replayed")
            .ok_or_else(|| anyhow::anyhow!("no replay report in {log:?}"))?;
        assert_eq!(report["fields"]["replayed"], "{}", "pass {pass}: {report}");
        assert_eq!(report["fields"]["kept"], 2, "pass {pass}: {report}");
    }
    // Both are still in the dead-letter queue, and the API saw the orphan result only once.
    assert_eq!(queue_depth(&topology.dead_letter_queue).await?, 2);
    assert_eq!(queue_depth(&topology.result_queue).await?, 0);
    assert_eq!(
        bed.api
            .process
            .json_logs()
            .iter()
            .filter(|v| refused(v))
            .count(),
        1
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_a_publish_time_gets_a_coarse_or_unknown_queue_wait_never_zero()
-> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "nopubtime",
        TestBedOptions {
            no_worker: true,
            ..Default::default()
        },
    )
    .await?;
    let topology = bed.env.topology();
    let coarse = bed.client.submit(&inline_submission()).await?;
    let unknown = bed.client.submit(&inline_submission()).await?;
    // As a producer outside this project would send them: one with only the AMQP timestamp
    // (whole seconds), one with no publish time at all.
    let bodies = first_messages(&topology.submission_queue, 2).await?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    for body in &bodies {
        let message = SubmissionMessage::decode(body)?;
        let properties = BasicProperties::default().with_delivery_mode(2);
        let properties = if message.submission_id.to_string() == coarse["id"] {
            properties.with_timestamp(now)
        } else {
            properties
        };
        publish_with(&topology.exchange, "judge.submission", body, properties).await?;
    }
    let _worker = bed.start_worker().await?;
    let exact = bed.client.submit(&inline_submission()).await?;

    let view = |accepted: &Value| accepted["id"].as_str().unwrap_or_default().to_string();
    let coarse = bed.client.wait_done(&view(&coarse)).await?;
    let unknown = bed.client.wait_done(&view(&unknown)).await?;
    let exact = bed.client.wait_done(&view(&exact)).await?;
    for done in [&coarse, &unknown, &exact] {
        assert_eq!(done["verdict"], "Accepted", "{done}");
    }
    let wait = |v: &Value| v["timings"]["queue_wait_ms"].clone();
    let precision = |v: &Value| v["timings"]["queue_wait_precision"].clone();
    assert_eq!(precision(&coarse), "s", "{coarse}");
    assert!(
        wait(&coarse).as_f64().is_some_and(|ms| ms >= 0.0),
        "{coarse}"
    );
    assert_eq!(precision(&unknown), Value::Null, "{unknown}");
    assert_eq!(wait(&unknown), Value::Null, "{unknown}");
    assert_eq!(precision(&exact), "ns", "{exact}");
    assert!(wait(&exact).as_f64().is_some_and(|ms| ms > 0.0), "{exact}");
    Ok(())
}
