//! `publish judge.submission` and `confirm judge.submission`: sends a stored submission to
//! the judges. Called through `outbox::publish_pending`, which settles the outbox row.

use crate::broker::{Broker, BrokerError};
use crate::metrics::ApiMetrics;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use lapin::types::FieldTable;
use messaging::contract::SUBMISSION_TYPE;
use messaging::instrumentation::TracedPublish;
use messaging::publish::Outgoing;
use messaging::semconv::{self, BrokerEndpoint, span};
use messaging::topology::SUBMISSION_ROUTING_KEY;
use messaging::{SubmissionMessage, trace_headers};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Everything publishing needs.
pub struct SubmissionPublisher<'a> {
    pub broker: &'a Broker,
    pub endpoint: &'a BrokerEndpoint,
    pub metrics: &'a ApiMetrics,
}

impl<'a> SubmissionPublisher<'a> {
    pub fn of(state: &'a AppState) -> Self {
        SubmissionPublisher {
            broker: &state.broker,
            endpoint: &state.broker_endpoint,
            metrics: &state.metrics,
        }
    }

    /// Publishes `message` with confirm under a PRODUCER span, child of the current span or of
    /// `parent` (a context stored with an outbox row). Returns the publish time written into
    /// `x-published-at-ns`.
    pub async fn publish(
        &self,
        message: &SubmissionMessage,
        parent: Option<opentelemetry::Context>,
    ) -> Result<DateTime<Utc>, BrokerError> {
        let topology = self.broker.topology();
        let destination = semconv::publish_destination(&topology.exchange, SUBMISSION_ROUTING_KEY);
        let body = serde_json::to_vec(message)?;
        let id = message.submission_id.to_string();
        let producer = messaging::producer_span!(
            span::PUBLISH_SUBMISSION,
            destination,
            SUBMISSION_ROUTING_KEY,
            id,
            body.len(),
            self.endpoint
        );
        if let Some(parent) = &parent {
            let _ = producer.set_parent(parent.clone());
        }
        let mut headers = FieldTable::default();
        trace_headers::inject_context(&producer.context(), &mut headers);
        let published_at = Utc::now();
        trace_headers::set_published_at(&mut headers, published_at);

        let traced = TracedPublish {
            producer,
            metrics: &self.metrics.messaging,
            endpoint: self.endpoint,
            destination: &destination,
        };
        let outcome = traced
            .run(
                self.broker.write(Outgoing {
                    exchange: &topology.exchange,
                    routing_key: SUBMISSION_ROUTING_KEY,
                    body: &body,
                    message_id: &id,
                    kind: SUBMISSION_TYPE,
                    headers,
                    persistent: true,
                }),
                || {
                    let confirm =
                        messaging::confirm_span!(span::CONFIRM_SUBMISSION, destination, id);
                    if let Some(parent) = parent {
                        let _ = confirm.set_parent(parent);
                    }
                    confirm
                },
                |written| self.broker.confirmed(written),
            )
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(submission.id = %id, error = %e, "publishing the submission failed; the outbox keeps it");
        }
        outcome.map(|()| published_at)
    }
}
