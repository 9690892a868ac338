//! The handle the HTTP workers hold: it starts the committing threads, queues a request's
//! batch and waits for its commit.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use super::batch::{WriteBatch, WriteError, Written};
use super::durable::Durable;
use super::group_commit::{configure_writer, run, Job};
use super::idempotency::RETENTION;
use super::turns::{Turns, COMMIT_PATIENCE, DEFAULT_POSTGRES_WRITERS};
use super::wal::{checkpoint_wal, open_wal, sync_wal};
use crate::storage::health::{Alive, WriterHealth, WriterState};
use crate::storage::{Backend, Conn, Database};

/// A handle for submitting batches to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
    health: Arc<WriterHealth>,
}

/// How long a request waits for its commit before it is answered 503. A commit that
/// finishes later is still stored; the sender, told to retry, may then deliver twice (an
/// `Idempotency-Key` makes that retry answer the first delivery instead).
pub(super) const COMMIT_WAIT: Duration = Duration::from_secs(4);

impl Writer {
    /// Starts the committing threads, each on its own connection: one on SQLite, `writers`
    /// (0: [`DEFAULT_POSTGRES_WRITERS`]) on PostgreSQL. The threads end, after committing
    /// everything queued, once every `Writer` clone has been dropped.
    pub fn spawn(
        db: &Database,
        queue_capacity: usize,
        idempotency_retention_hours: u32,
        writers: usize,
    ) -> anyhow::Result<(Writer, Vec<JoinHandle<()>>)> {
        let retention = chrono::Duration::hours(i64::from(idempotency_retention_hours));
        let writers = match (db.backend(), writers) {
            (Backend::Sqlite, _) => 1,
            (Backend::Postgres, 0) => DEFAULT_POSTGRES_WRITERS,
            (Backend::Postgres, n) => n,
        };
        let (queue, jobs) = mpsc::sync_channel(queue_capacity);
        let jobs = Arc::new(Mutex::new(jobs));
        let health = Arc::new(WriterHealth::default());
        let turns = (writers > 1).then(|| Arc::new(Turns::new(COMMIT_PATIENCE)));
        let mut threads = Vec::with_capacity(writers + 1);
        let mut syncer = None;
        for n in 0..writers {
            let mut conn = db.connect()?;
            configure_writer(&mut conn)?;
            let durable = match &mut conn {
                Conn::Sqlite(c) => {
                    // A rendezvous: the writer hands a group over when the syncer is ready
                    // for it, and gathers what arrived meanwhile into its next group; fewer,
                    // larger commits write fewer WAL pages (see `WRITER_PRAGMAS`).
                    let (to_syncer, committed) = mpsc::sync_channel(0);
                    // The writer tells the checkpointer of each commit; it drops its sender
                    // when it ends, which stops the checkpointer.
                    let (checkpointer, commits) = mpsc::sync_channel(1);
                    syncer = Some((open_wal(c, db)?, committed, db.connect()?, commits));
                    Durable::AfterWalSync {
                        syncer: to_syncer,
                        checkpointer,
                    }
                }
                Conn::Pg(_) => Durable::AtCommit,
            };
            let jobs = jobs.clone();
            let turns = turns.clone();
            let alive = Alive::new(&health);
            let thread = std::thread::Builder::new()
                .name(format!("intake-writer-{n}"))
                .spawn({
                    let db = db.clone();
                    move || {
                        RETENTION.with(|r| r.set(retention));
                        run(conn, &db, &jobs, &durable, turns.as_deref(), alive.health());
                        drop(alive);
                    }
                })
                .context("cannot start a writer thread")?;
            threads.push(thread);
        }
        if let Some((wal, committed, checkpoint_conn, commits)) = syncer {
            let thread = std::thread::Builder::new()
                .name("intake-wal-sync".into())
                .spawn(move || sync_wal(&wal, &committed))
                .context("cannot start the WAL sync thread")?;
            threads.push(thread);
            let thread = std::thread::Builder::new()
                .name("intake-checkpoint".into())
                .spawn(move || checkpoint_wal(checkpoint_conn, &commits))
                .context("cannot start the WAL checkpoint thread")?;
            threads.push(thread);
        }
        Ok((Writer { queue, health }, threads))
    }

    /// Queues a batch and waits until it is committed; returns each incident's id and
    /// outcome, in order.
    pub async fn write(&self, batch: WriteBatch) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        // Counted before it is queued, so the writer never takes it off first.
        let depth = &crate::ops::metrics::METRICS.write_queue_depth;
        depth.inc();
        match self.queue.try_send(Job { batch, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                depth.dec();
                return Err(WriteError::Saturated);
            }
            Err(TrySendError::Disconnected(_)) => {
                depth.dec();
                return Err(WriteError::Stopped);
            }
        }
        match tokio::time::timeout(COMMIT_WAIT, answer).await {
            Ok(answer) => answer.unwrap_or(Err(WriteError::Stopped)),
            Err(_) => Err(WriteError::TimedOut),
        }
    }

    /// Whether the writer runs, and whether its last commit failed.
    pub fn state(&self) -> WriterState {
        self.health.state()
    }

    /// Records a readiness probe's write (see `/readyz`): a success clears `Failing`.
    pub fn probed(&self, ok: bool) {
        self.health.committed(ok);
    }
}
