//! The API against its own OpenAPI document: schemathesis (PyPI `schemathesis`, installed by
//! `.ci/run`) generates requests from `/openapi.json`, valid and invalid, single and chained
//! through the document's links, and runs every check it has (`--checks all`: no 5xx, status
//! codes, content types, headers and bodies as documented, invalid data rejected, valid data
//! accepted, auth not ignored, …) against the real API, worker, broker and database, once per
//! role: admin, client and worker token.
//!
//! Nothing is disabled: with this document every check holds. Should one ever be wrong for a
//! documented reason, exclude only that check (`--exclude-checks NAME`) with the reason beside it.

use e2e_tests::{TestBed, TestBedOptions, binaries};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Fixed, so that a failure found in CI reproduces with the command in the failure message.
const SEED: u32 = 7;

/// Examples per operation for the admin and client runs: ~1,600 cases each, the whole test
/// ~100 s on two busy cores (150 also passes, but takes 2.5–3.2 min there: the worker judges
/// every submission the fuzzer makes, on the same cores). The coverage phase is not bounded by it.
const MAX_EXAMPLES: u32 = 100;

/// Upper bound for one schemathesis run, which ends on its own well before (examples per
/// operation are bounded); only there so that a hung run fails with its output, not hangs.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

const INSTALL_HINT: &str = "this test runs the schemathesis CLI: install it with \
     `pip install schemathesis==4.32.5` (add `--break-system-packages` on an externally \
     managed Python), as .ci/run does";

/// A scratch directory under the system's temp dir, schemathesis' working directory: what it
/// writes (its `.schemathesis/` cache, the reports) never lands in the repository. Removed when
/// the test ends, also when it fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "e2e-api-contract-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn schemathesis(cwd: &Path) -> Command {
    let mut command = Command::new("schemathesis");
    command
        .current_dir(cwd)
        // Hooks from the environment would change what is generated and checked.
        .env_remove("SCHEMATHESIS_HOOKS")
        // The API listens on the loopback: never through a proxy from the environment.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

fn console(output: &Output) -> String {
    format!(
        "--- schemathesis stdout ---\n{}\n--- schemathesis stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The installed version. A missing schemathesis fails the test, saying how to install it.
async fn installed_version(cwd: &Path) -> String {
    let output = match schemathesis(cwd).arg("--version").output().await {
        Ok(output) => output,
        Err(e) => panic!("cannot run `schemathesis --version`: {e}; {INSTALL_HINT}"),
    };
    // A pyenv shim whose Python lacks the package runs, and exits 127.
    assert!(
        output.status.success(),
        "`schemathesis --version` failed ({}); {INSTALL_HINT}\n{}",
        output.status,
        console(&output)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// One schemathesis run.
struct Pass<'a> {
    role: &'static str,
    token: &'a str,
    max_examples: u32,
    /// Only the operations whose path matches this (`--include-path-regex`); all if `None`.
    paths: Option<&'static str>,
}

/// What one run did, from its JSON report (`--report json`).
struct Outcome {
    report: Value,
    console: String,
    elapsed: Duration,
}

impl Outcome {
    /// The operations ("METHOD /path") for which some valid request got a 2xx answer.
    fn accepted(&self) -> BTreeSet<String> {
        let Some(rates) = self.report["valid_rates"].as_object() else {
            return BTreeSet::new();
        };
        rates
            .iter()
            .filter(|(_, phases)| {
                phases.as_object().is_some_and(|phases| {
                    phases
                        .values()
                        .any(|rate| rate["accepted"].as_u64().unwrap_or(0) > 0)
                })
            })
            .map(|(operation, _)| operation.clone())
            .collect()
    }

    fn generated(&self) -> u64 {
        self.report["test_cases"]["generated"].as_u64().unwrap_or(0)
    }
}

async fn run(base_url: &str, scratch: &Path, pass: &Pass<'_>) -> anyhow::Result<Outcome> {
    // A directory per run: schemathesis' cache (e.g. which operations wanted auth) does not
    // carry over from one token's run to the next.
    let cwd = scratch.join(pass.role);
    std::fs::create_dir(&cwd)?;
    let report = cwd.join("report.json");
    let mut args: Vec<String> = vec![
        "run".into(),
        format!("{base_url}/openapi.json"),
        "--checks".into(),
        "all".into(),
        "--seed".into(),
        SEED.to_string(),
        "--max-examples".into(),
        pass.max_examples.to_string(),
    ];
    if let Some(paths) = pass.paths {
        args.extend(["--include-path-regex".into(), paths.into()]);
    }
    // The command for a person to rerun: the same cases, given the same services.
    let reproduce = format!(
        "schemathesis {} -H 'Authorization: Bearer <{} token>'",
        args.join(" "),
        pass.role
    );
    let mut command = schemathesis(&cwd);
    command
        .args(&args)
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", pass.token))
        // No examples saved by earlier runs: the run depends on the seed alone.
        .args(["--generation-database", "none"])
        // A long poll (`?wait_ms=`) ends within the API's cap (get_submission::MAX_WAIT,
        // 60 s); a request hanging well past it is a failure.
        .args(["--request-timeout", "90"])
        .args(["--report", "json"])
        .arg("--report-json-path")
        .arg(&report)
        .arg("--no-color");
    let started = Instant::now();
    let output = match tokio::time::timeout(RUN_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("cannot run `schemathesis run`: {e}; {INSTALL_HINT}"),
        Err(_) => panic!(
            "schemathesis with the {} token did not finish within {RUN_TIMEOUT:?}",
            pass.role
        ),
    };
    let elapsed = started.elapsed();
    let console = console(&output);
    assert!(
        output.status.success(),
        "schemathesis found failures with the {} token ({}); rerun with `{reproduce}` (this \
         test's API has gone by then: start one with the same tokens)\n{console}",
        pass.role,
        output.status,
    );
    let report = std::fs::read_to_string(&report)
        .map_err(|e| anyhow::anyhow!("no JSON report at {}: {e}\n{console}", report.display()))?;
    let report: Value = serde_json::from_str(&report)
        .map_err(|e| anyhow::anyhow!("the JSON report is not JSON: {e}\n{console}"))?;
    let operations = &report["operations"];
    assert!(
        operations["selected"].as_u64().unwrap_or(0) > 0
            && operations["tested"] == operations["selected"]
            && operations["errored"] == 0
            && report["test_cases"]["errored"] == 0,
        "schemathesis with the {} token did not test every operation: {operations}\n{console}",
        pass.role
    );
    Ok(Outcome {
        report,
        console,
        elapsed,
    })
}

/// Every operation in the OpenAPI document, as schemathesis names them ("METHOD /path").
fn operations(document: &Value) -> BTreeSet<String> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut all = BTreeSet::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if item.get(method).is_some() {
                    all.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_what_the_openapi_document_promises() -> anyhow::Result<()> {
    let scratch = Scratch::new()?;
    let version = installed_version(&scratch.0).await;
    let bed = TestBed::start(
        binaries!(),
        "contract",
        TestBedOptions {
            // Thousands of requests with one token, as fast as schemathesis sends them.
            api_env: vec![("RATE_LIMIT_PER_SECOND", "0".into())],
            ..Default::default()
        },
    )
    .await?;
    let (status, _, document) = bed.client.get("/openapi.json").await?;
    assert_eq!(status, 200, "{document}");
    let all = operations(&document);
    assert!(!all.is_empty(), "no operations in {document}");
    let tokens = &bed.settings.tokens;
    let base_url = &bed.api.base_url;

    // The admin may call everything (problems, any submission, the internal endpoint), so valid
    // requests must get through to every operation: otherwise only error paths were checked.
    let admin = run(
        base_url,
        &scratch.0,
        &Pass {
            role: "admin",
            token: &tokens.admin,
            max_examples: MAX_EXAMPLES,
            paths: None,
        },
    )
    .await?;
    let missed: Vec<_> = all.difference(&admin.accepted()).cloned().collect();
    assert!(
        missed.is_empty(),
        "no valid admin request was accepted by {missed:?}\n{}",
        admin.console
    );

    // A client submits and reads its own submissions; problems and test cases are not its.
    let client = run(
        base_url,
        &scratch.0,
        &Pass {
            role: "client",
            token: &tokens.clients[0],
            max_examples: MAX_EXAMPLES,
            paths: None,
        },
    )
    .await?;
    let accepted = client.accepted();
    for own in ["POST /api/v1/submissions", "GET /api/v1/submissions/{id}"] {
        assert!(
            accepted.contains(own),
            "no valid client request was accepted by {own}\n{}",
            client.console
        );
    }
    let trespassed: Vec<_> = accepted
        .iter()
        .filter(|op| op.contains(" /api/v1/problems") || op.contains(" /internal/"))
        .collect();
    assert!(
        trespassed.is_empty(),
        "the client token got a 2xx from {trespassed:?}\n{}",
        client.console
    );

    // The worker token's one operation: test cases, of the problems the admin run created. Only
    // that path: its 403s elsewhere take the same route as the client's, checked above, and the
    // whole document again would cost ~50 s, mostly the coverage phase, which --max-examples
    // does not bound.
    let worker = run(
        base_url,
        &scratch.0,
        &Pass {
            role: "worker",
            token: &tokens.worker,
            max_examples: 20,
            paths: Some("^/internal/"),
        },
    )
    .await?;
    let accepted = worker.accepted();
    assert_eq!(
        accepted.iter().map(String::as_str).collect::<Vec<_>>(),
        ["GET /internal/v1/problems/{id}/testcases"],
        "the operations the worker token got a 2xx from\n{}",
        worker.console
    );

    let judged = bed.worker.as_ref().map_or(0, |w| {
        w.process
            .json_logs()
            .iter()
            .filter(|v| v["message"] == "submission judged")
            .count()
    });
    eprintln!(
        "{version}, seed {SEED}: admin {} cases in {:.1?}, client {} in {:.1?}, worker {} in \
         {:.1?}; {judged} submissions judged meanwhile",
        admin.generated(),
        admin.elapsed,
        client.generated(),
        client.elapsed,
        worker.generated(),
        worker.elapsed,
    );
    Ok(())
}
