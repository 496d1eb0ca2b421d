//! judge-worker: takes submissions from RabbitMQ, judges them in the sandbox, publishes the
//! verdicts.
//!
//! [`submission_consumer`] receives deliveries (through `messaging::consumer`);
//! [`process_submission`] handles each one (queue wait, [`started_publisher`],
//! [`testcase_fetch`], the [`judge`] engine in a [`slots`] slot — in a [`judge_process`] of
//! its own for a redelivery —, then the result through `messaging`'s traced publish);
//! [`startup`] assembles it from a [`config::Config`]. ARCHITECTURE.md maps the whole.

pub mod config;
pub mod judge;
pub mod judge_process;
pub mod metrics;
pub mod process_submission;
pub mod slots;
pub mod started_publisher;
pub mod startup;
pub mod submission_consumer;
pub mod testcase_fetch;
pub mod worker;

use clap::Parser;

/// The `judge-worker` binary: parse configuration, start telemetry, judge until SIGTERM or
/// Ctrl-C (or run a one-shot command), flush telemetry.
pub fn main_entry() -> anyhow::Result<()> {
    let config = config::Config::parse();
    let telemetry = telemetry::TelemetryConfig {
        service_name: "judge-worker",
        service_version: env!("CARGO_PKG_VERSION"),
        log_format: config.logs.format(),
        log_filter: config.logs.log_filter.clone(),
        // A judge process answers on stdout.
        console: match config.command {
            Some(config::Command::JudgeBatch) => telemetry::Console::Stderr,
            _ => telemetry::Console::Stdout,
        },
    };
    telemetry::run_service(telemetry, || async {
        match &config.command {
            Some(config::Command::ReplayDeadLetters { limit }) => {
                return replay_dead_letters(&config, *limit).await;
            }
            Some(config::Command::JudgeBatch) => {
                return judge_process::run_judge_batch(&config).await;
            }
            Some(config::Command::PrepareToolchains) => {
                return prepare_toolchains(&config).await;
            }
            None => {}
        }
        let app = startup::Application::build(&config)?;
        app.run_until_stopped(telemetry::shutdown_signal()).await;
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `judge-worker prepare-toolchains`: makes the warm-compile files and says what is in use;
/// fails if a language the table warms could not be warmed (an image build should stop).
async fn prepare_toolchains(config: &config::Config) -> anyhow::Result<()> {
    let languages =
        messaging::language::LanguageTable::load(config.pipeline.languages_file.as_deref())?;
    let dir = config.toolchain_dir.clone();
    let table = languages.clone();
    let toolchains =
        tokio::task::spawn_blocking(move || judge::Toolchains::prepare(&table, Some(&dir))).await?;
    let mut missing = Vec::new();
    for language in &languages.languages {
        let Some(toolchain) = toolchains.get(&language.id) else {
            continue;
        };
        if toolchain.precompiled_headers.len() < language.precompiled_headers.len()
            || (language.compiler_class_archive.is_some() && toolchain.class_archive.is_none())
        {
            missing.push(language.id.clone());
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "could not warm {} in {} (see the warnings above)",
        missing.join(", "),
        config.toolchain_dir.display()
    );
    Ok(())
}

/// `judge-worker replay-dead-letters`: moves dead-lettered messages back to their queues.
async fn replay_dead_letters(config: &config::Config, limit: u64) -> anyhow::Result<()> {
    use lapin::options::ConfirmSelectOptions;
    let topology = messaging::Topology::new(&config.pipeline.queue_prefix);
    let (connection, channel) = messaging::topology::open_channel(
        &config.pipeline.amqp_url,
        "judge-worker-replay",
        &topology,
    )
    .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let report = messaging::dead_letters::replay(&channel, &topology, limit).await?;
    let _ = connection.close(200, "replay done".into()).await;
    for kept in &report.kept {
        tracing::warn!(
            message_id = %kept.message_id,
            reason = %kept.reason,
            "dead letter kept: replaying cannot fix it"
        );
    }
    tracing::info!(
        replayed = ?report.replayed,
        kept = report.kept.len(),
        "dead letters replayed"
    );
    Ok(())
}
