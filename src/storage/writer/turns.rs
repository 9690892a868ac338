//! Turns between PostgreSQL's committing threads: one gathers and commits while the others
//! stand by, and a commit slower than the patience lets the next one begin beside it.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Committing connections on PostgreSQL unless configured (`writer_connections`). Two writers
/// taking turns (see [`Turns`]) do as well as one and overlap a stalled commit; more did worse
/// with PostgreSQL on the same machine (docs/decisions.md, "PostgreSQL"). More help only
/// where commits take longer than [`COMMIT_PATIENCE`] (a database across a slow network).
pub const DEFAULT_POSTGRES_WRITERS: usize = 2;

/// How long a commit on PostgreSQL runs before another writer starts one beside it (see
/// [`Turns`]).
pub(super) const COMMIT_PATIENCE: Duration = Duration::from_millis(3);

/// Turns between PostgreSQL's writers. A writer gathers a group (and commits it) when no other
/// commit is in flight, or once the newest one has run for longer than the patience: the writer
/// that has just committed goes on with what arrived meanwhile, and the others stand by without
/// holding a request. Each commit costs PostgreSQL a WAL flush, far more than a row, so one
/// commit at a time gathers larger groups and costs PostgreSQL less CPU a request than two
/// commits always overlapping (docs/decisions.md, "PostgreSQL"). A commit slower than the
/// patience (a flush stalled behind a checkpoint, a remote database) lets a standing-by writer
/// overlap it.
pub(super) struct Turns {
    patience: Duration,
    in_flight: Mutex<InFlight>,
    finished: Condvar,
}

#[derive(Default)]
struct InFlight {
    commits: usize,
    /// When the newest commit in flight began.
    newest: Option<Instant>,
}

impl Turns {
    pub(super) fn new(patience: Duration) -> Self {
        Turns {
            patience,
            in_flight: Mutex::default(),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How long until a writer may gather, if it may not now.
    fn left(&self, in_flight: &InFlight) -> Option<Duration> {
        if in_flight.commits == 0 {
            return None;
        }
        let running = in_flight.newest.map_or(Duration::ZERO, |t| t.elapsed());
        Some(self.patience.saturating_sub(running)).filter(|left| !left.is_zero())
    }

    /// Waits until this writer may gather and commit a group.
    pub(super) fn wait(&self) {
        let mut in_flight = self.lock();
        while let Some(left) = self.left(&in_flight) {
            in_flight = self
                .finished
                .wait_timeout(in_flight, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether a writer may gather now. (Checked again once it holds the queue: another writer
    /// may have begun a commit while it waited for it.)
    pub(super) fn is_open(&self) -> bool {
        self.left(&self.lock()).is_none()
    }

    /// Counts a commit in flight until [`Turns::end`].
    pub(super) fn begin(&self) {
        let mut in_flight = self.lock();
        in_flight.commits += 1;
        in_flight.newest = Some(Instant::now());
    }

    /// A commit begun with [`Turns::begin`] is over.
    pub(super) fn end(&self) {
        let mut in_flight = self.lock();
        in_flight.commits -= 1;
        if in_flight.commits == 0 {
            in_flight.newest = None;
        }
        drop(in_flight);
        self.finished.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{self, Receiver};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// Starts a writer thread that waits for its turn, begins a commit and reports.
    fn next_writer(turns: &Arc<Turns>) -> Receiver<()> {
        let (started, report) = mpsc::channel();
        let turns = turns.clone();
        std::thread::spawn(move || {
            turns.wait();
            turns.begin();
            let _ = started.send(());
        });
        report
    }

    #[test]
    fn a_writer_commits_after_the_commit_in_flight() {
        let turns = Arc::new(Turns::new(Duration::from_secs(600)));
        turns.begin();
        let next = next_writer(&turns);
        assert!(
            next.recv_timeout(Duration::from_millis(200)).is_err(),
            "the next writer began while a commit was in flight"
        );
        turns.end();
        next.recv_timeout(Duration::from_secs(60))
            .expect("the next writer began once the commit ended");
    }

    #[test]
    fn the_queue_is_closed_to_a_writer_while_another_commits() {
        let turns = Turns::new(Duration::from_secs(600));
        assert!(turns.is_open());
        turns.begin();
        assert!(!turns.is_open());
        turns.end();
        assert!(turns.is_open());
    }

    #[test]
    fn a_slow_commit_lets_the_next_writer_begin_beside_it() {
        let turns = Arc::new(Turns::new(Duration::from_millis(5)));
        turns.begin(); // never ends: a stalled commit
        next_writer(&turns)
            .recv_timeout(Duration::from_secs(60))
            .expect("the next writer began beside the stalled commit");
        // Two commits in flight now; a third waits for the newest's patience, then begins too.
        next_writer(&turns)
            .recv_timeout(Duration::from_secs(60))
            .expect("a third writer began");
        assert_eq!(turns.in_flight.lock().unwrap().commits, 3);
    }
}
