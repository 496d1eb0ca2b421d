//! A local OTLP/gRPC receiver that accepts traces, logs and metrics, counts them and throws
//! them away: the "collector" of the telemetry-cost benchmark, so the services pay the full
//! export cost (serialisation, gRPC) without depending on anything external.
//!
//! ```sh
//! cargo run --release -p loadtest --example otlp_sink -- 127.0.0.1:4317
//! ```
//!
//! Prints the totals every 10 s and when stopped (Ctrl-C or SIGTERM), and then the duration
//! of the spans of each name (p50, p90, p99): where a pipeline's milliseconds go, span by span,
//! under whatever load the load generator offers.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What arrived so far.
#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    spans: AtomicU64,
    log_records: AtomicU64,
    metrics: AtomicU64,
}

impl Totals {
    fn line(&self) -> String {
        format!(
            "otlp_sink: {} requests, {} spans, {} log records, {} metrics",
            self.requests.load(Ordering::Relaxed),
            self.spans.load(Ordering::Relaxed),
            self.log_records.load(Ordering::Relaxed),
            self.metrics.load(Ordering::Relaxed)
        )
    }
}

/// Span durations in ns, by (service, span name).
type Durations = std::collections::BTreeMap<(String, String), Vec<u64>>;

#[derive(Clone, Default)]
struct Sink {
    totals: Arc<Totals>,
    durations: Arc<std::sync::Mutex<Durations>>,
}

/// The `service.name` of a resource.
fn service_of(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

impl Sink {
    /// `service  span  count  p50  p90  p99` in ms, one line per span name.
    fn span_table(&self) -> String {
        use std::fmt::Write;
        let durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = format!(
            "{:<13} {:<42} {:>6} {:>9} {:>9} {:>9}  (ms)\n",
            "service", "span", "count", "p50", "p90", "p99"
        );
        for ((service, name), values) in durations.iter() {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let at = |q: f64| {
                let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
                sorted[i.min(sorted.len() - 1)] as f64 / 1e6
            };
            let _ = writeln!(
                out,
                "{service:<13} {name:<42} {:>6} {:>9.3} {:>9.3} {:>9.3}",
                sorted.len(),
                at(0.5),
                at(0.9),
                at(0.99)
            );
        }
        out
    }
}

impl Sink {
    fn count(&self, counter: &AtomicU64, items: usize) {
        self.totals.requests.fetch_add(1, Ordering::Relaxed);
        counter.fetch_add(items as u64, Ordering::Relaxed);
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = 0;
        {
            let mut durations = self.durations.lock().unwrap_or_else(|p| p.into_inner());
            for resource in &request.get_ref().resource_spans {
                let service = service_of(resource.resource.as_ref());
                for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                    spans += 1;
                    durations
                        .entry((service.clone(), span.name.clone()))
                        .or_default()
                        .push(
                            span.end_time_unix_nano
                                .saturating_sub(span.start_time_unix_nano),
                        );
                }
            }
        }
        self.count(&self.totals.spans, spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let records = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.count(&self.totals.log_records, records);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let metrics = request
            .get_ref()
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        self.count(&self.totals.metrics, metrics);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn stopped() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4317".to_string());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("otlp_sink: listening on {}", listener.local_addr()?);
    let sink = Sink::default();
    let totals = Arc::clone(&sink.totals);
    let reporter = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(10));
        ticks.tick().await;
        loop {
            ticks.tick().await;
            eprintln!("{}", totals.line());
        }
    });
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(sink.clone()).max_decoding_message_size(64 << 20))
        .add_service(LogsServiceServer::new(sink.clone()).max_decoding_message_size(64 << 20))
        .add_service(MetricsServiceServer::new(sink.clone()).max_decoding_message_size(64 << 20))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            stopped(),
        )
        .await?;
    reporter.abort();
    println!("{}", sink.totals.line());
    print!("{}", sink.span_table());
    Ok(())
}
