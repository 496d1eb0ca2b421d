//! The SERVER span and `http.server.request.duration` of every routed request.
//!
//! An incoming `traceparent` is continued, so a client (or the load generator) and the whole
//! pipeline share one trace. The span is named `{method} {route}` (low cardinality: the route
//! template, never the path). Health probes are measured but not traced.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

pub async fn trace_http(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let probe = route == "/healthz" || route == "/readyz";

    let response = if probe {
        next.run(request).await
    } else {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(request.headers()))
        });
        let name = format!("{method} {route}");
        let server = tracing::info_span!(
            "http.server.request",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            http.route = %route,
            url.path = %request.uri().path(),
            url.scheme = "http",
            network.protocol.version = ?request.version(),
            user_agent.original = request
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            http.response.status_code = tracing::field::Empty,
        );
        if parent.span().span_context().is_valid() {
            let _ = server.set_parent(parent);
        }
        let response = next.run(request).instrument(server.clone()).await;
        let status = response.status().as_u16();
        server.record("http.response.status_code", i64::from(status));
        if status >= 500 {
            server.record("otel.status_code", "ERROR");
        }
        response
    };
    state.metrics.http_server_duration.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new(
                "http.response.status_code",
                i64::from(response.status().as_u16()),
            ),
            KeyValue::new("url.scheme", "http"),
        ],
    );
    response
}
