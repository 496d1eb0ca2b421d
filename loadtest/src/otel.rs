//! The load generator's own telemetry: a span per submission whose context goes out in
//! `traceparent` (so the load-test request and the whole pipeline are one trace), and metrics
//! (target and achieved rate, latency histograms), exported over OTLP/gRPC.
//!
//! [`LoadtestTelemetry::init`] installs the global tracer and meter providers and the W3C
//! propagator only when given an endpoint; otherwise the global no-op providers stay, spans
//! are not recorded and no `traceparent` is sent. [`Instruments`] and [`SubmissionSpan`] work
//! the same either way.

use crate::api_client::ExtraHeaders;
use crate::live::LiveStats;
use messaging::instrumentation::duration_histogram;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `service.name` of the load generator.
pub const SERVICE_NAME: &str = "loadtest";

/// Span and metric names.
pub mod names {
    pub const SUBMISSION_SPAN: &str = "loadtest.submission";
    pub const SUBMIT_SPAN: &str = "POST /api/v1/submissions";
    pub const WAIT_SPAN: &str = "GET /api/v1/submissions/{id}";
    pub const SUBMISSIONS: &str = "loadtest.submissions";
    pub const LATENCY: &str = "loadtest.submission.duration";
    pub const SUBMIT_LATENCY: &str = "loadtest.submit.duration";
    pub const COMPONENT_DURATION: &str = "loadtest.component.duration";
    pub const SEND_LAG: &str = "loadtest.send.lag";
    pub const TARGET_RATE: &str = "loadtest.rate.target";
    pub const ACHIEVED_RATE: &str = "loadtest.rate.achieved";
}

/// How often metrics are exported when `OTEL_METRIC_EXPORT_INTERVAL` is not set: often enough
/// for a dashboard to follow a one-minute run.
const METRIC_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP exporter: {0}")]
pub struct TelemetryError(#[from] opentelemetry_otlp::ExporterBuildError);

/// Owns the providers installed by [`LoadtestTelemetry::init`]; shut it down at the end.
#[must_use = "dropping it loses telemetry that has not been exported yet"]
pub struct LoadtestTelemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl LoadtestTelemetry {
    /// With an endpoint (`http://host:4317`), installs OTLP export of spans and metrics;
    /// without one, installs nothing. Call inside the Tokio runtime.
    pub fn init(endpoint: Option<&str>) -> Result<LoadtestTelemetry, TelemetryError> {
        let Some(endpoint) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
            return Ok(LoadtestTelemetry {
                tracer_provider: None,
                meter_provider: None,
            });
        };
        global::set_text_map_propagator(TraceContextPropagator::new());
        let resource = Resource::builder()
            .with_service_name(SERVICE_NAME)
            .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
            .build();
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(span_exporter)
            .build();
        global::set_tracer_provider(tracer_provider.clone());

        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        let mut reader = PeriodicReader::builder(metric_exporter);
        if std::env::var_os("OTEL_METRIC_EXPORT_INTERVAL").is_none() {
            reader = reader.with_interval(METRIC_INTERVAL);
        }
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader.build())
            .build();
        global::set_meter_provider(meter_provider.clone());
        Ok(LoadtestTelemetry {
            tracer_provider: Some(tracer_provider),
            meter_provider: Some(meter_provider),
        })
    }

    pub fn is_exporting(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Flushes and shuts down, each provider within `timeout`; returns what failed.
    pub async fn shutdown(self, timeout: Duration) -> Vec<String> {
        let LoadtestTelemetry {
            tracer_provider,
            meter_provider,
        } = self;
        // The SDK calls block; the runtime must keep driving the exporters meanwhile.
        let joined = tokio::task::spawn_blocking(move || {
            let mut failures = Vec::new();
            if let Some(provider) = tracer_provider {
                let _ = provider.force_flush();
                if let Err(e) = provider.shutdown_with_timeout(timeout) {
                    failures.push(format!("traces: {e}"));
                }
            }
            if let Some(provider) = meter_provider {
                let _ = provider.force_flush();
                if let Err(e) = provider.shutdown_with_timeout(timeout) {
                    failures.push(format!("metrics: {e}"));
                }
            }
            failures
        })
        .await;
        joined.unwrap_or_else(|e| vec![format!("shutdown task: {e}")])
    }
}

/// The load generator's metric instruments (no-ops unless a meter provider is installed).
pub struct Instruments {
    submissions: Counter<u64>,
    latency: Histogram<f64>,
    submit_latency: Histogram<f64>,
    component: Histogram<f64>,
    send_lag: Histogram<f64>,
    _target_rate: ObservableGauge<f64>,
    _achieved_rate: ObservableGauge<f64>,
}

impl Instruments {
    pub fn new(live: &Arc<LiveStats>) -> Instruments {
        let meter: Meter = global::meter(SERVICE_NAME);
        let target = live.target_rate();
        let achieved_from = Arc::clone(live);
        Instruments {
            submissions: meter
                .u64_counter(names::SUBMISSIONS)
                .with_unit("{submission}")
                .with_description("Submissions by outcome, language and expected verdict")
                .build(),
            latency: duration_histogram(
                &meter,
                names::LATENCY,
                "Due time to verdict seen by the load generator",
            ),
            submit_latency: duration_histogram(
                &meter,
                names::SUBMIT_LATENCY,
                "Due time to the 202 of POST /api/v1/submissions",
            ),
            component: duration_histogram(
                &meter,
                names::COMPONENT_DURATION,
                "Per-component durations from the result timings",
            ),
            send_lag: duration_histogram(
                &meter,
                names::SEND_LAG,
                "How late the generator sent a request after its due time",
            ),
            _target_rate: meter
                .f64_observable_gauge(names::TARGET_RATE)
                .with_unit("{submission}/s")
                .with_description("Arrival rate the load generator aims at")
                .with_callback(move |gauge| gauge.observe(target, &[]))
                .build(),
            _achieved_rate: meter
                .f64_observable_gauge(names::ACHIEVED_RATE)
                .with_unit("{submission}/s")
                .with_description("Arrival rate the load generator reached")
                .with_callback(move |gauge| gauge.observe(achieved_from.achieved_rate(), &[]))
                .build(),
        }
    }

    pub fn count(&self, outcome: &'static str, language: &'static str, expected: &'static str) {
        self.submissions.add(
            1,
            &[
                KeyValue::new("loadtest.outcome", outcome),
                KeyValue::new("judge.language", language),
                KeyValue::new("loadtest.expected_verdict", expected),
            ],
        );
    }

    pub fn record_latency(&self, latency: Duration, language: &'static str) {
        self.latency.record(
            latency.as_secs_f64(),
            &[KeyValue::new("judge.language", language)],
        );
    }

    pub fn record_submit_latency(&self, latency: Duration) {
        self.submit_latency.record(latency.as_secs_f64(), &[]);
    }

    pub fn record_send_lag(&self, lag: Duration) {
        self.send_lag.record(lag.as_secs_f64(), &[]);
    }

    pub fn record_component(&self, component: &'static str, millis: f64) {
        self.component.record(
            (millis / 1000.0).max(0.0),
            &[KeyValue::new("loadtest.component", component)],
        );
    }
}

/// Collects the propagator's headers.
struct HeaderInjector<'a>(&'a mut ExtraHeaders);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

/// The spans of one submission: a root span from its due time to its verdict, with a CLIENT
/// child per HTTP request whose context is sent in `traceparent`.
pub struct SubmissionSpan {
    root: Context,
}

impl SubmissionSpan {
    pub fn start(due: SystemTime, attributes: Vec<KeyValue>) -> SubmissionSpan {
        let tracer = global::tracer(SERVICE_NAME);
        let span = tracer
            .span_builder(names::SUBMISSION_SPAN)
            .with_kind(SpanKind::Internal)
            .with_start_time(due)
            .with_attributes(attributes)
            .start(&tracer);
        SubmissionSpan {
            root: Context::current_with_span(span),
        }
    }

    /// Starts a CLIENT span for one request; returns it with the headers that carry it.
    pub fn request(&self, name: &'static str, method: &'static str, url: &str) -> RequestSpan {
        let tracer = global::tracer(SERVICE_NAME);
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", method),
                KeyValue::new("url.full", url.to_string()),
            ])
            .start_with_context(&tracer, &self.root);
        let context = self.root.with_span(span);
        let mut headers = ExtraHeaders::new();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
        });
        RequestSpan { context, headers }
    }

    pub fn set_attribute(&self, attribute: KeyValue) {
        self.root.span().set_attribute(attribute);
    }

    /// Ends the span; `error` marks it failed (a mismatch, an unfinished submission).
    pub fn end(self, error: Option<String>) {
        let span = self.root.span();
        if let Some(description) = error {
            span.set_status(Status::error(description));
        }
        span.end();
    }
}

/// One HTTP request's CLIENT span.
pub struct RequestSpan {
    context: Context,
    /// `traceparent` (and any other propagated header) for the request.
    pub headers: ExtraHeaders,
}

impl RequestSpan {
    /// Ends the span with the response status, or the error.
    pub fn end(self, status: Result<u16, String>) {
        let span = self.context.span();
        match status {
            Ok(code) => {
                span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
                if code >= 400 {
                    span.set_attribute(KeyValue::new("error.type", code.to_string()));
                    span.set_status(Status::error(format!("HTTP {code}")));
                }
            }
            Err(error) => {
                span.set_attribute(KeyValue::new("error.type", "request_failed"));
                span.set_status(Status::error(error));
            }
        }
        span.end();
    }
}
