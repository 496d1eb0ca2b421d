//! JSON console logs: one object per line, carrying the OpenTelemetry `trace_id` and `span_id`
//! of the span the event was written in, so a log line found with `grep` or in Loki leads to
//! its trace.
//!
//! `tracing-subscriber`'s own JSON formatter cannot see OpenTelemetry ids, hence this small
//! layer: it reads the ids through `tracing_opentelemetry::get_otel_context` with the global
//! dispatcher (installed by `telemetry::init`; a scoped one is not reachable from inside an
//! event callback, and `Vec<Layer>` does not forward `on_register_dispatch`).

use serde_json::{Map, Value};
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

pub struct JsonLayer {
    console: crate::Console,
}

impl JsonLayer {
    pub fn new(console: crate::Console) -> Self {
        JsonLayer { console }
    }
}

#[derive(Default)]
struct FieldVisitor {
    fields: Map<String, Value>,
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().into(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

impl<S> tracing_subscriber::Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        if let Some(message) = visitor.fields.remove("message") {
            line.insert("message".into(), message);
        }
        if let Some(span) = ctx.event_span(event) {
            line.insert("span".into(), Value::from(span.name()));
            let otel = tracing::dispatcher::get_default(|dispatch| {
                tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
            });
            if let Some(cx) = otel {
                use opentelemetry::trace::TraceContextExt;
                let span_ref = cx.span();
                let sc = span_ref.span_context();
                if sc.is_valid() {
                    line.insert("trace_id".into(), Value::from(sc.trace_id().to_string()));
                    line.insert("span_id".into(), Value::from(sc.span_id().to_string()));
                }
            }
        }
        if !visitor.fields.is_empty() {
            line.insert("fields".into(), Value::Object(visitor.fields));
        }
        let mut bytes = Value::Object(line).to_string().into_bytes();
        bytes.push(b'\n');
        // One write per line keeps lines whole when several threads log at once.
        let _ = match self.console {
            crate::Console::Stdout => std::io::stdout().lock().write_all(&bytes),
            crate::Console::Stderr => std::io::stderr().lock().write_all(&bytes),
        };
    }
}
