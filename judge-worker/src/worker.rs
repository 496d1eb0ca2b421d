//! What every judging task shares.

use crate::judge::JudgeEngine;
use crate::judge_process::JudgeProcess;
use crate::metrics::WorkerMetrics;
use crate::slots::SlotPool;
use crate::testcase_fetch::TestcaseFetcher;
use messaging::Topology;
use messaging::semconv::BrokerEndpoint;
use std::sync::Arc;

pub struct Worker {
    pub engine: Arc<JudgeEngine>,
    pub fetcher: TestcaseFetcher,
    pub slots: SlotPool,
    pub metrics: Arc<WorkerMetrics>,
    pub topology: Topology,
    pub endpoint: BrokerEndpoint,
    pub amqp_url: String,
    pub concurrency: usize,
    /// `hostname@pid`, reported with every result.
    pub worker_id: String,
    /// How redelivered submissions are judged (in a process of their own).
    pub judge_process: JudgeProcess,
}

/// `hostname@pid` of this process.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{host}@{}", std::process::id())
}
