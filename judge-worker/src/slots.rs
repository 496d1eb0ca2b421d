//! Judging slots: each running judge holds one slot index, which names its work dir and (in
//! the isolated sandbox) its uid and cgroup, so parallel judges never share them.

use crate::metrics::WorkerMetrics;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct SlotPool {
    free: Mutex<Vec<usize>>,
    permits: Arc<Semaphore>,
    metrics: Arc<WorkerMetrics>,
}

/// A slot in use; returns itself to the pool when dropped.
pub struct Slot<'a> {
    index: usize,
    pool: &'a SlotPool,
    _permit: OwnedSemaphorePermit,
}

impl SlotPool {
    pub fn new(count: usize, metrics: Arc<WorkerMetrics>) -> Self {
        SlotPool {
            free: Mutex::new((0..count).rev().collect()),
            permits: Arc::new(Semaphore::new(count)),
            metrics,
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> Option<Slot<'_>> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let index = self.free.lock().ok()?.pop()?;
        self.metrics.slots_busy.add(1, &[]);
        Some(Slot {
            index,
            pool: self,
            _permit: permit,
        })
    }
}

impl Slot<'_> {
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.free.lock() {
            free.push(self.index);
        }
        self.pool.metrics.slots_busy.add(-1, &[]);
    }
}
