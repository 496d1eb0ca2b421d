//! The life of one submission under load: wait for its due time's turn (the scheduler spawns
//! it then), `POST` it with its trace context, long-poll until the verdict, and write down
//! what happened as a [`SubmissionRecord`]. Every await gives way to the drain deadline, so a
//! submission that never finishes is recorded as unfinished rather than holding the run.

use crate::api_client::{ApiClient, ApiError, SubmissionView, SubmitRequest, Timings};
use crate::components::component_values;
use crate::live::LiveStats;
use crate::mix::Kind;
use crate::otel::{Instruments, SubmissionSpan, names};
use crate::workload::{PlannedSubmission, ProblemKey};
use opentelemetry::KeyValue;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// What every submission task shares.
pub struct RunContext {
    pub client: ApiClient,
    pub problem_ids: HashMap<ProblemKey, i64>,
    pub live: Arc<LiveStats>,
    pub instruments: Instruments,
    /// Only `POST`, never wait for verdicts (to measure the API alone).
    pub submit_only: bool,
    /// Give every submission a source of its own.
    pub unique_sources: bool,
    /// How long one long-poll request asks the server to hold.
    pub poll_wait: Duration,
    /// Cancelled at the drain deadline.
    pub give_up: CancellationToken,
}

/// When a submission was due, in both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    /// Offset from the start of the run.
    pub offset: Duration,
    pub instant: Instant,
    pub wall: SystemTime,
}

/// Everything known about one submission at the end of the run.
#[derive(Debug, Clone)]
pub struct SubmissionRecord {
    pub index: u64,
    pub kind: Kind,
    pub language: &'static str,
    pub problem: ProblemKey,
    /// Due offset from the start of the run.
    pub due: Duration,
    /// How late the request went out after its due time (the generator's own delay).
    pub send_lag: Duration,
    /// The `POST` was started.
    pub sent: bool,
    /// Due time to the `202`.
    pub submit_latency: Option<Duration>,
    pub id: Option<String>,
    pub trace_id: Option<String>,
    pub trace_url: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The verdict arrived.
    Finished {
        verdict: String,
        /// Why a `ServerError` is one, when the API says.
        error: Option<String>,
        timings: Box<Timings>,
        /// Due time to the verdict seen by the generator.
        latency: Duration,
    },
    /// Accepted and not waited for (`--submit-only`).
    Submitted,
    /// The `POST` failed.
    SubmitFailed { error: String },
    /// Still not done at the drain deadline.
    Unfinished { last_status: String },
}

impl SubmissionRecord {
    pub fn expected_verdict(&self) -> &'static str {
        self.kind.expected_verdict()
    }

    /// The verdict, when it arrived.
    pub fn verdict(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Finished { verdict, .. } => Some(verdict),
            _ => None,
        }
    }

    pub fn is_mismatch(&self) -> bool {
        self.verdict()
            .is_some_and(|verdict| verdict != self.expected_verdict())
    }

    pub fn timings(&self) -> Option<&Timings> {
        match &self.outcome {
            Outcome::Finished { timings, .. } => Some(timings.as_ref()),
            _ => None,
        }
    }
}

/// Awaits `work` unless the run gives up first.
async fn unless_given_up<F: Future>(give_up: &CancellationToken, work: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = give_up.cancelled() => None,
        output = work => Some(output),
    }
}

fn status_of(result: &Result<impl Sized, ApiError>, ok: u16) -> Result<u16, String> {
    match result {
        Ok(_) => Ok(ok),
        Err(ApiError::Status { status, .. }) => Ok(*status),
        Err(error) => Err(error.to_string()),
    }
}

/// Runs one submission to its end. Called in its own task at its due time.
pub async fn run_submission(
    context: Arc<RunContext>,
    planned: PlannedSubmission,
    due: Due,
) -> SubmissionRecord {
    let source = planned.source(context.unique_sources);
    let program = planned.program;
    let send_lag = due.instant.elapsed();
    let mut record = SubmissionRecord {
        index: planned.index,
        kind: program.kind,
        language: program.language,
        problem: program.problem,
        due: due.offset,
        send_lag,
        sent: false,
        submit_latency: None,
        id: None,
        trace_id: None,
        trace_url: None,
        outcome: Outcome::Unfinished {
            last_status: "not sent".into(),
        },
    };
    let live = &context.live;
    let instruments = &context.instruments;
    instruments.record_send_lag(send_lag);
    let expected = program.kind.expected_verdict();
    let span = SubmissionSpan::start(
        due.wall,
        vec![
            KeyValue::new("judge.language", program.language),
            KeyValue::new("loadtest.index", planned.index as i64),
            KeyValue::new("loadtest.expected_verdict", expected),
        ],
    );

    let Some(problem_id) = context.problem_ids.get(&program.problem).copied() else {
        let error = format!("problem {:?} was not created", program.problem);
        record.outcome = Outcome::SubmitFailed {
            error: error.clone(),
        };
        live.failed.fetch_add(1, Ordering::Relaxed);
        span.end(Some(error));
        return record;
    };
    let request = SubmitRequest::for_problem(problem_id, program.language, &source);
    let post = span.request(
        names::SUBMIT_SPAN,
        "POST",
        &format!("{}/api/v1/submissions", context.client.base_url()),
    );
    let token = context.client.tokens().for_submission(planned.index);
    live.sent.fetch_add(1, Ordering::Relaxed);
    record.sent = true;
    let Some(submitted) = unless_given_up(
        &context.give_up,
        context.client.submit(&request, token, &post.headers),
    )
    .await
    else {
        post.end(Err("given up at the drain deadline".into()));
        live.unfinished.fetch_add(1, Ordering::Relaxed);
        instruments.count("unfinished", program.language, expected);
        record.outcome = Outcome::Unfinished {
            last_status: "submitting".into(),
        };
        span.end(Some("unfinished".into()));
        return record;
    };
    post.end(status_of(&submitted, 202));
    let accepted = match submitted {
        Ok(accepted) => accepted,
        Err(error) => {
            live.failed.fetch_add(1, Ordering::Relaxed);
            instruments.count("failed", program.language, expected);
            record.outcome = Outcome::SubmitFailed {
                error: error.to_string(),
            };
            span.end(Some(error.to_string()));
            return record;
        }
    };
    let submit_latency = due.instant.elapsed();
    record.submit_latency = Some(submit_latency);
    instruments.record_submit_latency(submit_latency);
    live.accepted.fetch_add(1, Ordering::Relaxed);
    span.set_attribute(KeyValue::new("submission.id", accepted.id.to_string()));
    record.id = Some(accepted.id.to_string());
    record.trace_id = Some(accepted.trace_id);
    record.trace_url = accepted.trace_url;

    if context.submit_only {
        record.outcome = Outcome::Submitted;
        live.finished.fetch_add(1, Ordering::Relaxed);
        instruments.count("submitted", program.language, expected);
        span.end(None);
        return record;
    }

    match wait_for_verdict(&context, &span, accepted.id, token).await {
        Waited::Done(view) => {
            let view = *view;
            let latency = due.instant.elapsed();
            let verdict = view.verdict.unwrap_or_default();
            let mismatch = verdict != expected;
            live.finished.fetch_add(1, Ordering::Relaxed);
            live.record_latency(latency);
            instruments.record_latency(latency, program.language);
            record_components(instruments, &view.timings);
            span.set_attribute(KeyValue::new("judge.verdict", verdict.clone()));
            if mismatch {
                live.mismatched.fetch_add(1, Ordering::Relaxed);
            }
            let outcome = if mismatch { "mismatch" } else { "ok" };
            instruments.count(outcome, program.language, expected);
            span.end(mismatch.then(|| format!("expected {expected}, got {verdict}")));
            if record.trace_url.is_none() {
                record.trace_url = view.trace_url;
            }
            record.outcome = Outcome::Finished {
                verdict,
                error: view.error,
                timings: Box::new(view.timings),
                latency,
            };
        }
        Waited::GaveUp { last_status } => {
            live.unfinished.fetch_add(1, Ordering::Relaxed);
            instruments.count("unfinished", program.language, expected);
            span.end(Some(format!("unfinished ({last_status})")));
            record.outcome = Outcome::Unfinished { last_status };
        }
    }
    record
}

/// How waiting for a verdict ended.
enum Waited {
    Done(Box<SubmissionView>),
    /// The drain deadline came first; what the submission was last seen doing.
    GaveUp {
        last_status: String,
    },
}

/// Long-polls until the submission is done, retrying after errors, until the run gives up.
async fn wait_for_verdict(
    context: &RunContext,
    span: &SubmissionSpan,
    id: uuid::Uuid,
    token: Option<&str>,
) -> Waited {
    let url = format!("{}/api/v1/submissions/{id}", context.client.base_url());
    let mut last_status = String::from("queued");
    loop {
        let get = span.request(names::WAIT_SPAN, "GET", &url);
        let polled = context
            .client
            .wait_for(id, context.poll_wait, token, &get.headers);
        let Some(answer) = unless_given_up(&context.give_up, polled).await else {
            get.end(Err("given up at the drain deadline".into()));
            return Waited::GaveUp { last_status };
        };
        get.end(status_of(&answer, 200));
        match answer {
            Ok(view) if view.is_done() => return Waited::Done(Box::new(view)),
            Ok(view) => last_status = view.status.as_str().to_string(),
            Err(error) => {
                last_status = format!("polling failed: {error}");
                // Back off a little: the API may be restarting.
                let pause = tokio::time::sleep(Duration::from_millis(250));
                if unless_given_up(&context.give_up, pause).await.is_none() {
                    return Waited::GaveUp { last_status };
                }
            }
        }
    }
}

fn record_components(instruments: &Instruments, timings: &Timings) {
    for (component, millis) in component_values(timings) {
        if let Some(millis) = millis {
            instruments.record_component(component, millis);
        }
    }
}
