//! An OTLP/gRPC receiver in the test process: the services export to it exactly as they
//! would to a Collector, and tests wait for what they expect to arrive.

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
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    /// OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    pub attributes: HashMap<String, String>,
    /// The OTLP value type of each attribute: `string`, `int`, `double`, `bool`, `array`,
    /// `kvlist` or `bytes`.
    pub types: HashMap<String, &'static str>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct ReceivedLog {
    pub service: String,
    pub body: String,
    pub trace_id: String,
    pub span_id: String,
    pub severity: String,
    pub attributes: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct ReceivedMetric {
    pub service: String,
    pub name: String,
    pub unit: String,
    /// Explicit bucket bounds, for histograms.
    pub bounds: Vec<f64>,
    /// Attributes of each data point.
    pub points: Vec<HashMap<String, String>>,
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    logs: Vec<ReceivedLog>,
    metrics: Vec<ReceivedMetric>,
}

#[derive(Clone, Default)]
struct Store {
    received: Arc<Mutex<Received>>,
    arrived: Arc<Notify>,
}

pub struct OtlpReceiver {
    store: Store,
    port: u16,
    server: tokio::task::JoinHandle<()>,
}

fn value_to_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn value_type(value: Option<&AnyValue>) -> &'static str {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(_)) => "string",
        Some(any_value::Value::IntValue(_)) => "int",
        Some(any_value::Value::DoubleValue(_)) => "double",
        Some(any_value::Value::BoolValue(_)) => "bool",
        Some(any_value::Value::ArrayValue(_)) => "array",
        Some(any_value::Value::KvlistValue(_)) => "kvlist",
        Some(any_value::Value::BytesValue(_)) => "bytes",
        Some(_) => "other",
        None => "empty",
    }
}

fn types(kvs: &[KeyValue]) -> HashMap<String, &'static str> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_type(kv.value.as_ref())))
        .collect()
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_to_string(kv.value.as_ref())))
        .collect()
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .map(|kv| value_to_string(kv.value.as_ref()))
        })
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = Vec::new();
        for rs in request.into_inner().resource_spans {
            let service = service_name(rs.resource.as_ref());
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push(ReceivedSpan {
                        service: service.clone(),
                        name: s.name,
                        kind: s.kind,
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        links: s
                            .links
                            .iter()
                            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                            .collect(),
                        attributes: attributes(&s.attributes),
                        types: types(&s.attributes),
                        start_ns: s.start_time_unix_nano,
                        end_ns: s.end_time_unix_nano,
                        status: s.status.map_or(0, |st| st.code),
                    });
                }
            }
        }
        if let Ok(mut received) = self.received.lock() {
            received.spans.extend(spans);
        }
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let mut logs = Vec::new();
        for rl in request.into_inner().resource_logs {
            let service = service_name(rl.resource.as_ref());
            for sl in rl.scope_logs {
                for l in sl.log_records {
                    logs.push(ReceivedLog {
                        service: service.clone(),
                        body: value_to_string(l.body.as_ref()),
                        trace_id: hex(&l.trace_id),
                        span_id: hex(&l.span_id),
                        severity: l.severity_text,
                        attributes: attributes(&l.attributes),
                    });
                }
            }
        }
        if let Ok(mut received) = self.received.lock() {
            received.logs.extend(logs);
        }
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let mut metrics = Vec::new();
        for rm in request.into_inner().resource_metrics {
            let service = service_name(rm.resource.as_ref());
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    let (bounds, points) = match &m.data {
                        Some(Data::Histogram(h)) => (
                            h.data_points
                                .first()
                                .map(|p| p.explicit_bounds.clone())
                                .unwrap_or_default(),
                            h.data_points
                                .iter()
                                .map(|p| attributes(&p.attributes))
                                .collect(),
                        ),
                        Some(Data::Sum(s)) => (
                            vec![],
                            s.data_points
                                .iter()
                                .map(|p| attributes(&p.attributes))
                                .collect(),
                        ),
                        Some(Data::Gauge(g)) => (
                            vec![],
                            g.data_points
                                .iter()
                                .map(|p| attributes(&p.attributes))
                                .collect(),
                        ),
                        _ => (vec![], vec![]),
                    };
                    metrics.push(ReceivedMetric {
                        service: service.clone(),
                        name: m.name,
                        unit: m.unit,
                        bounds,
                        points,
                    });
                }
            }
        }
        if let Ok(mut received) = self.received.lock() {
            received.metrics.extend(metrics);
        }
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl OtlpReceiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let store = Store::default();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(store.clone()))
            .add_service(LogsServiceServer::new(store.clone()))
            .add_service(MetricsServiceServer::new(store.clone()))
            .serve_with_incoming(incoming);
        let server = tokio::spawn(async move {
            let _ = server.await;
        });
        Ok(OtlpReceiver {
            store,
            port,
            server,
        })
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `check` finds what it needs in the received data, or `timeout` passes.
    async fn wait<T>(
        &self,
        timeout: Duration,
        check: impl Fn(&Received) -> Option<T>,
    ) -> Option<T> {
        crate::wait_for_change(&self.store.arrived, timeout, || {
            self.store
                .received
                .lock()
                .ok()
                .and_then(|received| check(&received))
        })
        .await
    }

    /// Spans of `trace_id`, once `done` holds for them.
    pub async fn trace(
        &self,
        trace_id: &str,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Option<Vec<ReceivedSpan>> {
        self.wait(timeout, |r| {
            let spans: Vec<ReceivedSpan> = r
                .spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            done(&spans).then_some(spans)
        })
        .await
    }

    /// The first span for which `pick` holds.
    pub async fn wait_for_span(
        &self,
        timeout: Duration,
        pick: impl Fn(&ReceivedSpan) -> bool,
    ) -> Option<ReceivedSpan> {
        self.wait(timeout, |r| r.spans.iter().find(|s| pick(s)).cloned())
            .await
    }

    /// Log records that satisfy `pick`, once `done` holds for them.
    pub async fn logs(
        &self,
        timeout: Duration,
        pick: impl Fn(&ReceivedLog) -> bool,
        done: impl Fn(&[ReceivedLog]) -> bool,
    ) -> Option<Vec<ReceivedLog>> {
        self.wait(timeout, |r| {
            let logs: Vec<ReceivedLog> = r.logs.iter().filter(|l| pick(l)).cloned().collect();
            done(&logs).then_some(logs)
        })
        .await
    }

    /// The latest export of every metric, once every name in `names` has arrived.
    pub async fn metrics(
        &self,
        timeout: Duration,
        names: &[&str],
    ) -> Option<HashMap<String, ReceivedMetric>> {
        self.wait(timeout, |r| {
            let mut latest = HashMap::new();
            for m in &r.metrics {
                latest.insert(m.name.clone(), m.clone());
            }
            names
                .iter()
                .all(|n| latest.contains_key(*n))
                .then_some(latest)
        })
        .await
    }

    /// Everything received so far (for failure messages).
    pub fn span_names(&self) -> Vec<String> {
        self.store
            .received
            .lock()
            .map(|r| {
                r.spans
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.service))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
