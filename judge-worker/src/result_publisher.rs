//! `publish judge.result`: sends a verdict back to the API and waits for the broker's confirm.
//! The worker acknowledges the submission only after this succeeded.

use crate::worker::Worker;
use chrono::Utc;
use lapin::Channel;
use lapin::types::FieldTable;
use messaging::contract::RESULT_TYPE;
use messaging::publish::{Outgoing, PublishError, publish_with_confirm};
use messaging::semconv::{self, MESSAGING_SYSTEM, span};
use messaging::topology::RESULT_ROUTING_KEY;
use messaging::{ResultMessage, trace_headers};
use opentelemetry::KeyValue;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn publish_result(
    worker: &Worker,
    channel: &Channel,
    result: &ResultMessage,
) -> Result<(), PublishError> {
    let destination = semconv::publish_destination(&worker.topology.exchange, RESULT_ROUTING_KEY);
    let body = serde_json::to_vec(result).unwrap_or_default();
    let id = result.submission_id.to_string();
    let producer = tracing::info_span!(
        span::PUBLISH_RESULT,
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation.name = "publish",
        messaging.operation.type = "send",
        messaging.destination.name = %destination,
        messaging.rabbitmq.destination.routing_key = RESULT_ROUTING_KEY,
        messaging.message.id = %id,
        messaging.message.body.size = body.len(),
        server.address = %worker.endpoint.address,
        server.port = worker.endpoint.port,
        submission.id = %id,
        judge.verdict = result.verdict.as_str(),
        error.type = tracing::field::Empty,
    );
    let mut headers = FieldTable::default();
    trace_headers::inject_context(&producer.context(), &mut headers);
    trace_headers::set_published_at(&mut headers, Utc::now());
    let started = Instant::now();
    let outcome = publish_with_confirm(
        channel,
        Outgoing {
            exchange: &worker.topology.exchange,
            routing_key: RESULT_ROUTING_KEY,
            body: &body,
            message_id: &id,
            kind: RESULT_TYPE,
            headers,
        },
        CONFIRM_TIMEOUT,
    )
    .instrument(producer.clone())
    .await;
    let mut attributes = vec![
        KeyValue::new("messaging.system", MESSAGING_SYSTEM),
        KeyValue::new("messaging.operation.name", "publish"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.destination.name", destination),
        KeyValue::new("server.address", worker.endpoint.address.clone()),
        KeyValue::new("server.port", i64::from(worker.endpoint.port)),
    ];
    match &outcome {
        Ok(()) => worker.metrics.sent_messages.add(1, &attributes),
        Err(e) => {
            producer.record("error.type", e.kind());
            producer.record("otel.status_code", "ERROR");
            producer.record("otel.status_description", e.to_string());
            attributes.push(KeyValue::new("error.type", e.kind()));
        }
    }
    worker
        .metrics
        .publish_duration
        .record(started.elapsed().as_secs_f64(), &attributes);
    outcome
}
