//! Telemetry for both services, initialised in one place.
//!
//! [`init`] installs:
//! - a tracer provider, always, so every request gets real trace and span ids (the API returns
//!   the trace id even when nothing is exported); spans are exported over OTLP/gRPC only when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set;
//! - the `tracing` → OpenTelemetry log bridge and a meter provider, when an endpoint is set;
//! - console logs, always: pretty on a terminal, JSON lines with `trace_id`/`span_id` otherwise
//!   or when `LOG_FORMAT=json`;
//! - the W3C trace-context and baggage propagators.
//!
//! The returned [`TelemetryGuard`] owns the providers; [`TelemetryGuard::shutdown`] flushes and
//! shuts them down with a deadline. Exporters run on the SDK's own threads, so a collector that
//! is down never slows the service: queues are bounded and overflow is dropped.

mod console;
mod service;
mod signal;

pub use service::{ServiceError, run_service};
pub use signal::shutdown_signal;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How console logs look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, with `trace_id` and `span_id`.
    Json,
}

/// The console log settings every service takes (`#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Console log format: `pretty` or `json` (default: pretty on a terminal, else json).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl LogArgs {
    pub fn format(&self) -> LogFormat {
        LogFormat::choose(self.log_format.as_deref())
    }
}

impl LogFormat {
    /// `pretty` or `json` as given (`LOG_FORMAT`); otherwise pretty on a terminal, else JSON.
    pub fn choose(setting: Option<&str>) -> Self {
        match setting.map(str::trim) {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            _ if std::io::stdout().is_terminal() => LogFormat::Pretty,
            _ => LogFormat::Json,
        }
    }
}

/// What the service tells telemetry about itself.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name`: `client-api` or `judge-worker`.
    pub service_name: &'static str,
    /// `service.version`.
    pub service_version: &'static str,
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (`info`, `client_api=debug,info`).
    pub log_filter: String,
    /// Where console logs go: stdout, except for a process whose stdout carries data (the
    /// worker's disposable judge process answers on stdout).
    pub console: Console,
}

/// The stream console logs are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Console {
    #[default]
    Stdout,
    Stderr,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("cannot install the tracing subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Owns the providers; shut it down before the process exits, or the tail of the data is lost.
#[must_use = "dropping the guard loses telemetry that has not been exported yet"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    logger_provider: Option<SdkLoggerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

/// Crates whose own logs must never reach the OTLP log pipeline: they run while exporting, and
/// their events would be exported in turn (telemetry-induced telemetry).
const EXPORT_PATH_CRATES: [&str; 9] = [
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
];

/// Chatty libraries kept at `warn` everywhere.
const NOISY_CRATES: [&str; 4] = ["lapin", "amq_protocol", "sqlx", "async_rs"];

/// True when some OTLP endpoint is configured through the standard variables.
pub fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

fn base_filter(configured: &str) -> String {
    let mut directives = if configured.trim().is_empty() {
        "info".to_string()
    } else {
        configured.to_string()
    };
    for krate in NOISY_CRATES {
        if !directives.contains(krate) {
            directives.push_str(&format!(",{krate}=warn"));
        }
    }
    directives
}

fn filter(directives: &str, off: &[&str]) -> EnvFilter {
    let mut filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .parse_lossy(directives);
    for krate in off {
        if let Ok(d) = format!("{krate}=off").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Installs telemetry for this process. Call once, inside the Tokio runtime (the gRPC exporter
/// needs a reactor), before anything logs.
pub fn init(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));

    let resource = Resource::builder()
        .with_service_name(config.service_name)
        .with_attributes([
            KeyValue::new("service.version", config.service_version),
            KeyValue::new("service.instance.id", uuid::Uuid::now_v7().to_string()),
        ])
        .build();
    let export = otlp_configured();

    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
    if export {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        tracer_builder = tracer_builder.with_batch_exporter(exporter);
    }
    let tracer_provider = tracer_builder.build();
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    let tracer = tracer_provider.tracer(config.service_name);

    let (logger_provider, meter_provider) = if export {
        let log_exporter = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .build()?;
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(log_exporter)
            .build();
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()?;
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(PeriodicReader::builder(metric_exporter).build())
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        (Some(logger_provider), Some(meter_provider))
    } else {
        (None, None)
    };

    let directives = base_filter(&config.log_filter);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    layers.push(match (config.log_format, config.console) {
        (LogFormat::Pretty, Console::Stdout) => tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_filter(filter(&directives, &[]))
            .boxed(),
        (LogFormat::Pretty, Console::Stderr) => tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_writer(std::io::stderr)
            .with_filter(filter(&directives, &[]))
            .boxed(),
        (LogFormat::Json, stream) => console::JsonLayer::new(stream)
            .with_filter(filter(&directives, &[]))
            .boxed(),
    });
    layers.push(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_error_records_to_exceptions(true)
            // busy/idle time costs two clock reads per poll of every span's future, and the
            // thread a span ended on says nothing on an async runtime; code location stays
            // (it leads from a span to its code).
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(filter(&directives, &EXPORT_PATH_CRATES))
            .boxed(),
    );
    if let Some(provider) = &logger_provider {
        layers.push(
            OpenTelemetryTracingBridge::new(provider)
                .with_filter(filter(&directives, &EXPORT_PATH_CRATES))
                .boxed(),
        );
    }
    tracing_subscriber::registry().with(layers).try_init()?;

    Ok(TelemetryGuard {
        tracer_provider,
        logger_provider,
        meter_provider,
    })
}

impl TelemetryGuard {
    /// Flushes everything buffered and shuts the providers down, each within `timeout`.
    /// Runs the blocking SDK calls on a blocking thread so the runtime keeps driving the
    /// exporters' connections meanwhile.
    pub async fn shutdown(self, timeout: Duration) {
        let joined = tokio::task::spawn_blocking(move || {
            let TelemetryGuard {
                tracer_provider,
                logger_provider,
                meter_provider,
            } = self;
            let traces = std::thread::spawn(move || {
                let _ = tracer_provider.force_flush();
                tracer_provider.shutdown_with_timeout(timeout)
            });
            let logs = logger_provider.map(|p| {
                std::thread::spawn(move || {
                    let _ = p.force_flush();
                    p.shutdown_with_timeout(timeout)
                })
            });
            let metrics = meter_provider.map(|p| {
                std::thread::spawn(move || {
                    let _ = p.force_flush();
                    p.shutdown_with_timeout(timeout)
                })
            });
            let mut failures = Vec::new();
            if let Ok(Err(e)) = traces.join() {
                failures.push(format!("traces: {e}"));
            }
            for handle in [logs, metrics].into_iter().flatten() {
                if let Ok(Err(e)) = handle.join() {
                    failures.push(e.to_string());
                }
            }
            failures
        })
        .await;
        if let Ok(failures) = joined
            && !failures.is_empty()
        {
            // The subscriber may be half torn down by now; stderr is the one sure place.
            eprintln!("telemetry shutdown incomplete: {}", failures.join("; "));
        }
    }
}

/// Trace id of the current span as 32 hex digits, when there is one.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_follows_the_setting() {
        assert_eq!(LogFormat::choose(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::choose(Some(" pretty ")), LogFormat::Pretty);
        // Under `cargo test` stdout is not a terminal.
        assert_eq!(LogFormat::choose(None), LogFormat::Json);
        assert_eq!(LogFormat::choose(Some("yaml")), LogFormat::Json);
    }

    #[test]
    fn noisy_crates_are_quieted_unless_configured() {
        let f = base_filter("debug");
        assert!(f.starts_with("debug,"));
        assert!(f.contains("lapin=warn") && f.contains("sqlx=warn"));
        let f = base_filter("info,sqlx=debug");
        assert!(f.contains("sqlx=debug") && !f.contains("sqlx=warn"));
        assert_eq!(base_filter("  ").split(',').next(), Some("info"));
    }
}
