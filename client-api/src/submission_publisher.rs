//! `publish judge.submission` and `confirm judge.submission` (spans made by
//! `messaging::instrumentation::TracedPublisher`): sends a stored submission to the judges
//! through the API's broker link. Called through `outbox::publish_pending`, which settles the
//! outbox row.

use crate::broker::{Broker, BrokerError};
use crate::metrics::ApiMetrics;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use messaging::SubmissionMessage;
use messaging::instrumentation::TracedPublisher;
use messaging::semconv::BrokerEndpoint;

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

    /// Publishes `message` with confirm, its spans children of the current span or of
    /// `parent` (a context stored with an outbox row). Returns the publish time written into
    /// `x-published-at-ns`.
    pub async fn publish(
        &self,
        message: &SubmissionMessage,
        parent: Option<opentelemetry::Context>,
    ) -> Result<DateTime<Utc>, BrokerError> {
        let publisher = TracedPublisher {
            topology: self.broker.topology(),
            endpoint: self.endpoint,
            metrics: &self.metrics.messaging,
        };
        let outcome = publisher
            .publish(self.broker, message, parent.as_ref())
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(submission.id = %message.submission_id, error = %e, "publishing the submission failed; the outbox keeps it");
        }
        outcome
    }
}
