//! `publish judge.result` and `confirm judge.result`: sends a verdict back to the API and
//! waits for the broker's confirm. The worker acknowledges the submission only after this
//! succeeded. A result that cannot be encoded is an error, never an empty message.

use crate::worker::Worker;
use chrono::Utc;
use lapin::Channel;
use lapin::types::FieldTable;
use messaging::contract::RESULT_TYPE;
use messaging::instrumentation::TracedPublish;
use messaging::publish::{self, Outgoing, PublishError};
use messaging::semconv::{self, span};
use messaging::topology::RESULT_ROUTING_KEY;
use messaging::{ResultMessage, trace_headers};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn publish_result(
    worker: &Worker,
    channel: &Channel,
    result: &ResultMessage,
) -> Result<(), PublishError> {
    let destination = semconv::publish_destination(&worker.topology.exchange, RESULT_ROUTING_KEY);
    let body = serde_json::to_vec(result).map_err(PublishError::Encode)?;
    let id = result.submission_id.to_string();
    let producer = messaging::producer_span!(
        span::PUBLISH_RESULT,
        destination,
        RESULT_ROUTING_KEY,
        id,
        body.len(),
        worker.endpoint,
        judge.verdict = result.verdict.as_str()
    );
    let mut headers = FieldTable::default();
    trace_headers::inject_context(&producer.context(), &mut headers);
    trace_headers::set_published_at(&mut headers, Utc::now());
    TracedPublish {
        producer,
        metrics: &worker.metrics.messaging,
        endpoint: &worker.endpoint,
        destination: &destination,
    }
    .run(
        async {
            tokio::time::timeout(
                CONFIRM_TIMEOUT,
                publish::write(
                    channel,
                    Outgoing {
                        exchange: &worker.topology.exchange,
                        routing_key: RESULT_ROUTING_KEY,
                        body: &body,
                        message_id: &id,
                        kind: RESULT_TYPE,
                        headers,
                        persistent: true,
                    },
                ),
            )
            .await
            .map_err(|_| PublishError::Timeout(CONFIRM_TIMEOUT))?
        },
        || messaging::confirm_span!(span::CONFIRM_RESULT, destination, id),
        |written| written.confirmed(CONFIRM_TIMEOUT),
    )
    .await
}
