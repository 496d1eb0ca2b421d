//! `GET /openapi.json`: the OpenAPI document, which says exactly what the server does — a
//! contract fuzzer (schemathesis, `tests/tests/openapi_fuzz.rs`) holds the two together.
//!
//! utoipa generates the paths and the response schemas from the handlers' annotations. The
//! rest is stated here, next to the rules it describes, because annotations cannot say it:
//! the request bodies with every constraint the server enforces (lengths, ranges, patterns,
//! `problem_id` xor inline test cases, the language list of this server's table), the bearer
//! schemes per operation, and every error each operation can answer, as
//! `application/problem+json`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::domain::{
    MAX_SOURCE_CHARS, NO_NUL_PATTERN, NON_BLANK_TEXT_PATTERN,
    limits::{MAX_MEMORY_LIMIT_MB, MAX_TIME_LIMIT_MS, MIN_MEMORY_LIMIT_MB, MIN_TIME_LIMIT_MS},
    testcases::MAX_TESTCASES,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Grading pipeline API",
        description = "Submit code, get verdicts and per-stage timings. Every error is \
                       application/problem+json (RFC 9457)."
    ),
    paths(
        super::problems::create_problem,
        super::problems::get_problem,
        super::problems::replace_testcases,
        super::rejudge::rejudge_problem,
        super::rejudge::rejudge_submission,
        super::submit::submit,
        super::get_submission::get_submission,
        super::languages::list_languages,
        super::internal_testcases::get_testcases,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(
        crate::problem_details::ProblemDetails,
        crate::domain::FieldError,
        messaging::Testcase,
        messaging::TestcaseResult,
        messaging::Verdict,
        messaging::contract::TestcaseBundle,
    ))
)]
pub struct ApiDoc;

/// Who may call an operation: the bearer schemes it accepts (an admin token works
/// everywhere a token is needed).
#[derive(Clone, Copy)]
enum Access {
    Public,
    Client,
    Admin,
    Worker,
}

/// Each operation: its access, whether it reads a JSON body, whether it needs the database.
const OPERATIONS: [(&str, &str, Access, bool, bool); 11] = [
    ("/api/v1/problems", "post", Access::Admin, true, true),
    ("/api/v1/problems/{id}", "get", Access::Admin, false, true),
    (
        "/api/v1/problems/{id}/testcases",
        "put",
        Access::Admin,
        true,
        true,
    ),
    (
        "/api/v1/problems/{id}/rejudge",
        "post",
        Access::Admin,
        false,
        true,
    ),
    (
        "/api/v1/submissions/{id}/rejudge",
        "post",
        Access::Admin,
        false,
        true,
    ),
    ("/api/v1/submissions", "post", Access::Client, true, true),
    (
        "/api/v1/submissions/{id}",
        "get",
        Access::Client,
        false,
        true,
    ),
    ("/api/v1/languages", "get", Access::Public, false, false),
    (
        "/internal/v1/problems/{id}/testcases",
        "get",
        Access::Worker,
        false,
        true,
    ),
    ("/healthz", "get", Access::Public, false, false),
    ("/readyz", "get", Access::Public, false, false),
];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/ProblemDetails"}
        }}
    })
}

/// Free text: not blank, no NUL, at most `max` characters.
fn text(max: usize, description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
           "pattern": NON_BLANK_TEXT_PATTERN, "description": description})
}

fn testcases() -> Value {
    json!({"type": "array", "minItems": 1, "maxItems": MAX_TESTCASES,
           "items": {"$ref": "#/components/schemas/Testcase"},
           "description": "At most 16 MiB of inputs and outputs in all."})
}

fn integer(min: u32, max: u32, description: &str) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "description": description})
}

/// The request bodies, as the server validates them.
fn request_schemas(languages: &[&str]) -> Value {
    let language = json!({"type": "string", "enum": languages,
                          "description": "A language id of GET /api/v1/languages."});
    let source = text(MAX_SOURCE_CHARS, "The program's source code.");
    let time = integer(
        MIN_TIME_LIMIT_MS,
        MAX_TIME_LIMIT_MS,
        "CPU time per test case, ms (the language scales it).",
    );
    let memory = integer(
        MIN_MEMORY_LIMIT_MB,
        MAX_MEMORY_LIMIT_MB,
        "Memory, MiB (the language scales it).",
    );
    let run_all = json!({"type": "boolean", "default": false,
        "description": "Run every test case even after one fails (else the rest are Skipped)."});
    json!({
        "Testcase": {
            "type": "object", "additionalProperties": false,
            "required": ["input", "output"],
            "properties": {
                "input": {"type": "string", "pattern": NO_NUL_PATTERN},
                "output": {"type": "string", "pattern": NO_NUL_PATTERN},
            }
        },
        "CreateProblem": {
            "type": "object", "additionalProperties": false,
            "required": ["title", "time_limit_ms", "memory_limit_mb", "testcases"],
            "properties": {
                "title": text(crate::domain::MAX_TITLE_CHARS, "The problem's title."),
                "time_limit_ms": time,
                "memory_limit_mb": memory,
                "testcases": testcases(),
            }
        },
        "ReplaceTestcases": {
            "type": "object", "additionalProperties": false,
            "required": ["testcases"],
            "properties": {"testcases": testcases()}
        },
        "SubmitRequest": {
            "description": "Either a problem's id (its test cases and limits apply), or inline \
                            test cases with their limits.",
            "oneOf": [
                {
                    "title": "Against a problem",
                    "type": "object", "additionalProperties": false,
                    "required": ["language", "source", "problem_id"],
                    "properties": {
                        "language": language, "source": source,
                        "problem_id": {"type": "integer", "format": "int64"},
                        "run_all_testcases": run_all,
                    }
                },
                {
                    "title": "With inline test cases",
                    "type": "object", "additionalProperties": false,
                    "required": ["language", "source", "testcases", "time_limit_ms",
                                 "memory_limit_mb"],
                    "properties": {
                        "language": language, "source": source,
                        "testcases": testcases(), "time_limit_ms": time,
                        "memory_limit_mb": memory, "run_all_testcases": run_all,
                    }
                }
            ]
        }
    })
}

/// The whole document for a server whose language table has `languages`.
pub fn document(languages: &[&str]) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    let schemes = json!({
        "client": {"type": "http", "scheme": "bearer",
                   "description": "A client token (API_TOKENS): submit, read own submissions."},
        "admin": {"type": "http", "scheme": "bearer",
                  "description": "The admin token (ADMIN_TOKEN): problems, any submission."},
        "worker": {"type": "http", "scheme": "bearer",
                   "description": "The worker token (WORKER_TOKEN): internal test cases."},
    });
    doc["components"]["securitySchemes"] = schemes;
    if let (Some(schemas), Value::Object(requests)) = (
        doc["components"]["schemas"].as_object_mut(),
        request_schemas(languages),
    ) {
        schemas.extend(requests);
    }
    for (path, method, access, body, database) in OPERATIONS {
        let Some(op) = doc["paths"][path][method].as_object_mut() else {
            continue;
        };
        op.insert(
            "security".into(),
            match access {
                Access::Public => json!([]),
                Access::Client => json!([{"client": []}, {"admin": []}]),
                Access::Admin => json!([{"admin": []}]),
                Access::Worker => json!([{"worker": []}, {"admin": []}]),
            },
        );
        let responses = op
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(responses) = responses else { continue };
        // Whatever utoipa wrote for errors, they are all problem details.
        for (code, response) in responses.iter_mut() {
            if code.starts_with('4') || code.starts_with('5') {
                let description = response["description"].as_str().unwrap_or("").to_string();
                *response = problem(&description);
            }
        }
        let mut add = |code: &str, description: &str| {
            responses
                .entry(code)
                .or_insert_with(|| problem(description));
        };
        add(
            "405",
            "The path does not have this method (see the Allow header).",
        );
        if !matches!(access, Access::Public) {
            add(
                "401",
                "No token, an unknown token, or not `Authorization: Bearer <token>`.",
            );
            add("403", "A token of a role that may not call this.");
        }
        if matches!(access, Access::Client) {
            add("429", "This client token's rate limit (see Retry-After).");
        }
        if path.contains('{') || body {
            add(
                "400",
                "A malformed path, query or body (not JSON, not an object, wrong types).",
            );
        }
        if path.contains('{') || path == "/api/v1/submissions" {
            add("404", "No such problem or submission.");
        }
        if body {
            add(
                "413",
                "The body is larger than the server accepts (17 MiB).",
            );
            add("415", "The body is not `Content-Type: application/json`.");
            add("422", "The body breaks a rule; `errors` names each field.");
        }
        if database {
            add(
                "503",
                "The database is unavailable; retry (see Retry-After).",
            );
        }
    }
    doc
}

pub async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    let languages: Vec<&str> = state.languages.ids().collect();
    Json(document(&languages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_states_its_access_and_errors_as_problem_details() {
        let doc = document(&["c", "python3"]);
        for (path, method, access, body, _) in OPERATIONS {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            let security = op["security"].as_array().unwrap();
            assert_eq!(
                security.is_empty(),
                matches!(access, Access::Public),
                "{path}"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("405"));
            for (code, response) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {code}"
                    );
                }
            }
            if body {
                assert!(responses.contains_key("422") && responses.contains_key("415"));
            }
        }
        let language = &doc["components"]["schemas"]["SubmitRequest"]["oneOf"][0]["properties"]["language"]
            ["enum"];
        assert_eq!(language, &json!(["c", "python3"]));
        assert_eq!(
            doc["components"]["securitySchemes"]["worker"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn parameters_are_in_the_query() {
        let doc = document(&["c"]);
        let params = doc["paths"]["/api/v1/submissions/{id}"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let wait = params.iter().find(|p| p["name"] == "wait_ms").unwrap();
        assert_eq!(wait["in"], "query");
        assert_eq!(wait["required"], false);
        let params = doc["paths"]["/internal/v1/problems/{id}/testcases"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let version = params.iter().find(|p| p["name"] == "version").unwrap();
        assert_eq!(version["in"], "query");
    }
}
