//! One run at a time: a run, scheduled or probe, holds the slot until its workers are gone,
//! so that runs never disturb each other's timings; `copybench_run_in_progress` says when the
//! slot is held.

use std::sync::Arc;

use prometheus::IntGauge;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The run slot.
pub struct RunSlot {
    lock: Arc<Mutex<()>>,
    in_progress: IntGauge,
}

/// The slot, held until dropped.
pub struct Held {
    // Dropped in order: the gauge falls before the lock lets another run start.
    _running: Running,
    _lock: OwnedMutexGuard<()>,
}

/// Keeps the in-progress gauge at 1 while alive.
struct Running(IntGauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

impl RunSlot {
    /// A free slot.
    pub fn new() -> prometheus::Result<RunSlot> {
        Ok(RunSlot {
            lock: Arc::new(Mutex::new(())),
            in_progress: IntGauge::new(
                "copybench_run_in_progress",
                "1 while a run (scheduled or probe) is executing.",
            )?,
        })
    }

    /// `copybench_run_in_progress`, to publish.
    pub fn gauge(&self) -> IntGauge {
        self.in_progress.clone()
    }

    fn held(&self, lock: OwnedMutexGuard<()>) -> Held {
        self.in_progress.set(1);
        Held {
            _running: Running(self.in_progress.clone()),
            _lock: lock,
        }
    }

    /// Waits for the slot on a blocking thread (the sweep's).
    pub fn hold_blocking(&self) -> Held {
        self.held(Arc::clone(&self.lock).blocking_lock_owned())
    }

    /// The slot if no run holds it.
    pub fn try_hold(&self) -> Option<Held> {
        let lock = Arc::clone(&self.lock).try_lock_owned().ok()?;
        Some(self.held(lock))
    }

    /// Resolves once no run holds the slot.
    pub async fn idle(&self) {
        drop(self.lock.lock().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_is_one_while_held_and_the_slot_taken_once() {
        let slot = RunSlot::new().expect("slot");
        assert_eq!(slot.gauge().get(), 0);
        let held = slot.try_hold().expect("free");
        assert_eq!(slot.gauge().get(), 1);
        assert!(slot.try_hold().is_none(), "one run at a time");
        drop(held);
        assert_eq!(slot.gauge().get(), 0);
        drop(slot.hold_blocking());
        assert!(slot.try_hold().is_some());
    }
}
