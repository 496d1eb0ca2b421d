//! Build spaces made ahead: each slot keeps one fresh tmpfs and empty network namespace
//! ready, made by a thread of the sandbox's own right after the previous pair is taken, so a
//! submission does not wait the ~0.7 ms they take (BENCHMARKS.md, issue 13).
//!
//! A spare is exactly what [`crate::Sandbox::workspace`] would otherwise make on the spot:
//! never mounted, never joined, so nothing of an earlier submission can be in it. One made for
//! another quota is not used (and is replaced). A spare that cannot be made costs nothing but
//! the time saved: the workspace is then made on the spot, as before.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::mounts::Tmpfs;
use super::netns::EmptyNetns;
use crate::DiskQuota;

/// One slot's space made ahead.
pub(crate) struct Spare {
    pub quota: DiskQuota,
    pub build: Tmpfs,
    pub netns: EmptyNetns,
}

struct Shelf {
    slots: Mutex<Vec<Option<Spare>>>,
    /// Signalled whenever a spare is put on the shelf.
    filled: Condvar,
}

/// The spares of a sandbox's slots and the thread that makes them.
pub(crate) struct SpareSpaces {
    shelf: Arc<Shelf>,
    requests: Option<mpsc::Sender<(usize, DiskQuota)>>,
    maker: Option<JoinHandle<()>>,
}

impl SpareSpaces {
    pub fn new(slots: usize) -> SpareSpaces {
        let shelf = Arc::new(Shelf {
            slots: Mutex::new((0..slots).map(|_| None).collect()),
            filled: Condvar::new(),
        });
        let (requests, queue) = mpsc::channel::<(usize, DiskQuota)>();
        let made = Arc::clone(&shelf);
        let maker = std::thread::Builder::new()
            .name("sandbox-spares".into())
            .spawn(move || {
                // Ends when the sandbox drops its sender.
                while let Ok((slot, quota)) = queue.recv() {
                    let spare = Tmpfs::new(quota).and_then(|build| {
                        // This thread is the sandbox's own: it may change its network
                        // namespace at every spare (it opens no socket).
                        Ok(Spare {
                            quota,
                            build,
                            netns: EmptyNetns::create_here()?,
                        })
                    });
                    match spare {
                        Ok(spare) => {
                            let mut slots = made.slots.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(place) = slots.get_mut(slot) {
                                *place = Some(spare);
                            }
                            made.filled.notify_all();
                        }
                        Err(e) => {
                            tracing::debug!(slot, error = %e, "cannot make a spare workspace; the next is made on the spot")
                        }
                    }
                }
            })
            .ok();
        if maker.is_none() {
            tracing::warn!(
                "cannot start the spare-workspace thread; workspaces are made on the spot"
            );
        }
        SpareSpaces {
            shelf,
            requests: maker.is_some().then_some(requests),
            maker,
        }
    }

    /// The spare of `slot`, if one for `quota` is ready.
    pub fn take(&self, slot: usize, quota: DiskQuota) -> Option<Spare> {
        let mut slots = self.shelf.slots.lock().unwrap_or_else(|p| p.into_inner());
        let place = slots.get_mut(slot)?;
        if place.as_ref().is_some_and(|spare| spare.quota == quota) {
            place.take()
        } else {
            None
        }
    }

    /// Make a spare for `slot` (replacing one it may hold).
    pub fn request(&self, slot: usize, quota: DiskQuota) {
        if let Some(requests) = &self.requests {
            let _ = requests.send((slot, quota));
        }
    }

    /// Blocks until `slot` holds a spare (tests).
    #[cfg(test)]
    pub fn wait_for(&self, slot: usize) {
        let mut slots = self.shelf.slots.lock().unwrap_or_else(|p| p.into_inner());
        while slots.get(slot).is_some_and(Option::is_none) {
            slots = self
                .shelf
                .filled
                .wait(slots)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for SpareSpaces {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(maker) = self.maker.take() {
            let _ = maker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_is_taken_once_and_only_for_its_quota() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: no tmpfs or network namespace to make");
            return;
        }
        let spares = SpareSpaces::new(2);
        let quota = DiskQuota::mib(8, 64);
        assert!(spares.take(0, quota).is_none(), "nothing made yet");
        spares.request(0, quota);
        spares.wait_for(0);
        assert!(
            spares.take(0, DiskQuota::mib(16, 64)).is_none(),
            "another quota"
        );
        assert!(spares.take(1, quota).is_none(), "another slot");
        let first = spares.take(0, quota).expect("the spare");
        assert!(spares.take(0, quota).is_none(), "taken once");
        spares.request(0, quota);
        spares.wait_for(0);
        let second = spares.take(0, quota).expect("the next spare");
        use std::os::fd::AsRawFd;
        let ino = |n: &EmptyNetns| {
            let path = format!("/proc/self/fd/{}", n.fd().as_raw_fd());
            std::fs::metadata(path)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap()
        };
        assert_ne!(
            ino(&first.netns),
            ino(&second.netns),
            "a fresh namespace each time"
        );
        assert!(spares.take(5, quota).is_none());
    }
}
