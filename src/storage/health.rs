//! What `/readyz` and ingest know about the writer: whether its threads still run, and
//! whether its last commit failed for a storage fault (PostgreSQL unreachable, disk full or
//! read-only, I/O error).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Shared between the writer's threads and its handles.
#[derive(Debug, Default)]
pub struct WriterHealth {
    /// Committing threads still running (a panicked or stopped thread has left).
    running: AtomicUsize,
    /// The last commit attempt failed for a storage fault and none has succeeded since.
    failing: AtomicBool,
}

/// Which answer `/readyz` gives for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterState {
    Running,
    /// Its last commit failed; it retries with the next request.
    Failing,
    /// No committing thread runs: nothing can be stored until intake restarts.
    Stopped,
}

impl WriterHealth {
    pub fn state(&self) -> WriterState {
        if self.running.load(Ordering::SeqCst) == 0 {
            WriterState::Stopped
        } else if self.failing.load(Ordering::SeqCst) {
            WriterState::Failing
        } else {
            WriterState::Running
        }
    }

    /// Records the outcome of a commit attempt (or of a readiness probe that writes).
    pub fn committed(&self, ok: bool) {
        self.failing.store(!ok, Ordering::SeqCst);
    }
}

/// Held by each committing thread for as long as it runs; dropped on return and on panic.
pub struct Alive(Arc<WriterHealth>);

impl Alive {
    /// Counts a thread as running; create it before the thread starts, so a thread that
    /// has not been scheduled yet still counts.
    pub fn new(health: &Arc<WriterHealth>) -> Alive {
        health.running.fetch_add(1, Ordering::SeqCst);
        Alive(health.clone())
    }

    pub fn health(&self) -> &WriterHealth {
        &self.0
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committing thread that panics leaves the writer `Stopped`, never "running".
    #[test]
    fn a_panicked_writer_thread_is_stopped() {
        let health = Arc::new(WriterHealth::default());
        let alive = Alive::new(&health);
        assert_eq!(health.state(), WriterState::Running);
        let thread = std::thread::spawn(move || {
            let _alive = alive;
            panic!("a storage error reached an unwrap");
        });
        assert!(thread.join().is_err());
        assert_eq!(health.state(), WriterState::Stopped);
    }

    /// A failed commit makes it `Failing` until a commit (or a readiness probe) succeeds.
    #[test]
    fn a_failed_commit_is_failing_until_one_succeeds() {
        let health = Arc::new(WriterHealth::default());
        let _alive = Alive::new(&health);
        health.committed(false);
        assert_eq!(health.state(), WriterState::Failing);
        health.committed(true);
        assert_eq!(health.state(), WriterState::Running);
    }
}
