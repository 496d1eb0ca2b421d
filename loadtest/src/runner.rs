//! The open-loop run against the API: create the problem set, then send submission *i* at its
//! due time in a task of its own (the scheduling loop never waits for an answer), wait a
//! bounded time for the stragglers, and build the [`Report`].

use crate::api_client::{ApiClient, ApiError, Tokens};
use crate::live::LiveStats;
use crate::mix::Mix;
use crate::otel::Instruments;
use crate::proc_watch::{ProcessWatch, WatchTarget};
use crate::progress::Progress;
use crate::report::{Report, RunFacts};
use crate::schedule::{Schedule, ScheduleError};
use crate::submission::{Due, RunContext, SubmissionRecord, run_submission};
use crate::workload::{Plan, PlanError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Everything a run against the API needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL of client-api.
    pub api: String,
    /// Bearer tokens: admin for the problem set, clients for submissions.
    pub tokens: Tokens,
    /// Steady arrival rate, submissions per second.
    pub rate: f64,
    /// How long submissions are sent (ramp included).
    pub duration: Duration,
    /// Linear ramp from 0 to `rate` at the start.
    pub ramp: Duration,
    pub mix: Mix,
    /// Restrict programs to these languages (empty: all).
    pub languages: Vec<String>,
    /// After the last submission is sent, how long to wait for the ones still in flight.
    pub drain_timeout: Duration,
    /// How many of the slowest submissions to list.
    pub slowest: usize,
    /// Only `POST`; do not wait for verdicts.
    pub submit_only: bool,
    /// Give every submission a source of its own (no compile-cache hits).
    pub unique_sources: bool,
    /// Print the live progress line on stderr.
    pub progress: bool,
    /// Service processes whose CPU and memory to report.
    pub watch: Vec<WatchTarget>,
}

impl LoadConfig {
    /// A run at `rate` for `duration` with the default mix and no extras.
    pub fn new(api: impl Into<String>, rate: f64, duration: Duration) -> LoadConfig {
        LoadConfig {
            api: api.into(),
            tokens: Tokens::default(),
            rate,
            duration,
            ramp: Duration::ZERO,
            mix: Mix::default(),
            languages: Vec::new(),
            drain_timeout: Duration::from_secs(120),
            slowest: 10,
            submit_only: false,
            unique_sources: false,
            progress: false,
            watch: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot reach the API at {api}: {source}")]
    Unreachable { api: String, source: ApiError },
    #[error("the API does not offer the language `{0}`")]
    LanguageNotOffered(String),
    #[error("cannot create the problem set: {0}")]
    Problems(ApiError),
}

/// Runs the load and reports. Fails only when the run cannot start; what goes wrong with
/// submissions is in the report (see [`Report::passed`]).
pub async fn run_load(config: &LoadConfig) -> Result<Report, LoadError> {
    let schedule = Schedule::new(config.rate, config.duration, config.ramp)?;
    let plan = Plan::new(&config.mix, &config.languages)?;
    let unreachable = |source| LoadError::Unreachable {
        api: config.api.clone(),
        source,
    };
    let client = ApiClient::new(&config.api, config.tokens.clone()).map_err(unreachable)?;
    let offered = client.languages().await.map_err(unreachable)?;
    if let Some(missing) = plan
        .languages()
        .into_iter()
        .find(|l| !offered.iter().any(|o| o == l))
    {
        return Err(LoadError::LanguageNotOffered(missing.to_string()));
    }
    let mut problem_ids = HashMap::new();
    for key in plan.problems() {
        let id = client
            .create_problem(&key.spec())
            .await
            .map_err(LoadError::Problems)?;
        problem_ids.insert(key, id);
    }

    let live = Arc::new(LiveStats::new(schedule.rate(), schedule.total()));
    let give_up = CancellationToken::new();
    let context = Arc::new(RunContext {
        client,
        problem_ids,
        live: Arc::clone(&live),
        instruments: Instruments::new(&live),
        submit_only: config.submit_only,
        unique_sources: config.unique_sources,
        poll_wait: Duration::from_secs(30),
        give_up: give_up.clone(),
    });
    let watch = ProcessWatch::start(&config.watch);
    let progress = config.progress.then(|| Progress::start(Arc::clone(&live)));

    let start = Instant::now();
    let start_wall = SystemTime::now();
    let mut tasks = JoinSet::new();
    for planned in plan {
        let Some(offset) = schedule.due(planned.index) else {
            break;
        };
        let due = Due {
            offset,
            instant: start + offset,
            wall: start_wall + offset,
        };
        // A late loop sends at once what is overdue: the due times stay what they were.
        tokio::time::sleep_until(due.instant.into()).await;
        tasks.spawn(run_submission(Arc::clone(&context), planned, due));
    }
    live.mark_sending_done();
    let sending = start.elapsed();

    let records = drain(&mut tasks, config.drain_timeout, &give_up).await;
    let elapsed = start.elapsed();
    if let Some(progress) = progress {
        progress.stop();
    }
    let processes = watch.finish();
    Ok(Report::build(
        records,
        RunFacts {
            api: config.api.clone(),
            mix: config.mix.to_string(),
            languages: config.languages.clone(),
            submit_only: config.submit_only,
            schedule,
            sending,
            elapsed,
            slowest: config.slowest,
            processes,
        },
    ))
}

/// Collects every task's record. When `timeout` has passed, the tasks still running are told
/// to give up; each then records itself as unfinished at its next await.
async fn drain(
    tasks: &mut JoinSet<SubmissionRecord>,
    timeout: Duration,
    give_up: &CancellationToken,
) -> Vec<SubmissionRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut records = Vec::with_capacity(tasks.len());
    loop {
        let next = if give_up.is_cancelled() {
            tasks.join_next().await
        } else {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(next) => next,
                Err(_) => {
                    give_up.cancel();
                    continue;
                }
            }
        };
        match next {
            None => break,
            Some(Ok(record)) => records.push(record),
            Some(Err(e)) => eprintln!("loadtest: a submission task died: {e}"),
        }
    }
    records.sort_by_key(|r| r.index);
    records
}
