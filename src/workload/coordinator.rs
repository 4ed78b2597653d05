//! The run's shared state for handing out work in process: a dynamic task queue for threads (a
//! worker that finishes takes the next line, like an executor's queue), the turnstile of
//! ordered mode for both backends, and the stop flag.
//!
//! Threads use it directly; worker processes take their tasks from a shared task file (see
//! [`super::worker`]) and reach the turnstile through their pipes.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use super::task::Queue;

/// Shared state of one run.
#[derive(Debug)]
pub(crate) struct Coordinator {
    lines: u64,
    next: AtomicU64,
    /// The task whose turn it is to append (ordered mode).
    turn: Mutex<u64>,
    turn_changed: Condvar,
    stopped: AtomicBool,
}

impl Coordinator {
    pub(crate) fn new(lines: u64) -> Self {
        Coordinator {
            lines,
            next: AtomicU64::new(1),
            turn: Mutex::new(1),
            turn_changed: Condvar::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// Hands out the next task, or `None` once all are out or the run is stopping.
    pub(crate) fn next_task(&self) -> Option<u64> {
        if self.stopped.load(Ordering::SeqCst) {
            return None;
        }
        let task = self.next.fetch_add(1, Ordering::SeqCst);
        (task <= self.lines).then_some(task)
    }

    /// Blocks until it is `task`'s turn to append; `false` if the run is stopping instead.
    pub(crate) fn wait_turn(&self, task: u64) -> bool {
        let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        while *turn != task && !self.stopped.load(Ordering::SeqCst) {
            turn = self
                .turn_changed
                .wait(turn)
                .unwrap_or_else(|p| p.into_inner());
        }
        !self.stopped.load(Ordering::SeqCst)
    }

    /// Records `task` as appended and passes the turn on.
    pub(crate) fn task_done(&self, task: u64) {
        let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        if *turn == task {
            *turn = task + 1;
            self.turn_changed.notify_all();
        }
    }

    /// Stops handing out tasks and wakes every worker waiting for its turn.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        self.turn_changed.notify_all();
    }
}

impl Queue for &Coordinator {
    fn next(&mut self) -> io::Result<Option<u64>> {
        Ok(self.next_task())
    }

    fn wait_turn(&mut self, task: u64) -> io::Result<bool> {
        Ok(Coordinator::wait_turn(self, task))
    }

    fn pass_turn(&mut self, task: u64) -> io::Result<()> {
        self.task_done(task);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn hands_out_each_task_once_then_none() {
        let c = Coordinator::new(3);
        assert_eq!(
            [c.next_task(), c.next_task(), c.next_task(), c.next_task()],
            [Some(1), Some(2), Some(3), None]
        );
    }

    #[test]
    fn turnstile_admits_tasks_in_order_and_stop_releases_waiters() {
        let c = Arc::new(Coordinator::new(3));
        let waiter = {
            let c = Arc::clone(&c);
            std::thread::spawn(move || c.wait_turn(2))
        };
        assert!(c.wait_turn(1));
        c.task_done(1);
        assert!(waiter.join().expect("waiter thread"));

        let blocked = {
            let c = Arc::clone(&c);
            std::thread::spawn(move || c.wait_turn(3))
        };
        c.stop();
        assert!(!blocked.join().expect("blocked thread"));
        assert_eq!(c.next_task(), None);
    }
}
