//! README's "One submission, by hand" is run as written: each `curl` command against a real
//! API and worker, its answer compared with the one README shows. Values that differ from run
//! to run (ids, timestamps, durations) must still have the same type; everything else must be
//! equal, and no field may be missing or extra.

use e2e_tests::{TestBed, TestBedOptions, binaries};
use serde_json::Value;

const README: &str = include_str!("../../README.md");
/// The submission id README's examples use.
const EXAMPLE_ID: &str = "01a217a0-61d6-709e-9ad7-b0acb38305b1";

/// One command and the answer README shows for it.
struct Example {
    command: String,
    answer: String,
}

/// The section's fenced blocks, as (sh command, answer) pairs.
fn examples(section: &str) -> Vec<Example> {
    let start = README
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("README has no section `{section}`"));
    let rest = &README[start + 4 + section.len()..];
    let body = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let text: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((lang.to_string(), text.join("\n")));
        }
    }
    let mut out = Vec::new();
    let mut blocks = blocks.into_iter().peekable();
    while let Some((lang, text)) = blocks.next() {
        if lang == "sh" {
            let answer = match blocks.peek() {
                Some((lang, _)) if lang != "sh" => blocks.next().map(|b| b.1).unwrap_or_default(),
                _ => String::new(),
            };
            out.push(Example {
                command: text,
                answer,
            });
        }
    }
    out
}

/// Keys whose values change from run to run: only their JSON type is compared.
fn varies(key: &str) -> bool {
    key == "trace_id"
        || key == "worker_id"
        || key.ends_with("_at")
        || key.ends_with("_ms")
        || key == "memory_kb"
}

/// Differences between what README shows and what the API answered.
fn compare(path: &str, key: &str, shown: &Value, got: &Value, out: &mut Vec<String>) {
    match (shown, got) {
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("{path}.{k}: shown in README, not in the answer"));
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!(
                    "{path}.{k}: in the answer ({}), not in README",
                    b[k]
                ));
            }
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    compare(&format!("{path}.{k}"), k, v, w, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                compare(&format!("{path}[{i}]"), key, v, w, out);
            }
        }
        (a, b) if varies(key) && std::mem::discriminant(a) != std::mem::discriminant(b) => {
            out.push(format!("{path}: README shows {a}, the answer has {b}"));
        }
        _ if varies(key) => {}
        (a, b) if a != b => out.push(format!("{path}: README shows {a}, the answer has {b}")),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_submission_by_hand_answers_what_readme_shows() -> anyhow::Result<()> {
    let bed = TestBed::start(binaries!(), "readme", TestBedOptions::default()).await?;
    let address = bed.api.base_url.trim_start_matches("http://").to_string();
    let examples = examples("One submission, by hand");
    assert!(examples.len() >= 4, "found {} examples", examples.len());
    let mut submission_id = EXAMPLE_ID.to_string();
    for example in &examples {
        let command = example
            .command
            .replace("localhost:8080", &address)
            .replace(
                "Bearer dev-client",
                &format!("Bearer {}", bed.settings.tokens.clients[0]),
            )
            .replace(
                "Bearer dev-admin",
                &format!("Bearer {}", bed.settings.tokens.admin),
            )
            .replace(EXAMPLE_ID, &submission_id);
        let output = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&command)
            .output()
            .await?;
        assert!(output.status.success(), "{command}: {output:?}");
        let answer = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
        if example.answer.is_empty() {
            continue;
        }
        // `curl -i`: a status line and headers, then the body.
        let (shown_head, shown_body, got_head, got_body) = if example.answer.starts_with("HTTP/") {
            let (sh, sb) = example
                .answer
                .split_once("\n\n")
                .unwrap_or((&example.answer, ""));
            let (gh, gb) = answer.split_once("\n\n").unwrap_or((&answer, ""));
            (
                sh.to_string(),
                sb.to_string(),
                gh.to_string(),
                gb.to_string(),
            )
        } else {
            (
                String::new(),
                example.answer.clone(),
                String::new(),
                answer.clone(),
            )
        };
        let got: Value = serde_json::from_str(got_body.trim())
            .map_err(|e| anyhow::anyhow!("{command}: not JSON ({e}): {answer}"))?;
        if let Some(id) = got["id"].as_str().filter(|_| got["trace_id"].is_string()) {
            submission_id = id.to_string();
        }
        if let Some(line) = shown_head.lines().next() {
            assert_eq!(got_head.lines().next(), Some(line), "{command}");
            for header in shown_head.lines().skip(1) {
                let header = header.replace(EXAMPLE_ID, &submission_id).to_lowercase();
                assert!(
                    got_head.to_lowercase().lines().any(|l| l == header),
                    "{command}: README shows `{header}`, the answer has:\n{got_head}"
                );
            }
        }
        let shown: Value = serde_json::from_str(shown_body.trim())
            .map_err(|e| anyhow::anyhow!("README's answer to {command} is not JSON ({e})"))?;
        let shown = if shown["id"].as_str() == Some(EXAMPLE_ID) {
            let mut shown = shown;
            shown["id"] = Value::String(submission_id.clone());
            shown
        } else {
            shown
        };
        let mut differences = Vec::new();
        compare("", "", &shown, &got, &mut differences);
        assert!(
            differences.is_empty(),
            "{command}\nanswered {got}\n{}",
            differences.join("\n")
        );
    }
    Ok(())
}
