//! Rejudging: a submission judged again under its id, as a new judging (`judging` + 1) with a
//! trace of its own.
//!
//! One transaction per batch archives each selected submission's current judging into the
//! history, makes the new one current (`queued`, result columns cleared, the problem's
//! current test-case version) and writes its outbox row; the outbox relay publishes it like
//! any submission. Each new judging's trace starts at a root span, `submission.rejudge`,
//! linked to the submission's first trace and to the rejudge request, so the pipeline's spans
//! (publish, worker, result, finalize) hang under it unchanged. A result of the superseded
//! judging, if one still arrives, is dropped by the result consumer: its `judging` is not the
//! current one.
//!
//! Priority: not yet. A mass rejudge should not starve live submissions (Codedang publishes
//! rejudges with a lower priority). Quorum queues on RabbitMQ 4.x always honour a message's
//! `priority` in two levels (above 4 is high, the rest normal; high ones go first without
//! starving normal ones), so no queue argument is needed — but the AMQP properties are built
//! in `messaging::publish::write`, whose `Outgoing` carries no priority, and that crate is
//! shared with the worker. The change: a priority in `Outgoing`, live submissions published
//! high (e.g. 5) and rejudges normal (0).

use crate::db::judgings;
use crate::db::submissions::{self, NextJudging, RejudgeCandidate, RejudgeSelection};
use crate::outbox::{self, Claim};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use messaging::{SubmissionMessage, TestcaseSource, trace_headers};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use std::collections::BTreeMap;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use messaging::semconv::span::{
    SUBMISSION_REJUDGE as REJUDGE_SPAN, SUBMISSION_REQUEUE as REQUEUE_SPAN,
};
/// Submissions of a problem queued again per transaction: row locks are held briefly, and
/// the relay starts publishing the first batch while the next is prepared.
const BATCH: i64 = 200;
/// How many queued submissions a problem rejudge's answer lists.
pub const MAX_LISTED: usize = 100;

/// A submission queued again.
#[derive(Debug, Clone)]
pub struct Requeued {
    pub id: Uuid,
    pub judging: u32,
    pub trace_id: String,
    pub trace_sampled: bool,
}

/// Queues submission `id` again; `None` when there is no such submission.
pub async fn rejudge_submission(
    state: &AppState,
    id: Uuid,
    requested_at: DateTime<Utc>,
) -> Result<Option<Requeued>, sqlx::Error> {
    let requeued = requeue_batch(state, RejudgeSelection::One(id), requested_at).await?;
    state.relay_wake.notify_one();
    Ok(requeued.into_iter().next())
}

/// What a problem's rejudge queued.
#[derive(Debug, Default)]
pub struct ProblemRequeued {
    pub count: u64,
    /// The first [`MAX_LISTED`], in id order.
    pub listed: Vec<Requeued>,
}

/// Queues every submission of `problem_id` accepted until `requested_at` again, batch by
/// batch. A failure stops it; the batches before stay queued (rejudging again is safe).
pub async fn rejudge_problem(
    state: &AppState,
    problem_id: i64,
    requested_at: DateTime<Utc>,
) -> Result<ProblemRequeued, sqlx::Error> {
    let mut outcome = ProblemRequeued::default();
    let mut after = None;
    loop {
        let selection = RejudgeSelection::OfProblem {
            problem_id,
            after,
            accepted_until: requested_at,
            limit: BATCH,
        };
        let batch = requeue_batch(state, selection, requested_at).await?;
        let full = batch.len() as i64 == BATCH;
        after = batch.last().map(|r| r.id);
        outcome.count += batch.len() as u64;
        let room = MAX_LISTED.saturating_sub(outcome.listed.len());
        outcome.listed.extend(batch.into_iter().take(room));
        if after.is_some() {
            state.relay_wake.notify_one();
        }
        if !full {
            return Ok(outcome);
        }
    }
}

/// `submission.requeue`: one transaction that makes a new judging of every selected
/// submission.
async fn requeue_batch(
    state: &AppState,
    selection: RejudgeSelection,
    requested_at: DateTime<Utc>,
) -> Result<Vec<Requeued>, sqlx::Error> {
    let requeue_span = tracing::info_span!(
        REQUEUE_SPAN,
        otel.kind = "internal",
        db.system.name = "postgresql",
        db.operation.name = "UPDATE",
        db.collection.name = "submissions",
        submission.count = tracing::field::Empty,
    );
    let request = requeue_span.context().span().span_context().clone();
    async {
        let mut tx = state.pool.begin().await?;
        let candidates = submissions::lock_for_rejudge(&mut tx, selection).await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
        judgings::archive(&mut tx, &ids, requested_at).await?;
        let mut requeued = Vec::with_capacity(candidates.len());
        // Ended (and exported) once the batch is committed.
        let mut roots = Vec::with_capacity(candidates.len());
        for candidate in &candidates {
            let message = candidate.next_judging();
            let root = judging_root(candidate, &message, &request);
            let root_context = root.context();
            let span_context = root_context.span().span_context().clone();
            let trace_id = if span_context.is_valid() {
                span_context.trace_id().to_string()
            } else {
                String::new()
            };
            let trace_context = trace_headers::context_to_map(&root_context);
            submissions::requeue(
                &mut tx,
                &NextJudging {
                    message: &message,
                    trace_id: &trace_id,
                    trace_sampled: span_context.is_sampled(),
                    traceparent: trace_context.get("traceparent").map(String::as_str),
                    requested_at,
                },
            )
            .await?;
            outbox::enqueue(&mut tx, &message, &trace_context, Claim::Relay).await?;
            requeued.push(Requeued {
                id: message.submission_id,
                judging: message.judging,
                trace_id,
                trace_sampled: span_context.is_sampled(),
            });
            roots.push(root);
        }
        tx.commit().await?;
        tracing::Span::current().record("submission.count", requeued.len() as i64);
        drop(roots);
        Ok(requeued)
    }
    .instrument(requeue_span)
    .await
}

/// The root of a new judging's trace, linked to the submission's first trace (when it was
/// recorded) and to the batch of the rejudge request that made it.
fn judging_root(
    candidate: &RejudgeCandidate,
    message: &SubmissionMessage,
    request: &SpanContext,
) -> tracing::Span {
    let root = tracing::info_span!(
        parent: None,
        REJUDGE_SPAN,
        otel.kind = "internal",
        submission.id = %message.submission_id,
        submission.judging = i64::from(message.judging),
        judge.language = %message.language,
        problem.id = tracing::field::Empty,
        problem.version = tracing::field::Empty,
    );
    if let TestcaseSource::Problem {
        problem_id,
        version,
    } = &message.testcases
    {
        root.record("problem.id", *problem_id);
        root.record("problem.version", i64::from(*version));
    }
    if let Some(original) = candidate
        .original_traceparent
        .as_deref()
        .filter(|_| candidate.original_sampled)
        .and_then(span_context_of)
    {
        root.add_link_with_attributes(
            original,
            vec![KeyValue::new("link.kind", "original_submission")],
        );
    }
    root.add_link_with_attributes(
        request.clone(),
        vec![KeyValue::new("link.kind", "rejudge_request")],
    );
    root
}

/// The span a W3C `traceparent` names, if it is valid.
fn span_context_of(traceparent: &str) -> Option<SpanContext> {
    let headers = BTreeMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let context = trace_headers::context_from_map(&headers);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}
