//! What every handler and background task shares.

use crate::access::AccessPolicy;
use crate::broker::Broker;
use crate::completions::Completions;
use crate::metrics::ApiMetrics;
use messaging::language::LanguageTable;
use messaging::semconv::BrokerEndpoint;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub broker: Arc<Broker>,
    pub broker_endpoint: Arc<BrokerEndpoint>,
    pub languages: Arc<LanguageTable>,
    pub metrics: Arc<ApiMetrics>,
    pub completions: Completions,
    /// Wakes the outbox relay when a request could not publish its submission.
    pub relay_wake: Arc<Notify>,
    /// True while the result consumer is attached to its queue (for `/readyz`).
    pub result_consumer_up: Arc<AtomicBool>,
    pub grafana_url: Option<Arc<str>>,
    pub access: Arc<AccessPolicy>,
}

impl AppState {
    /// A link into Grafana Explore showing this trace in the Tempo datasource (uid `tempo`).
    pub fn trace_url(&self, trace_id: &str) -> Option<String> {
        let base = self.grafana_url.as_deref()?.trim_end_matches('/');
        let panes = serde_json::json!({
            "trace": {
                "datasource": "tempo",
                "queries": [{
                    "refId": "A",
                    "datasource": {"type": "tempo", "uid": "tempo"},
                    "queryType": "traceql",
                    "query": trace_id,
                }],
                "range": {"from": "now-6h", "to": "now"},
            }
        });
        Some(format!(
            "{base}/explore?schemaVersion=1&orgId=1&panes={}",
            percent_encode(&panes.to_string())
        ))
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
