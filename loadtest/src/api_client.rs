//! The client-api calls the load generator makes; the shapes of requests and answers are
//! the API's own (`api-contract`).
//!
//! Problems are created with the admin token; each submission is sent, and read back, with
//! one of the client tokens (taking turns, like many users), or the admin token when no
//! client token is given. A submission is readable only with the token that sent it.

use crate::workload::ProblemSpec;
pub use api_contract::{SubmissionView, SubmitRequest, SubmitResponse, Timings};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Headers to send with a request (the trace context, when there is one).
pub type ExtraHeaders = Vec<(String, String)>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("{method} {path}: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
}

/// The bearer tokens the generator sends.
#[derive(Clone, Default)]
pub struct Tokens {
    /// For creating problems (`ADMIN_TOKEN`).
    pub admin: Option<String>,
    /// For submitting and reading submissions (`API_TOKENS`), used in turn.
    pub clients: Vec<String>,
}

impl std::fmt::Debug for Tokens {
    /// Never prints a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("admin", &self.admin.as_ref().map(|_| "…"))
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl Tokens {
    /// The token for submission `index`: the client tokens in turn, else the admin token.
    pub fn for_submission(&self, index: u64) -> Option<&str> {
        if self.clients.is_empty() {
            return self.admin.as_deref();
        }
        let turn = usize::try_from(index % self.clients.len() as u64).unwrap_or(0);
        self.clients.get(turn).map(String::as_str)
    }
}

/// An HTTP client for one API base URL. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    tokens: Tokens,
}

fn with_token(builder: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    }
}

/// How long any single request may take beyond what it asks the server to wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl ApiClient {
    pub fn new(base_url: &str, tokens: Tokens) -> Result<ApiClient, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .user_agent(concat!("loadtest/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ApiClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            tokens,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The language ids the API accepts.
    pub async fn languages(&self) -> Result<Vec<String>, ApiError> {
        #[derive(Deserialize)]
        struct Language {
            id: String,
        }
        let path = "/api/v1/languages";
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let languages: Vec<Language> = expect_status(response, "GET", path, 200)
            .await?
            .json()
            .await?;
        Ok(languages.into_iter().map(|l| l.id).collect())
    }

    /// Creates a problem; returns its id.
    pub async fn create_problem(&self, spec: &ProblemSpec) -> Result<i64, ApiError> {
        #[derive(Deserialize)]
        struct Created {
            id: i64,
        }
        let testcases: Vec<serde_json::Value> = spec
            .testcases
            .iter()
            .map(|(input, output)| json!({"input": input, "output": output}))
            .collect();
        let body = json!({
            "title": format!("loadtest: {}", spec.title),
            "time_limit_ms": spec.limits.time_limit_ms,
            "memory_limit_mb": spec.limits.memory_limit_mb,
            "testcases": testcases,
        });
        let path = "/api/v1/problems";
        let response = with_token(
            self.http.post(format!("{}{path}", self.base)),
            self.tokens.admin.as_deref(),
        )
        .timeout(REQUEST_TIMEOUT)
        .json(&body)
        .send()
        .await?;
        let created: Created = expect_status(response, "POST", path, 201)
            .await?
            .json()
            .await?;
        Ok(created.id)
    }

    /// Submits with `token` (see [`Tokens::for_submission`]).
    pub async fn submit(
        &self,
        request: &SubmitRequest,
        token: Option<&str>,
        headers: &ExtraHeaders,
    ) -> Result<SubmitResponse, ApiError> {
        let path = "/api/v1/submissions";
        let mut builder = with_token(self.http.post(format!("{}{path}", self.base)), token)
            .timeout(REQUEST_TIMEOUT)
            .json(request);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await?;
        Ok(expect_status(response, "POST", path, 202)
            .await?
            .json()
            .await?)
    }

    /// Long-polls the submission for up to `wait` (the server caps it at 60 s), with the
    /// token that submitted it.
    pub async fn wait_for(
        &self,
        id: uuid::Uuid,
        wait: Duration,
        token: Option<&str>,
        headers: &ExtraHeaders,
    ) -> Result<SubmissionView, ApiError> {
        let path = format!("/api/v1/submissions/{id}");
        let wait_ms = wait.as_millis().min(60_000);
        let url = format!("{}{path}?wait_ms={wait_ms}", self.base);
        let mut builder = with_token(self.http.get(url), token).timeout(wait + REQUEST_TIMEOUT);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await?;
        Ok(expect_status(response, "GET", &path, 200)
            .await?
            .json()
            .await?)
    }
}

async fn expect_status(
    response: reqwest::Response,
    method: &'static str,
    path: &str,
    expected: u16,
) -> Result<reqwest::Response, ApiError> {
    let status = response.status().as_u16();
    if status == expected {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(ApiError::Status {
        method,
        path: path.to_string(),
        status,
        body: body.chars().take(500).collect(),
    })
}
