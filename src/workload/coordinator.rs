//! The run's single source of truth for who does what next: a dynamic task queue (a worker that
//! finishes takes the next line, like an executor's queue), the turnstile of ordered mode, the
//! stop flag, and the clock from first task handed out to last task done.
//!
//! Threads use it directly; worker processes reach it through the pipe protocol in
//! [`super::pool`].

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::task::Queue;

/// Shared state of one run.
#[derive(Debug)]
pub(crate) struct Coordinator {
    lines: u64,
    next: AtomicU64,
    completed: AtomicU64,
    /// The task whose turn it is to append (ordered mode).
    turn: Mutex<u64>,
    turn_changed: Condvar,
    stopped: AtomicBool,
    started: OnceLock<Instant>,
    finished: OnceLock<Instant>,
}

impl Coordinator {
    pub(crate) fn new(lines: u64) -> Self {
        Coordinator {
            lines,
            next: AtomicU64::new(1),
            completed: AtomicU64::new(0),
            turn: Mutex::new(1),
            turn_changed: Condvar::new(),
            stopped: AtomicBool::new(false),
            started: OnceLock::new(),
            finished: OnceLock::new(),
        }
    }

    /// Hands out the next task, or `None` once all are out or the run is stopping.
    pub(crate) fn next_task(&self) -> Option<u64> {
        if self.stopped.load(Ordering::SeqCst) {
            return None;
        }
        let task = self.next.fetch_add(1, Ordering::SeqCst);
        if task > self.lines {
            return None;
        }
        self.started.get_or_init(Instant::now);
        Some(task)
    }

    /// Blocks until it is `task`'s turn to append; `false` if the run is stopping instead.
    pub(crate) fn wait_turn(&self, task: u64) -> bool {
        let mut turn = self
            .turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while *turn != task && !self.stopped.load(Ordering::SeqCst) {
            turn = self
                .turn_changed
                .wait(turn)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        !self.stopped.load(Ordering::SeqCst)
    }

    /// Records `task` as appended and passes the turn on.
    pub(crate) fn task_done(&self, task: u64) {
        {
            let mut turn = self
                .turn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *turn == task {
                *turn = task + 1;
            }
        }
        self.turn_changed.notify_all();
        if self.completed.fetch_add(1, Ordering::SeqCst) + 1 == self.lines {
            self.finished.get_or_init(Instant::now);
        }
    }

    /// Stops handing out tasks and wakes every worker waiting for its turn.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _turn = self
            .turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.turn_changed.notify_all();
    }

    /// Time from the first task handed out to the last task done, once all are done.
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        Some(self.finished.get()?.duration_since(*self.started.get()?))
    }
}

impl Queue for &Coordinator {
    fn next(&mut self) -> io::Result<Option<u64>> {
        Ok(self.next_task())
    }

    fn wait_turn(&mut self, task: u64) -> io::Result<bool> {
        Ok(Coordinator::wait_turn(self, task))
    }

    fn done(&mut self, task: u64) -> io::Result<()> {
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
    fn elapsed_is_known_only_when_every_task_is_done() {
        let c = Coordinator::new(2);
        c.next_task();
        c.next_task();
        c.task_done(1);
        assert!(c.elapsed().is_none());
        c.task_done(2);
        assert!(c.elapsed().is_some());
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
