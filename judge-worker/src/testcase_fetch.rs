//! Test cases from the API, by problem id and version, kept in a bounded in-memory cache.
//!
//! A version never changes, so a cached set is valid for good; a cache hit costs no HTTP call
//! and no span. A miss is one `GET /internal/v1/problems/{id}/testcases?version=N` under a
//! CLIENT span whose context goes out in `traceparent`, so the API's SERVER span joins the
//! submission's trace.

use crate::metrics::WorkerMetrics;
use messaging::Testcase;
use messaging::contract::TestcaseBundle;
use messaging::semconv::span;
use opentelemetry::KeyValue;
use opentelemetry::propagation::Injector;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Total bytes of inputs and outputs kept in memory.
const MAX_CACHED_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The API does not know this problem or version: retrying will not help.
    #[error("the API has no test cases for problem {problem_id} version {version}")]
    NotFound { problem_id: i64, version: i32 },
    /// The API could not be reached or failed: worth retrying.
    #[error("cannot fetch test cases from the API: {0}")]
    Unavailable(String),
}

struct Entry {
    testcases: Arc<Vec<Testcase>>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(i64, i32), Entry>,
    bytes: usize,
    clock: u64,
}

pub struct TestcaseFetcher {
    client: reqwest::Client,
    /// `Authorization` value for the API (`Bearer …`); never logged.
    authorization: Option<reqwest::header::HeaderValue>,
    api_url: String,
    capacity: usize,
    cache: Mutex<Cache>,
    metrics: Arc<WorkerMetrics>,
}

struct HeaderInjector<'a>(&'a mut reqwest::header::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

impl TestcaseFetcher {
    pub fn new(
        api_url: &str,
        token: Option<String>,
        capacity: usize,
        metrics: Arc<WorkerMetrics>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        let authorization = token
            .and_then(|t| reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).ok())
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Ok(TestcaseFetcher {
            client,
            authorization,
            api_url: api_url.trim_end_matches('/').to_string(),
            capacity: capacity.max(1),
            cache: Mutex::new(Cache::default()),
            metrics,
        })
    }

    /// The test cases of `problem_id` at `version`, from the cache or the API, and whether
    /// the API was asked.
    pub async fn get(
        &self,
        problem_id: i64,
        version: i32,
    ) -> Result<(Arc<Vec<Testcase>>, bool), FetchError> {
        if let Some(hit) = self.lookup(problem_id, version) {
            return Ok((hit, false));
        }
        let testcases = Arc::new(self.fetch(problem_id, version).await?);
        self.insert(problem_id, version, testcases.clone());
        Ok((testcases, true))
    }

    fn lookup(&self, problem_id: i64, version: i32) -> Option<Arc<Vec<Testcase>>> {
        let mut cache = self.cache.lock().ok()?;
        cache.clock += 1;
        let now = cache.clock;
        let entry = cache.entries.get_mut(&(problem_id, version))?;
        entry.last_used = now;
        Some(entry.testcases.clone())
    }

    fn insert(&self, problem_id: i64, version: i32, testcases: Arc<Vec<Testcase>>) {
        let bytes: usize = testcases
            .iter()
            .map(|t| t.input.len() + t.output.len())
            .sum();
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if bytes > MAX_CACHED_BYTES {
            return;
        }
        cache.clock += 1;
        let now = cache.clock;
        if let Some(old) = cache.entries.insert(
            (problem_id, version),
            Entry {
                testcases,
                bytes,
                last_used: now,
            },
        ) {
            cache.bytes -= old.bytes;
        }
        cache.bytes += bytes;
        // Evict the least recently used sets until both bounds hold.
        while cache.entries.len() > self.capacity || cache.bytes > MAX_CACHED_BYTES {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(evicted) = cache.entries.remove(&oldest) {
                cache.bytes -= evicted.bytes;
            }
        }
    }

    async fn fetch(&self, problem_id: i64, version: i32) -> Result<Vec<Testcase>, FetchError> {
        let url = format!(
            "{}/internal/v1/problems/{problem_id}/testcases?version={version}",
            self.api_url
        );
        let (address, port) = reqwest::Url::parse(&url)
            .ok()
            .map(|u| {
                (
                    u.host_str().unwrap_or("").to_string(),
                    u.port_or_known_default().unwrap_or(80),
                )
            })
            .unwrap_or_default();
        let client_span = tracing::info_span!(
            span::TESTCASE_FETCH,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = "GET",
            url.full = %url,
            url.template = "/internal/v1/problems/{id}/testcases",
            server.address = %address,
            server.port = i64::from(port),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            problem.id = problem_id,
            problem.version = version,
        );
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(authorization) = &self.authorization {
            headers.insert(reqwest::header::AUTHORIZATION, authorization.clone());
        }
        let cx = client_span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeaderInjector(&mut headers))
        });
        let started = Instant::now();
        let outcome = async {
            let response = self
                .client
                .get(&url)
                .headers(headers)
                .send()
                .await
                .map_err(|e| FetchError::Unavailable(e.to_string()))?;
            let status = response.status();
            tracing::Span::current()
                .record("http.response.status_code", i64::from(status.as_u16()));
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(FetchError::NotFound {
                    problem_id,
                    version,
                });
            }
            if !status.is_success() {
                return Err(FetchError::Unavailable(format!(
                    "the API answered {status}"
                )));
            }
            let bundle: TestcaseBundle = response
                .json()
                .await
                .map_err(|e| FetchError::Unavailable(format!("bad test-case response: {e}")))?;
            Ok((status.as_u16(), bundle.testcases))
        }
        .instrument(client_span.clone())
        .await;
        let mut attributes = vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("server.address", address),
            KeyValue::new("server.port", i64::from(port)),
        ];
        match &outcome {
            Ok((status, _)) => attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(*status),
            )),
            Err(e) => {
                let kind = match e {
                    FetchError::NotFound { .. } => "404",
                    FetchError::Unavailable(_) => "unavailable",
                };
                client_span.record("error.type", kind);
                client_span.record("otel.status_code", "ERROR");
                attributes.push(KeyValue::new("error.type", kind));
            }
        }
        self.metrics
            .http_client_duration
            .record(started.elapsed().as_secs_f64(), &attributes);
        outcome.map(|(_, testcases)| testcases)
    }
}
