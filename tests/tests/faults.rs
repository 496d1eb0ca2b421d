//! Fault injection: workers killed mid-judging and in a loop, broker and database connections
//! cut (through TCP proxies, never touching the machine's own services), an OTLP endpoint that
//! accepts and never answers. Nothing accepted may be lost, nothing stored twice. Each test
//! prints sent / completed / lost / duplicated.

use e2e_tests::services::ServiceProcess;
use e2e_tests::tcp_proxy::TcpProxy;
use e2e_tests::{PATIENCE, TestBed, TestBedOptions, binaries};
use serde_json::{Value, json};
use std::collections::HashMap;

fn python(source: &str) -> Value {
    json!({"language": "python3", "source": source, "time_limit_ms": 2000,
           "memory_limit_mb": 64, "testcases": [{"input": "1 2\n", "output": "3\n"}]})
}

const A_PLUS_B: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

/// How often the API finalized each submission, from its console log.
fn finalized(api: &ServiceProcess) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in api.json_logs() {
        if line["message"] == "submission finalized"
            && let Some(id) = line["fields"]["submission.id"].as_str()
        {
            *counts.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits for every id to be done; prints and checks the tally.
async fn tally(bed: &TestBed, ids: &[String], expect_verdict: &str) -> anyhow::Result<()> {
    let mut completed = 0;
    let mut wrong = Vec::new();
    for id in ids {
        let done = bed.client.wait_done(id).await?;
        completed += 1;
        if done["verdict"] != expect_verdict {
            wrong.push(format!("{id}: {}", done["verdict"]));
        }
    }
    let counts = finalized(&bed.api.process);
    let duplicated = ids
        .iter()
        .filter(|id| counts.get(*id).copied().unwrap_or(0) > 1)
        .count();
    let lost = ids.len() - completed;
    println!(
        "sent {} / completed {completed} / lost {lost} / duplicated {duplicated}",
        ids.len()
    );
    assert_eq!(lost, 0);
    assert_eq!(duplicated, 0, "a submission was stored twice");
    assert!(wrong.is_empty(), "unexpected verdicts: {wrong:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_judging_loses_nothing() -> anyhow::Result<()> {
    let mut bed = TestBed::start(binaries!(), "kill9", TestBedOptions::default()).await?;
    // Slow enough that the kill lands while it runs.
    let slow = "import time\ntime.sleep(1.5)\na, b = map(int, input().split())\nprint(a + b)\n";
    let accepted = bed.client.submit(&python(slow)).await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let trace = accepted["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let mut first = bed.worker.take().expect("worker");
    let compiled = first
        .process
        .wait_for_log(PATIENCE, |v| {
            v["message"] == "compiled" && v["trace_id"] == trace.as_str()
        })
        .await;
    assert!(compiled.is_some(), "the first worker started judging");
    first.process.kill().await?;

    let second = bed.start_worker().await?;
    let done = bed.client.wait_done(&id).await?;
    assert_eq!(done["verdict"], "Accepted", "{done}");
    assert!(
        second
            .process
            .json_logs()
            .iter()
            .any(|v| v["message"] == "submission judged" && v["trace_id"] == trace.as_str()),
        "the second worker judged it"
    );
    tally(&bed, &[id], "Accepted").await
}

/// Processes whose parent is `parent` and whose command line contains `word`.
fn children_running(parent: u32, word: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains(word) {
            found.push(pid);
        }
    }
    found
}

/// A submission whose judging kills the worker (here: kill -9, as the OOM killer would) is
/// judged again in a process of its own; when that one dies too, the submission gets a
/// ServerError saying so, and the worker goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_that_kills_its_judge_twice_gets_a_verdict_not_a_crash_loop()
-> anyhow::Result<()> {
    let mut bed = TestBed::start(binaries!(), "crashloop", TestBedOptions::default()).await?;
    let slow = "import time\ntime.sleep(3)\na, b = map(int, input().split())\nprint(a + b)\n";
    let accepted = bed.client.submit(&python(slow)).await?;
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let trace = accepted["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let compiled = |v: &Value| v["message"] == "compiled" && v["trace_id"] == trace.as_str();

    // The first worker dies while judging it.
    let mut first = bed.worker.take().expect("worker");
    assert!(
        first
            .process
            .wait_for_log(PATIENCE, compiled)
            .await
            .is_some()
    );
    first.process.kill().await?;

    // The redelivery is judged in a child process of the next worker, which dies too.
    let second = bed.start_worker().await?;
    assert!(
        second
            .process
            .wait_for_log(PATIENCE, compiled)
            .await
            .is_some(),
        "the redelivery was judged: {}",
        second.process.output()
    );
    let worker_pid = second.process.pid().expect("worker pid");
    let judges = children_running(worker_pid, "judge-batch");
    assert_eq!(judges.len(), 1, "one judge process: {judges:?}");
    // SAFETY: kill(2) on the judge process found above.
    assert_eq!(unsafe { libc::kill(judges[0], libc::SIGKILL) }, 0);

    let done = bed.client.wait_done(&id).await?;
    assert_eq!(done["verdict"], "ServerError", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("crashed the judge process") && error.contains("signal 9"),
        "{done}"
    );
    // Not retried: exactly one result stored, and the same worker judges the next one.
    let next = bed.client.submit(&python(A_PLUS_B)).await?;
    let next_id = next["id"].as_str().unwrap_or_default().to_string();
    let next_done = bed.client.wait_done(&next_id).await?;
    assert_eq!(next_done["verdict"], "Accepted", "{next_done}");
    assert!(children_running(worker_pid, "judge-batch").is_empty());
    let counts = finalized(&bed.api.process);
    assert_eq!(counts.get(&id).copied(), Some(1), "{counts:?}");
    drop(second);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connections_cut_for_ten_seconds_lose_nothing() -> anyhow::Result<()> {
    let api_link = TcpProxy::start("127.0.0.1:5672".parse()?).await?;
    let worker_link = TcpProxy::start("127.0.0.1:5672".parse()?).await?;
    let bed = TestBed::start(
        binaries!(),
        "brokercut",
        TestBedOptions {
            api_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", api_link.address())),
            worker_amqp_url: Some(format!("amqp://guest:guest@{}/%2f", worker_link.address())),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = Vec::new();
    for (link, name) in [(&api_link, "client-api"), (&worker_link, "judge-worker")] {
        for _ in 0..3 {
            ids.push(
                bed.client.submit(&python(A_PLUS_B)).await?["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        link.cut().await;
        let cut_at = tokio::time::Instant::now();
        // Submissions keep being accepted during the outage.
        while cut_at.elapsed() < std::time::Duration::from_secs(10) {
            ids.push(
                bed.client.submit(&python(A_PLUS_B)).await?["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        link.restore();
        println!("{name}'s broker connection was cut for 10 s");
    }
    tally(&bed, &ids, "Accepted").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_gives_503_then_recovers_without_restart() -> anyhow::Result<()> {
    let db_link = TcpProxy::start("127.0.0.1:5432".parse()?).await?;
    let bed = TestBed::start(
        binaries!(),
        "dbcut",
        TestBedOptions {
            api_postgres_url: Some(format!("postgres://postgres@{}", db_link.address())),
            ..Default::default()
        },
    )
    .await?;
    let before = bed.client.submit(&python(A_PLUS_B)).await?;

    db_link.cut().await;
    let (status, headers, body) = bed
        .client
        .post("/api/v1/submissions", &python(A_PLUS_B))
        .await?;
    assert_eq!(status, 503, "{body}");
    assert!(headers.get("retry-after").is_some());
    assert_eq!(body["status"], 503);
    let (status, _, ready) = bed.client.get("/readyz").await?;
    assert_eq!(status, 503);
    assert!(
        ready["database"]
            .as_str()
            .unwrap_or_default()
            .starts_with("down"),
        "{ready}"
    );
    assert_eq!(ready["broker"], "ok");

    db_link.restore();
    let after = bed.client.submit(&python(A_PLUS_B)).await?;
    let ids = [before, after].map(|a| a["id"].as_str().unwrap_or_default().to_string());
    tally(&bed, &ids, "Accepted").await?;
    let (status, _, _) = bed.client.get("/readyz").await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_endpoint_that_never_answers_does_not_slow_judging() -> anyhow::Result<()> {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", silent.local_addr()?);
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let bed = TestBed::start(
        binaries!(),
        "otlpsilent",
        TestBedOptions {
            otlp_endpoint: Some(endpoint),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            bed.client.submit(&python(A_PLUS_B)).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    tally(&bed, &ids, "Accepted").await?;
    held.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_submissions_survive_workers_killed_and_restarted() -> anyhow::Result<()> {
    let mut bed = TestBed::start(
        binaries!(),
        "churn",
        TestBedOptions {
            api_env: vec![("RATE_LIMIT_PER_SECOND", "0".into())],
            ..Default::default()
        },
    )
    .await?;
    let mut workers = [
        bed.worker.take().expect("worker"),
        bed.start_worker().await?,
    ];

    let submit = {
        let client = bed.client.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..1000 {
                let accepted = client.submit(&python(A_PLUS_B)).await?;
                ids.push(accepted["id"].as_str().unwrap_or_default().to_string());
            }
            anyhow::Ok(ids)
        })
    };
    // Replace a worker every time the other one has judged a few more submissions: half of
    // them by SIGKILL (a crash), half by SIGTERM (a rolling restart).
    let mut restarts = 0;
    while !submit.is_finished() || restarts < 6 {
        let survivor = &workers[1 - restarts % 2];
        let judged_before = judged(&survivor.process.json_logs());
        let progressed = survivor
            .process
            .wait_until(PATIENCE, |logs| judged(logs) >= judged_before + 10)
            .await;
        if !progressed {
            break;
        }
        let victim = &mut workers[restarts % 2];
        if restarts % 2 == 0 {
            victim.process.kill().await?;
        } else {
            let code = victim.process.terminate().await?;
            assert_eq!(code, Some(0), "a worker stopped with SIGTERM exits cleanly");
        }
        workers[restarts % 2] = bed.start_worker().await?;
        restarts += 1;
        if restarts > 40 {
            break;
        }
    }
    let ids = submit.await??;
    println!("{restarts} worker restarts");
    assert!(restarts >= 6, "workers were restarted while judging");
    tally(&bed, &ids, "Accepted").await
}

fn judged(logs: &[Value]) -> usize {
    logs.iter()
        .filter(|v| v["message"] == "submission judged")
        .count()
}
