//! The HTTP API's contract: validation with precise problem details, problems and their
//! versions, the internal test-case endpoint, languages, health, OpenAPI, long polling.

use e2e_tests::{TestBed, TestBedOptions, binaries};
use serde_json::{Value, json};

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["field"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_get_precise_problem_details() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "validation",
        TestBedOptions {
            no_worker: true,
            ..Default::default()
        },
    )
    .await?;
    let client = &bed.client;
    let problem = bed
        .admin
        .create_problem(&[("1\n", "1\n")], 1000, 64)
        .await?;
    let inline = |patch: Value| {
        let mut body = json!({"language": "c", "source": "int main(){}", "time_limit_ms": 1000,
            "memory_limit_mb": 64, "testcases": [{"input": "", "output": ""}]});
        if let (Some(b), Some(p)) = (body.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        body
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            inline(json!({"language": "rust"})),
            "language",
            "unknown language",
        ),
        (inline(json!({"source": ""})), "source", "blank"),
        (inline(json!({"source": " \n\t "})), "source", "blank"),
        (inline(json!({"source": "int\u{0}main"})), "source", "NUL"),
        (
            inline(json!({"source": "x".repeat(64 * 1024 + 1)})),
            "source",
            "65537 characters",
        ),
        (
            inline(json!({"time_limit_ms": 99})),
            "time_limit_ms",
            "between 100 and 10000",
        ),
        (
            inline(json!({"time_limit_ms": 10_001})),
            "time_limit_ms",
            "between",
        ),
        (
            inline(json!({"memory_limit_mb": 15})),
            "memory_limit_mb",
            "between 16 and 1024",
        ),
        (
            inline(json!({"memory_limit_mb": 1025})),
            "memory_limit_mb",
            "between",
        ),
        (
            inline(json!({"testcases": []})),
            "testcases",
            "at least one",
        ),
        (
            inline(json!({"testcases": null})),
            "problem_id",
            "either problem_id or inline",
        ),
        (
            json!({"language": "c", "source": "int main(){}", "problem_id": problem,
                   "testcases": [{"input": "", "output": ""}]}),
            "testcases",
            "not both",
        ),
    ];
    // A well-formed submission for a problem that does not exist: 404, not a rule broken.
    let (status, headers, answer) = client
        .post(
            "/api/v1/submissions",
            &json!({"language": "c", "source": "int main(){}", "problem_id": problem + 1000}),
        )
        .await?;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    for (body, field, needle) in cases {
        let (status, headers, answer) = client.post("/api/v1/submissions", &body).await?;
        assert_eq!(status, 422, "{field}: {answer}");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        assert_eq!(answer["status"], 422);
        assert!(
            fields(&answer).contains(&field.to_string()),
            "{field}: {answer}"
        );
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{field} should mention `{needle}`: {answer}"
        );
    }

    // Malformed JSON, a wrong type and an unknown field are 400s naming the problem.
    let (status, headers, answer) = client
        .post_raw("/api/v1/submissions", b"{\"language\": \"c\",".to_vec())
        .await?;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("EOF")
    );
    let (status, _, answer) = client
        .post(
            "/api/v1/submissions",
            &inline(json!({"time_limit_ms": "fast"})),
        )
        .await?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("time_limit_ms")
    );
    let (status, _, answer) = client
        .post("/api/v1/submissions", &inline(json!({"priority": 1})))
        .await?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("priority")
    );

    // Bytes that are not UTF-8, NUL characters, and bodies past the size cap.
    let (status, _, answer) = client
        .post_raw(
            "/api/v1/submissions",
            b"{\"language\": \"c\", \"source\": \"\xff\xfe\"}".to_vec(),
        )
        .await?;
    assert_eq!(status, 400, "{answer}");
    let (status, _, answer) = client
        .post(
            "/api/v1/submissions",
            &inline(json!({"source": "int main(){}\u{0}"})),
        )
        .await?;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("NUL")
    );
    let huge = vec![b' '; 18 * 1024 * 1024];
    // A client of its own: the server closes a connection whose body it refused to read.
    let oversize = bed.client_with(Some(&bed.settings.tokens.clients[0]));
    let (status, headers, answer) = oversize.post_raw("/api/v1/submissions", huge).await?;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );

    // Nothing invalid was stored.
    let (status, _, answer) = client.get("/api/v1/submissions/not-a-uuid").await?;
    assert_eq!(status, 404, "{answer}");
    let (status, _, _) = client
        .get(&format!("/api/v1/submissions/{}", uuid::Uuid::now_v7()))
        .await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_languages_health_and_openapi() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "apimisc",
        TestBedOptions {
            no_worker: true,
            api_env: vec![("GRAFANA_URL", "http://grafana.example:3000".into())],
            ..Default::default()
        },
    )
    .await?;
    let client = &bed.client;
    let admin = &bed.admin;
    let internal = bed.client_with(Some(&bed.settings.tokens.worker));

    let (status, _, answer) = admin
        .post(
            "/api/v1/problems",
            &json!({"title": "", "time_limit_ms": 50, "memory_limit_mb": 64, "testcases": []}),
        )
        .await?;
    assert_eq!(status, 422);
    let mut bad = fields(&answer);
    bad.sort();
    assert_eq!(bad, ["testcases", "time_limit_ms", "title"]);

    let id = admin.create_problem(&[("1 2\n", "3\n")], 1500, 128).await?;
    let (status, _, problem) = admin.get(&format!("/api/v1/problems/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(problem["time_limit_ms"], 1500);
    assert_eq!(problem["version"], 1);
    assert_eq!(problem["testcase_count"], 1);
    let (status, _, _) = admin
        .get(&format!("/api/v1/problems/{}", id + 1000))
        .await?;
    assert_eq!(status, 404);

    let (status, headers, bundle) = internal
        .get(&format!("/internal/v1/problems/{id}/testcases?version=1"))
        .await?;
    assert_eq!(status, 200);
    assert!(
        headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("immutable") && v.starts_with("private")),
        "a version never changes, and no shared cache may keep it: {headers:?}"
    );
    assert_eq!(bundle["testcases"][0]["output"], "3\n");
    let (status, _, _) = internal
        .get(&format!("/internal/v1/problems/{id}/testcases?version=2"))
        .await?;
    assert_eq!(status, 404);

    let (_, _, languages) = client.get("/api/v1/languages").await?;
    let ids: Vec<&str> = languages
        .as_array()
        .map(|a| a.iter().filter_map(|l| l["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["c", "cpp", "java", "python3"]);

    let (status, _, _) = client.get("/healthz").await?;
    assert_eq!(status, 200);
    let (status, _, ready) = client.get("/readyz").await?;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["broker"], "ok");

    let (status, _, doc) = client.get("/openapi.json").await?;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/submissions",
        "/api/v1/submissions/{id}",
        "/api/v1/problems",
        "/api/v1/problems/{id}/testcases",
        "/internal/v1/problems/{id}/testcases",
        "/api/v1/languages",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }

    // No worker runs here: the submission stays queued, and a long poll times out with it.
    let accepted = client
        .submit(&json!({"problem_id": id, "language": "python3", "source": "print(3)"}))
        .await?;
    assert!(
        accepted["trace_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://grafana.example:3000/explore")),
        "{accepted}"
    );
    assert_eq!(accepted["trace_sampled"], true, "{accepted}");
    // A caller whose trace is not sampled keeps its trace id, but gets no link to a trace
    // that will never exist, and is told so.
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let response = client
        .request(reqwest::Method::POST, "/api/v1/submissions")
        .header(
            "traceparent",
            format!("00-{unsampled_trace}-b7ad6b7169203331-00"),
        )
        .json(&json!({"problem_id": id, "language": "python3", "source": "print(3)"}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 202);
    let unsampled: serde_json::Value = response.json().await?;
    assert_eq!(unsampled["trace_id"], unsampled_trace, "{unsampled}");
    assert_eq!(unsampled["trace_sampled"], false, "{unsampled}");
    assert!(unsampled.get("trace_url").is_none(), "{unsampled}");
    let (_, _, unsampled_view) = client
        .get(&format!(
            "/api/v1/submissions/{}",
            unsampled["id"].as_str().unwrap_or_default()
        ))
        .await?;
    assert_eq!(unsampled_view["trace_sampled"], false, "{unsampled_view}");
    assert!(
        unsampled_view.get("trace_url").is_none(),
        "{unsampled_view}"
    );

    let submission = accepted["id"].as_str().unwrap_or_default();
    let started = std::time::Instant::now();
    let (status, _, view) = client
        .get(&format!("/api/v1/submissions/{submission}?wait_ms=300"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "queued");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "held until wait_ms"
    );
    assert!(view["timings"]["published_at"].is_string(), "{view}");
    assert!(
        view["timings"]["api_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_is_woken_by_the_result() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "longpoll", TestBedOptions::default()).await?;
    let accepted = bed
        .client
        .submit(&json!({"language": "python3", "source": "print(input())",
            "time_limit_ms": 1000, "memory_limit_mb": 64,
            "testcases": [{"input": "hi\n", "output": "hi\n"}]}))
        .await?;
    let id = accepted["id"].as_str().unwrap_or_default();
    // One request, held up to 60 s, returns with the verdict as soon as it is stored.
    let (status, _, view) = bed
        .client
        .get(&format!("/api/v1/submissions/{id}?wait_ms=60000"))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "done", "{view}");
    assert_eq!(view["verdict"], "Accepted");
    let t = &view["timings"];
    for key in [
        "api_ms",
        "queue_wait_ms",
        "testcase_fetch_ms",
        "compile_ms",
        "run_ms",
        "result_delivery_ms",
        "end_to_end_ms",
    ] {
        assert!(t[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {t}");
    }
    let sum: f64 = [
        "api_ms",
        "queue_wait_ms",
        "compile_ms",
        "run_ms",
        "result_delivery_ms",
    ]
    .iter()
    .filter_map(|k| t[*k].as_f64())
    .sum();
    assert!(
        sum <= t["end_to_end_ms"].as_f64().unwrap_or(0.0) + 1.0,
        "stages fit in end-to-end: {t}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_ownership_and_rate_limits() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "access",
        TestBedOptions {
            no_worker: true,
            api_env: vec![
                ("RATE_LIMIT_PER_SECOND", "1".into()),
                ("RATE_LIMIT_BURST", "8".into()),
            ],
            ..Default::default()
        },
    )
    .await?;
    let tokens = &bed.settings.tokens;
    let anonymous = bed.client_with(None);
    let forged = bed.client_with(Some("not-a-token"));
    let other_client = bed.client_with(Some(&tokens.clients[1]));
    let worker = bed.client_with(Some(&tokens.worker));
    let submission = json!({"language": "python3", "source": "print(1)", "time_limit_ms": 1000,
        "memory_limit_mb": 64, "testcases": [{"input": "", "output": "1\n"}]});

    // No token, or a wrong one: 401 with a challenge, as problem details.
    for who in [&anonymous, &forged] {
        let (status, headers, body) = who.post("/api/v1/submissions", &submission).await?;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
    // A valid token of the wrong role: 403.
    let problem = json!({"title": "t", "time_limit_ms": 1000, "memory_limit_mb": 64,
        "testcases": [{"input": "", "output": ""}]});
    let (status, _, body) = bed.client.post("/api/v1/problems", &problem).await?;
    assert_eq!(status, 403, "clients do not manage problems: {body}");
    let (status, _, _) = worker.post("/api/v1/submissions", &submission).await?;
    assert_eq!(status, 403, "the worker token does not submit");
    let (status, _, _) = bed.client.get("/internal/v1/problems/1/testcases").await?;
    assert_eq!(status, 403, "clients do not read test cases");

    // A client reads its own submissions only; the admin reads all.
    let mine = bed.client.submit(&submission).await?;
    let path = format!(
        "/api/v1/submissions/{}",
        mine["id"].as_str().unwrap_or_default()
    );
    let (status, _, _) = bed.client.get(&path).await?;
    assert_eq!(status, 200);
    let (status, _, body) = other_client.get(&path).await?;
    assert_eq!(
        status, 404,
        "another client's submission looks missing: {body}"
    );
    let (status, _, _) = bed.admin.get(&path).await?;
    assert_eq!(status, 200);

    // The burst is 8 requests; the 9th within the second is refused with Retry-After.
    let mut limited = None;
    for _ in 0..20 {
        let (status, headers, body) = other_client.get(&path).await?;
        if status == 429 {
            limited = Some((headers, body));
            break;
        }
    }
    let (headers, body) = limited.expect("the rate limit applies");
    assert!(
        headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{headers:?}"
    );
    assert_eq!(body["status"], 429);
    // Limits are per token: the first client is not affected.
    let (status, _, _) = bed.client.get(&path).await?;
    assert_eq!(status, 200);

    // Tokens never reach the logs.
    let output = bed.api.process.output();
    for secret in [
        &tokens.clients[0],
        &tokens.clients[1],
        &tokens.admin,
        &tokens.worker,
    ] {
        assert!(!output.contains(secret.as_str()), "a token was logged");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_refuse_to_start_without_tokens() -> anyhow::Result<()> {
    let bin = binaries!();
    for exe in [bin.api, bin.worker] {
        let output = tokio::process::Command::new(exe)
            .env_clear()
            .env(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/never_created",
            )
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .output()
            .await?;
        assert!(
            !output.status.success(),
            "{exe} must not start without tokens"
        );
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            text.contains("--insecure-dev"),
            "{exe} says how to proceed: {text}"
        );
    }
    Ok(())
}

/// Every error is `application/problem+json` with type, title, status and detail — extractor
/// rejections, unknown routes and wrong methods included — and the smaller contract points a
/// careful client notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_a_problem_and_the_contract_holds() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "contract",
        TestBedOptions {
            no_worker: true,
            ..Default::default()
        },
    )
    .await?;
    let admin = &bed.admin;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", bed.api.base_url);
    let admin_token = format!("Bearer {}", bed.settings.tokens.admin);
    let client_token = format!("Bearer {}", bed.settings.tokens.clients[0]);
    let id = admin.create_problem(&[("1 2\n", "3\n")], 1000, 64).await?;

    async fn problem_of(response: reqwest::Response) -> anyhow::Result<(u16, Value)> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(content_type, "application/problem+json", "{status}: {body}");
        for key in ["type", "title", "detail"] {
            assert!(body[key].is_string(), "{key} in {body}");
        }
        assert_eq!(body["status"], status, "{body}");
        Ok((status, body))
    }

    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        // Path and query extraction failures.
        (
            http.get(url("/api/v1/problems/abc"))
                .header("authorization", &admin_token),
            400,
        ),
        (
            http.get(url("/api/v1/problems/99999999999999999999"))
                .header("authorization", &admin_token),
            400,
        ),
        (
            http.get(url(
                "/api/v1/submissions/01a217a0-61d6-709e-9ad7-b0acb38305b1?wait_ms=abc",
            ))
            .header("authorization", &client_token),
            400,
        ),
        (
            http.get(url(
                "/api/v1/submissions/01a217a0-61d6-709e-9ad7-b0acb38305b1?wait_ms=60001",
            ))
            .header("authorization", &client_token),
            400,
        ),
        (
            http.get(url(&format!(
                "/internal/v1/problems/{id}/testcases?version=0"
            )))
            .header("authorization", &admin_token),
            400,
        ),
        // Unknown routes and wrong methods, before any token is asked for.
        (http.get(url("/api/v1/nothing-here")), 404),
        (http.delete(url("/api/v1/submissions")), 405),
        (http.post(url("/api/v1/problems/1")), 405),
        // Bodies: none, not JSON, a JSON array.
        (
            http.put(url(&format!("/api/v1/problems/{id}/testcases")))
                .header("authorization", &admin_token),
            415,
        ),
        (
            http.post(url("/api/v1/problems"))
                .header("authorization", &admin_token)
                .header("content-type", "application/json")
                .body("[\"A+B\", 1000, 64, []]"),
            400,
        ),
        (
            http.post(url("/api/v1/submissions"))
                .header("authorization", &client_token)
                .header("content-type", "application/json")
                .body("[\"c\", \"int main(){}\"]"),
            400,
        ),
        // A NUL in a problem title: a rule, not a database error.
        (
            http.post(url("/api/v1/problems"))
                .header("authorization", &admin_token)
                .json(
                    &json!({"title": "A\u{0}B", "time_limit_ms": 1000, "memory_limit_mb": 64,
                              "testcases": [{"input": "", "output": ""}]}),
                ),
            422,
        ),
        // No token: 401 with the scheme to use.
        (http.get(url(&format!("/api/v1/problems/{id}"))), 401),
    ];
    for (request, want) in cases {
        let (status, body) = problem_of(request.send().await?).await?;
        assert_eq!(status, want, "{body}");
    }
    let wrong_method = http.delete(url("/api/v1/submissions")).send().await?;
    assert_eq!(
        wrong_method
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );

    // The bearer scheme is case-insensitive (RFC 9110 §11.1).
    let lower = http
        .get(url(&format!("/api/v1/problems/{id}")))
        .header(
            "authorization",
            format!("bearer {}", bed.settings.tokens.admin),
        )
        .send()
        .await?;
    assert_eq!(lower.status().as_u16(), 200);

    // Integers written as floats are integers (JSON Schema's `integer` includes them).
    let (status, _, created) = admin
        .post(
            "/api/v1/problems",
            &json!({"title": "floats", "time_limit_ms": 185.0, "memory_limit_mb": 64.0,
                    "testcases": [{"input": "", "output": ""}]}),
        )
        .await?;
    assert_eq!(status, 201, "{created}");
    let (status, _, fraction) = admin
        .post(
            "/api/v1/problems",
            &json!({"title": "floats", "time_limit_ms": 185.5, "memory_limit_mb": 64,
                    "testcases": [{"input": "", "output": ""}]}),
        )
        .await?;
    assert_eq!(status, 400, "{fraction}");

    // Hidden test cases are never for a shared cache.
    let (_, headers, _) = bed
        .client_with(Some(&bed.settings.tokens.worker))
        .get(&format!("/internal/v1/problems/{id}/testcases?version=1"))
        .await?;
    let cache = headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        cache.starts_with("private") && cache.contains("immutable"),
        "{cache}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_judging_while_a_worker_has_it() -> anyhow::Result<()> {
    let bed = TestBed::start(
        binaries!(),
        "judging",
        TestBedOptions {
            api_env: vec![("RATE_LIMIT_PER_SECOND", "0".into())],
            ..Default::default()
        },
    )
    .await?;
    // Runs into its time limit (1 s, scaled for Python): long enough to be seen being judged.
    let accepted = bed
        .client
        .submit(
            &json!({"language": "python3", "source": "while True:\n    pass\n",
                        "time_limit_ms": 1000, "memory_limit_mb": 64,
                        "testcases": [{"input": "", "output": ""}]}),
        )
        .await?;
    assert_eq!(accepted["status"], "queued", "{accepted}");
    let id = accepted["id"].as_str().unwrap_or_default().to_string();
    let deadline = tokio::time::Instant::now() + e2e_tests::PATIENCE;
    let mut seen = vec!["queued".to_string()];
    let mut judging_view = Value::Null;
    loop {
        let (status, _, view) = bed.client.get(&format!("/api/v1/submissions/{id}")).await?;
        assert_eq!(status, 200, "{view}");
        let now = view["status"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&now) {
            if now == "judging" {
                judging_view = view.clone();
            }
            seen.push(now.clone());
        }
        if now == "done" {
            assert_eq!(view["verdict"], "TimeLimitExceeded", "{view}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck: {view}");
        // Polling, as a client would; the statuses are what is under test.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, ["queued", "judging", "done"]);
    assert!(judging_view["worker_id"].is_string(), "{judging_view}");
    assert!(
        judging_view["timings"]["consumed_at"].is_string(),
        "{judging_view}"
    );
    assert!(judging_view["verdict"].is_null(), "{judging_view}");
    Ok(())
}
