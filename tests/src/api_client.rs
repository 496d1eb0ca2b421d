//! The HTTP calls tests make against client-api.

use serde_json::{Value, json};

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client that sends `token` as its bearer token (none: anonymous).
    pub fn new(base: &str, token: Option<&str>) -> Self {
        ApiClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            token: token.map(String::from),
        }
    }

    /// A request with this client's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST` a JSON body; returns status, headers and the parsed body.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Value)> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await?;
        Self::parts(response).await
    }

    /// `POST` raw bytes as JSON.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Value)> {
        let response = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        Self::parts(response).await
    }

    pub async fn get(
        &self,
        path: &str,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Value)> {
        let response = self.request(reqwest::Method::GET, path).send().await?;
        Self::parts(response).await
    }

    async fn parts(
        response: reqwest::Response,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Value)> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok((status, headers, body))
    }

    /// Creates a problem; returns its id.
    pub async fn create_problem(
        &self,
        testcases: &[(&str, &str)],
        time_limit_ms: u32,
        memory_limit_mb: u32,
    ) -> anyhow::Result<i64> {
        let cases: Vec<Value> = testcases
            .iter()
            .map(|(i, o)| json!({"input": i, "output": o}))
            .collect();
        let (status, _, body) = self
            .post(
                "/api/v1/problems",
                &json!({"title": "test problem", "time_limit_ms": time_limit_ms,
                        "memory_limit_mb": memory_limit_mb, "testcases": cases}),
            )
            .await?;
        anyhow::ensure!(status == 201, "create problem: {status} {body}");
        body["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no id in {body}"))
    }

    /// Submits; returns the 202 body.
    pub async fn submit(&self, body: &Value) -> anyhow::Result<Value> {
        let (status, headers, answer) = self.post("/api/v1/submissions", body).await?;
        anyhow::ensure!(status == 202, "submit: {status} {answer}");
        let id = answer["id"].as_str().unwrap_or_default();
        anyhow::ensure!(
            headers.get("location").and_then(|v| v.to_str().ok())
                == Some(&format!("/api/v1/submissions/{id}")),
            "bad Location header: {headers:?}"
        );
        Ok(answer)
    }

    /// Waits (long-polling) until the submission is done; returns its final view.
    pub async fn wait_done(&self, id: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + crate::PATIENCE;
        loop {
            let (status, _, body) = self
                .get(&format!("/api/v1/submissions/{id}?wait_ms=20000"))
                .await?;
            anyhow::ensure!(status == 200, "get submission: {status} {body}");
            if body["status"] == "done" {
                return Ok(body);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "submission {id} not done: {body}"
            );
        }
    }
}
