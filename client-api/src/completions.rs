//! Wakes requests that wait for a submission to finish (`GET …?wait_ms=N`).
//!
//! The result consumer announces every submission it finalizes; a waiting request subscribes
//! *before* reading the row, so a result stored between the read and the wait is not missed.
//! If a waiter falls behind the channel (lag), it simply reads the row again.

use tokio::sync::broadcast;
use uuid::Uuid;

#[derive(Clone)]
pub struct Completions {
    sender: broadcast::Sender<Uuid>,
}

impl Completions {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Completions { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.sender.subscribe()
    }

    /// Announces that `id` is done. No waiter is fine.
    pub fn finished(&self, id: Uuid) {
        let _ = self.sender.send(id);
    }
}

impl Default for Completions {
    fn default() -> Self {
        Self::new()
    }
}
