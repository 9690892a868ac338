//! The writer: committing threads, each with its own connection, take whatever requests are
//! waiting and commit them in one transaction (group commit), then answer each request.
//! SQLite has one such thread (it has one writer anyway); PostgreSQL several, which take
//! turns: one gathers and commits while the others stand by, and commits overlap only when
//! one is slow (see `Turns`).
//!
//! Invariants:
//! - A request's incidents and samples are stored in one transaction: all or none.
//! - A request is answered `Ok` only after the transaction holding it is on disk. PostgreSQL's
//!   `COMMIT` returns then. SQLite's writer commits without waiting for the disk
//!   (`synchronous=NORMAL`: the WAL is written, not synced) and hands the group to the WAL
//!   syncer, which answers it after an fsync of the WAL that began after that `COMMIT`
//!   returned. So the writer inserts the next group while the disk syncs the last one, and one
//!   fsync covers every group committed before it began.
//! - SQLite's WAL checkpointer, a thread with a connection of its own, copies committed WAL
//!   pages into the database file beside the writer; the writer checkpoints only as a
//!   backstop (see `WRITER_PRAGMAS`).
//! - If a group fails, its requests are retried one transaction each, so one request
//!   that cannot be stored does not take its neighbours down with it.
//! - The queue is bounded: when it is full, `submit` refuses at once and ingest answers 503.
//! - Ids come from the database (SQLite's AUTOINCREMENT, PostgreSQL's sequence), so any
//!   number of writers and replicas never hand out the same id.
//! - On PostgreSQL, what must stay exact across concurrent writers and replicas (an
//!   instance's sample cap, an idempotency key answered once) is serialised by transaction
//!   advisory locks, taken in one sorted order so writers cannot deadlock on them.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer};
use diesel::sqlite::Sqlite;
use tokio::sync::oneshot;

use super::health::{Alive, WriterHealth, WriterState};
use super::schema::{incidents, samples};
use super::{on_each_backend, write_transaction, Backend, Conn, Database};
use crate::incidents::search::search_text;
use crate::time::sqlite_text;

/// Most requests committed in one transaction; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

/// The SQLite writer's connection settings.
/// - The WAL checkpointer, a thread of its own, copies the WAL into the database file while
///   the writer goes on inserting. The writer checkpoints itself only when the WAL passes
///   `WRITER_CHECKPOINT_BYTES` (more after large groups, see `own_checkpoint_threshold`), and
///   then copies only what the checkpointer has not; that checkpoint is what lets the WAL start
///   over from its beginning. Against the writer checkpointing every 250 pages itself (wrk
///   2 × 64, 15 s, interleaved): (a) 17.1k/20.6k → 20.4k/23.7k requests/s; (b) 516/490 →
///   645/687 requests/s; (a)'s p99 7.8-12.6 ms in most runs. The runs with p99s of 57-203 ms
///   met fsyncs of 100-200 ms, mostly behind a fresh build's writeback (docs/decisions.md).
/// - A transaction larger than the page cache keeps its pages in memory instead of writing
///   them to the WAL before `COMMIT` (and again at `COMMIT`): (b), whose groups hold thousands
///   of rows, went 403-418 → 442-447 requests/s.
/// - `COMMIT` does not wait for the disk; the WAL syncer does, for the whole group at once
///   (see the module notes). A checkpoint still syncs the WAL before it copies it, and the
///   database file after, as SQLite always does.
/// - Statement journals stay in memory. Each multi-row INSERT inside the group's transaction
///   keeps one, so that it can be undone alone. With 8 KiB pages it outgrew SQLite's 64 KiB
///   in-memory limit, and every group created, wrote and deleted a temporary file in
///   /var/tmp. Keeping them in memory took (a) from 16.0k/16.4k to 18.2k/17.5k requests/s,
///   and its CPU from 69/68 to 62/64 µs per request. (b) did not change.
/// - `wal_autocheckpoint` is not here: the writer sets it group by group.
/// - A write lock held elsewhere (a CLI change, a backup) is waited for up to 2 s, less than
///   a request waits for its commit (`COMMIT_WAIT`): a request that cannot be stored in time
///   is refused with nothing stored, instead of stored after its sender was told to retry.
const WRITER_PRAGMAS: &str = "PRAGMA cache_spill = false; PRAGMA synchronous = NORMAL; \
     PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 2000;";

/// A PostgreSQL writer runs the same few statements all the time, with arrays as parameters:
/// planning them anew for each group (PostgreSQL's custom plans) cost (d) 4-9 % of its
/// requests/s.
/// A lock held elsewhere is waited for up to 2 s, for the reason given at `WRITER_PRAGMAS`.
const PG_WRITER_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET lock_timeout = '2s';";

/// Applies the writer's settings to a new connection (see the two above).
fn configure_writer(conn: &mut Conn) -> anyhow::Result<()> {
    match conn {
        Conn::Sqlite(c) => c.batch_execute(WRITER_PRAGMAS),
        Conn::Pg(c) => c.batch_execute(PG_WRITER_SETTINGS),
    }
    .context("cannot configure the writer connection")
}

/// The writer's own checkpoint threshold (`wal_autocheckpoint`, SQLite's default of 1000
/// pages of 4 KiB) for groups of single events; larger groups raise it (see
/// `own_checkpoint_threshold`).
const WRITER_CHECKPOINT_BYTES: usize = 1000 * 4096;

/// The database's page size, in bytes.
#[derive(QueryableByName)]
struct PageSize {
    #[diesel(sql_type = Integer)]
    page_size: i32,
}

/// The WAL checkpointer runs at most this often while ingest is busy (every 5 ms is ~100 pages
/// under (a); every 10 or 25 ms gave (a) a p99 of 13-14 ms), and retries pages a reader kept
/// it from copying after the longer interval if no commit comes first.
const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(5);
const CHECKPOINT_IDLE_INTERVAL: Duration = Duration::from_millis(500);

/// Committing connections on PostgreSQL unless configured (`writer_connections`). Measured on
/// 2 cores shared by wrk, intake and PostgreSQL, before the writers took turns (see [`Turns`]):
/// 1 writer 8.7k requests/s, 2 13.6-14.2k, 4 10.7-11.3k, 8 7.3k; later, 1 writer
/// 10-26 % more than 2 (larger groups), 3 no better than 2. Two writers taking turns do as
/// well as one and overlap a stalled commit. More help only where commits take longer
/// than [`COMMIT_PATIENCE`] (a database across a slow network).
pub const DEFAULT_POSTGRES_WRITERS: usize = 2;

/// How long a commit on PostgreSQL runs before another writer starts one beside it (see
/// [`Turns`]).
const COMMIT_PATIENCE: Duration = Duration::from_millis(3);

/// Turns between PostgreSQL's writers. A writer gathers a group (and commits it) when no other
/// commit is in flight, or once the newest one has run for longer than the patience: the writer
/// that has just committed goes on with what arrived meanwhile, and the others stand by without
/// holding a request. Each commit costs PostgreSQL a WAL flush, about 125 µs of CPU on this
/// machine's virtual disk, besides ~8.5 µs a row: with the database beside intake, one commit at
/// a time gathered ~25 requests instead of ~15, PostgreSQL's CPU a request fell by a quarter to
/// a third, and (d) did ~19 % more requests/s than with two commits always overlapping, as much
/// as a single writer (docs/decisions.md). A commit slower than the patience (a
/// flush stalled behind a checkpoint, a remote database) lets a standing-by writer overlap it.
struct Turns {
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
    fn new(patience: Duration) -> Self {
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
    fn wait(&self) {
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
    fn is_open(&self) -> bool {
        self.left(&self.lock()).is_none()
    }

    /// Counts a commit in flight until [`Turns::end`].
    fn begin(&self) {
        let mut in_flight = self.lock();
        in_flight.commits += 1;
        in_flight.newest = Some(Instant::now());
    }

    /// A commit begun with [`Turns::begin`] is over.
    fn end(&self) {
        let mut in_flight = self.lock();
        in_flight.commits -= 1;
        if in_flight.commits == 0 {
            in_flight.newest = None;
        }
        drop(in_flight);
        self.finished.notify_all();
    }
}

/// An incident ready to store.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub instance: String,
    pub name: String,
    pub type_: Option<String>,
    pub occurred: NaiveDateTime,
    pub created: NaiveDateTime,
    pub raw_json: String,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    /// A JSON object's text, or None.
    pub labels: Option<String>,
    /// The delivery resolves the incident it lands on (mapping `resolve_when`).
    pub resolves: bool,
}

/// A received element kept as a sample.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub received: NaiveDateTime,
    pub body: String,
    pub headers: String,
    pub body_hash: String,
}

/// Everything one ingest request stores.
pub struct WriteBatch {
    pub instance_id: i32,
    pub incidents: Vec<NewIncident>,
    pub samples: Vec<NewSample>,
    /// How many samples the instance keeps.
    pub sample_limit: i32,
    /// The request's `Idempotency-Key`, with what its response looks like.
    pub idempotency: Option<Idempotency>,
}

/// Renders a response from the stored incidents.
pub type RenderResponse = Box<dyn Fn(&[Stored]) -> String + Send>;

/// An `Idempotency-Key` request: a retry within the retention window gets the first
/// response back and stores nothing.
pub struct Idempotency {
    pub instance: String,
    pub key: String,
    /// Renders the response once the incidents are stored; kept for retries.
    pub render: RenderResponse,
}

pub use crate::config::DEFAULT_IDEMPOTENCY_RETENTION_HOURS;

thread_local! {
    /// The writer thread's retention window (set once when it starts).
    static RETENTION: std::cell::Cell<chrono::Duration> =
        const { std::cell::Cell::new(chrono::Duration::hours(24)) };
}

fn retention() -> chrono::Duration {
    RETENTION.with(|r| r.get())
}

/// What a batch came to.
#[derive(Debug, Default)]
pub struct Written {
    pub stored: Vec<Stored>,
    /// For an idempotent request: the response to send, the first one's for a retry.
    pub response: Option<String>,
}

/// Why a batch was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    Saturated,
    #[error("the writer has stopped")]
    Stopped,
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the commit did not finish in time")]
    TimedOut,
}

struct Job {
    batch: WriteBatch,
    reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// What happened to one incident of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// A delivery with the dedup key of an open incident: that incident was updated.
    Updated,
    /// The same payload again for an open incident's dedup key: counted (occurrences, last
    /// seen), nothing else changed, no event added.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// One stored incident: its id and whether it was created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    pub outcome: Outcome,
}

/// A handle for submitting batches to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
    health: Arc<WriterHealth>,
}

/// How long a request waits for its commit before it is answered 503. A commit that
/// finishes later is still stored; the sender, told to retry, may then deliver twice (an
/// `Idempotency-Key` makes that retry answer the first delivery instead).
const COMMIT_WAIT: Duration = Duration::from_secs(4);

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

/// A request's answer, ready to send once its group is durable.
type Answer = (
    oneshot::Sender<Result<Written, WriteError>>,
    Result<Written, WriteError>,
);

/// When a committed group is on disk.
enum Durable {
    /// When `COMMIT` returns (PostgreSQL, `synchronous_commit=on`): answer at once.
    AtCommit,
    /// After the WAL syncer's next fsync (SQLite): answers go to it, and each commit is
    /// announced to the WAL checkpointer.
    AfterWalSync {
        syncer: mpsc::SyncSender<Vec<Answer>>,
        checkpointer: mpsc::SyncSender<()>,
    },
}

fn run(
    mut conn: Conn,
    db: &Database,
    jobs: &Mutex<Receiver<Job>>,
    durable: &Durable,
    turns: Option<&Turns>,
    health: &WriterHealth,
) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    // The writer's `wal_autocheckpoint`, once it has set one.
    let mut own_checkpoint_at = None;
    let page_size = match &mut conn {
        Conn::Sqlite(c) => diesel::sql_query("PRAGMA page_size")
            .get_result::<PageSize>(c)
            .map_or(4096, |p| usize::try_from(p.page_size).unwrap_or(4096)),
        Conn::Pg(_) => 0,
    };
    loop {
        {
            // One thread gathers at a time; the others are committing or, on PostgreSQL,
            // standing by for their turn.
            if let Some(turns) = turns {
                turns.wait();
            }
            let Ok(jobs) = jobs.lock() else { return };
            if turns.is_some_and(|turns| !turns.is_open()) {
                continue;
            }
            let Ok(first) = jobs.recv() else { break };
            group.push(first);
            if let Some(turns) = turns {
                turns.begin();
            }
            while group.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
        }
        if let Conn::Sqlite(c) = &mut conn {
            let bytes = group
                .iter()
                .flat_map(|job| &job.batch.incidents)
                .map(|incident| incident.raw_json.len() + ROW_OVERHEAD)
                .sum();
            let wanted = own_checkpoint_threshold(bytes, page_size);
            if own_checkpoint_at != Some(wanted) {
                match c.batch_execute(&format!("PRAGMA wal_autocheckpoint = {wanted}")) {
                    Ok(()) => own_checkpoint_at = Some(wanted),
                    Err(e) => log::warn!("cannot set the writer's checkpoint threshold: {e}"),
                }
            }
        }
        crate::ops::metrics::METRICS
            .write_queue_depth
            .sub(group.len() as i64);
        let committing = Instant::now();
        let answers = commit_group(&mut conn, db, &mut group);
        health.committed(
            answers
                .iter()
                .any(|(_, result)| !matches!(result, Err(WriteError::Storage(_)))),
        );
        crate::ops::metrics::METRICS
            .commit_duration
            .observe(committing.elapsed().as_secs_f64());
        if let Some(turns) = turns {
            turns.end();
        }
        match durable {
            Durable::AtCommit => send_answers(answers),
            Durable::AfterWalSync {
                syncer,
                checkpointer,
            } => {
                // Full means a commit is already announced and not yet checkpointed.
                let _ = checkpointer.try_send(());
                if let Err(mpsc::SendError(answers)) = syncer.send(answers) {
                    // The syncer stopped after a failed fsync: nothing committed from now on
                    // could be confirmed, so stop taking requests (ingest answers 503).
                    let stopped = answers
                        .into_iter()
                        .map(|(reply, _)| (reply, Err(WriteError::Stopped)));
                    send_answers(stopped.collect());
                    log::error!("writer stopped: the WAL can no longer be synced");
                    return;
                }
            }
        }
    }
    log::debug!("writer stopped: queue closed and drained");
}

/// Bytes a stored incident takes besides its `raw_json`, roughly (its other columns, its
/// index entry).
const ROW_OVERHEAD: usize = 200;

/// The WAL size, in pages of `page_size` bytes, past which the SQLite writer checkpoints
/// itself after committing a group of about `group_bytes`: at least twice what the group
/// writes, so a large group's own pages are left to the checkpointer, which copies them while
/// the writer inserts the next group, instead of the writer copying them at once while every
/// request waits.
/// Groups of arrays (b) write 5-13 MB each: with the threshold at 4 MB they gained nothing
/// from the checkpointer, at 16 MB (b) went 490-570 → 775 requests/s; at 8 MB for every
/// group, (a)'s p99 rose (4 KiB pages, 2026-11-23).
fn own_checkpoint_threshold(group_bytes: usize, page_size: usize) -> i64 {
    let page_size = page_size.max(512);
    let base = WRITER_CHECKPOINT_BYTES.div_ceil(page_size);
    let pages = group_bytes / page_size;
    let mut threshold = base;
    while threshold < 2 * pages && threshold < 8 * base {
        threshold *= 2;
    }
    i64::try_from(threshold).unwrap_or(i64::MAX)
}

fn send_answers(answers: Vec<Answer>) {
    for (reply, result) in answers {
        // A dropped receiver means the client went away; its data is stored regardless.
        let _ = reply.send(result);
    }
}

/// Opens SQLite's write-ahead log (`<database>-wal`) for the WAL syncer. The writer's
/// connection has it open from its first read until it closes, so the file is never
/// removed while the syncer uses it.
fn open_wal(conn: &mut diesel::SqliteConnection, db: &Database) -> anyhow::Result<std::fs::File> {
    conn.batch_execute("SELECT count(*) FROM meta")
        .context("cannot read the database")?;
    let path = db
        .sqlite_wal()
        .context("the writer's database is not a SQLite file")?;
    std::fs::File::open(&path)
        .with_context(|| format!("cannot open the write-ahead log {}", path.display()))
}

/// The WAL syncer (SQLite): takes every group committed so far, syncs the WAL once, and
/// answers them all. After a failed fsync the kernel may have dropped the unwritten pages, so
/// later syncs prove nothing: it answers what it holds as failed and stops, and the writer
/// stops with it.
fn sync_wal(wal: &std::fs::File, committed: &Receiver<Vec<Answer>>) {
    while let Ok(mut answers) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            answers.extend(more);
        }
        match wal.sync_data() {
            Ok(()) => send_answers(answers),
            Err(e) => {
                log::error!(
                    "syncing the write-ahead log failed ({e}): ingest stops; check the disk \
                     and restart intake"
                );
                let error =
                    storage_error_text(&format!("the write-ahead log could not be synced: {e}"));
                let failed = answers
                    .into_iter()
                    .map(|(reply, _)| (reply, Err(error.clone())));
                send_answers(failed.collect());
                return;
            }
        }
    }
}

/// What `PRAGMA wal_checkpoint` reports: the WAL's length and how much of it is now in the
/// database file, in pages.
#[derive(QueryableByName)]
struct CheckpointReport {
    #[diesel(sql_type = Integer)]
    log: i32,
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

/// The WAL checkpointer (SQLite): copies committed WAL pages into the database file on its own
/// connection, beside the writer, so the writer's own checkpoints (see `WRITER_PRAGMAS`)
/// find little left to copy. It runs after each commit the writer announces, at most once per
/// `CHECKPOINT_BUSY_INTERVAL`. A PASSIVE checkpoint never waits for the writer or for readers:
/// it copies what no reader still needs; what it leaves is tried again after
/// `CHECKPOINT_IDLE_INTERVAL` if no commit comes first. Ends when the writer does.
fn checkpoint_wal(mut conn: Conn, commits: &Receiver<()>) {
    let mut left_behind = false;
    loop {
        let next = if left_behind {
            commits.recv_timeout(CHECKPOINT_IDLE_INTERVAL)
        } else {
            commits.recv().map_err(mpsc::RecvTimeoutError::from)
        };
        if let Err(mpsc::RecvTimeoutError::Disconnected) = next {
            return;
        }
        left_behind = match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .get_result::<CheckpointReport>(&mut conn)
        {
            Ok(report) => report.checkpointed < report.log,
            Err(e) => {
                // The writer's own checkpoints go on; this one tries again later.
                log::warn!("WAL checkpoint failed: {e}");
                true
            }
        };
        std::thread::sleep(CHECKPOINT_BUSY_INTERVAL);
    }
}

/// Commits a group; returns each request's answer, in order.
fn commit_group(conn: &mut Conn, db: &Database, group: &mut Vec<Job>) -> Vec<Answer> {
    let stored = {
        let batches: Vec<&WriteBatch> = group.iter().map(|job| &job.batch).collect();
        if is_one_pg_statement(conn, &batches) {
            // PostgreSQL commits a lone statement by itself: one round trip instead of three
            // (BEGIN, INSERT, COMMIT), and the transaction is the same.
            store(conn, &batches)
        } else {
            write_transaction(conn, |conn| store(conn, &batches))
        }
    };
    if let Err(error) = &stored {
        if reconnect_if_lost(conn, db) {
            // Whether a COMMIT cut off by the lost connection took effect is unknown, so the
            // group is not retried here: its senders get 503 and retry (an Idempotency-Key
            // retry then finds its first answer if it was committed after all).
            let lost = storage_error_text(&format!("the database connection was lost ({error})"));
            return group
                .drain(..)
                .map(|job| (job.reply, Err(lost.clone())))
                .collect();
        }
    }
    match stored {
        Ok(written) => group
            .drain(..)
            .zip(written)
            .map(|(job, written)| (job.reply, Ok(written)))
            .collect(),
        Err(group_error) if group.len() > 1 && !is_storage_fault(&group_error) => {
            log::warn!(
                "group commit of {} requests failed ({group_error}); retrying one by one",
                group.len()
            );
            group
                .drain(..)
                .map(|job| {
                    let result = write_transaction(conn, |conn| store(conn, &[&job.batch]))
                        .map(|mut written| written.pop().unwrap_or_default())
                        .map_err(storage_error);
                    (job.reply, result)
                })
                .collect()
        }
        // A group of one: its only request failed on its own.
        Err(error) => {
            let error = storage_error(error);
            group
                .drain(..)
                .map(|job| (job.reply, Err(error.clone())))
                .collect()
        }
    }
}

/// Whether `store` runs one statement for these batches on PostgreSQL: new incidents only
/// (no dedup key, no samples, no idempotency key), as many as one INSERT takes.
fn is_one_pg_statement(conn: &Conn, batches: &[&WriteBatch]) -> bool {
    let plain = |batch: &&WriteBatch| {
        batch.samples.is_empty()
            && batch.idempotency.is_none()
            && batch.incidents.iter().all(|i| i.dedup_key.is_none())
    };
    matches!(conn, Conn::Pg(_))
        && batches.iter().all(plain)
        && batches.iter().map(|b| b.incidents.len()).sum::<usize>() <= ROWS_PER_INSERT
}

/// Whether a failed group failed for the storage itself (locked, full, read-only, I/O, lock
/// timeout) rather than for one request's data: retrying its requests one by one would only
/// fail again, each after the same wait. Diesel passes SQLite's and PostgreSQL's messages,
/// not their error codes, so the messages are matched.
fn is_storage_fault(error: &diesel::result::Error) -> bool {
    let diesel::result::Error::DatabaseError(_, info) = error else {
        return false;
    };
    const FAULTS: &[&str] = &[
        "database is locked",
        "database or disk is full",
        "readonly database",
        "disk I/O error",
        "lock timeout",
        "could not extend file",
        "No space left on device",
    ];
    let message = info.message();
    FAULTS.iter().any(|fault| message.contains(fault))
}

fn storage_error(error: diesel::result::Error) -> WriteError {
    storage_error_text(&error.to_string())
}

fn storage_error_text(error: &str) -> WriteError {
    log::error!("storing incidents failed: {error}");
    WriteError::Storage(error.to_string())
}

/// After a failed group: when the connection no longer answers (the database restarted, a
/// failover, a network cut), replaces it. Returns whether it was lost. A connection that
/// cannot be replaced yet is tried again after the next failure.
fn reconnect_if_lost(conn: &mut Conn, db: &Database) -> bool {
    if conn.batch_execute("SELECT 1").is_ok() {
        return false;
    }
    let fresh = db.connect().and_then(|mut fresh| {
        configure_writer(&mut fresh)?;
        Ok(fresh)
    });
    match fresh {
        Ok(fresh) => {
            log::warn!("writer: the database connection was lost; reconnected");
            *conn = fresh;
        }
        Err(e) => {
            log::error!("writer: the database connection was lost; reconnecting failed: {e:#}")
        }
    }
    true
}

/// Rows handed to `insert_plain` at once: 10 bound values a row stays far below either
/// backend's parameter limit.
const ROWS_PER_INSERT: usize = 500;

/// Advisory-lock namespaces (the first key of `pg_advisory_xact_lock(int, int)`).
const LOCK_SAMPLES: i32 = 1;
const LOCK_IDEMPOTENCY: i32 = 2;

/// On PostgreSQL, takes the transaction locks that keep shared state exact across writers
/// and replicas: one per instance whose samples this group trims, one per idempotency key.
/// Sorted, so two writers never wait on each other in opposite orders. SQLite needs none:
/// its one writer holds the database's write lock (`BEGIN IMMEDIATE`).
fn lock_shared_state(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<()> {
    use diesel::sql_types::Text;
    let Conn::Pg(pg) = conn else { return Ok(()) };
    let mut sample_locks: Vec<i32> = batches
        .iter()
        .filter(|b| !b.samples.is_empty())
        .map(|b| b.instance_id)
        .collect();
    sample_locks.sort_unstable();
    sample_locks.dedup();
    for instance_id in sample_locks {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<Integer, _>(LOCK_SAMPLES)
            .bind::<Integer, _>(instance_id)
            .execute(pg)?;
    }
    let mut keys: Vec<String> = batches
        .iter()
        .filter_map(|b| b.idempotency.as_ref())
        .map(|idem| format!("{}\n{}", idem.instance, idem.key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // hashtext() may map two keys to one lock: that only serialises them, which is safe.
    // The locks are taken in hash order, the order PostgreSQL sees.
    if !keys.is_empty() {
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock($1, h) FROM \
             (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY 1) AS keys",
        )
        .bind::<Integer, _>(LOCK_IDEMPOTENCY)
        .bind::<diesel::sql_types::Array<Text>, _>(&keys)
        .execute(pg)?;
    }
    Ok(())
}

/// Stores the incidents and samples of several requests; returns each request's incidents
/// in input order. Incidents without a dedup key go in as multi-row INSERTs (one statement
/// for many rows costs far less than one a row); those with one are upserts onto the open
/// incident with that key (see `upsert`).
fn store(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Written>> {
    lock_shared_state(conn, batches)?;
    // Retries of an idempotent request: a key answered in an earlier transaction replays
    // that answer; a key that comes twice in this group replays its first batch's answer.
    // Either way nothing is stored for the retry. Nothing here changes the batches: a failed
    // group is retried from them as they came.
    enum Plan {
        Fresh,
        Earlier(String),
        SameGroup(usize),
    }
    let mut first_in_group: std::collections::HashMap<(&str, &str), usize> = Default::default();
    let mut plans = Vec::with_capacity(batches.len());
    for (n, batch) in batches.iter().enumerate() {
        let plan = match &batch.idempotency {
            None => Plan::Fresh,
            Some(idem) => match first_in_group.get(&(idem.instance.as_str(), idem.key.as_str())) {
                Some(&first) => Plan::SameGroup(first),
                None => match earlier_response(conn, &idem.instance, &idem.key)? {
                    Some(earlier) => Plan::Earlier(earlier),
                    None => {
                        first_in_group.insert((&idem.instance, &idem.key), n);
                        Plan::Fresh
                    }
                },
            },
        };
        plans.push(plan);
    }
    let fresh: Vec<&WriteBatch> = batches
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| matches!(plan, Plan::Fresh))
        .map(|(batch, _)| *batch)
        .collect();
    let mut stored = store_incidents(conn, &fresh)?.into_iter();
    let mut written: Vec<Written> = Vec::with_capacity(batches.len());
    for (batch, plan) in batches.iter().zip(plans) {
        let next = match plan {
            Plan::Earlier(earlier) => Written {
                stored: Vec::new(),
                response: Some(earlier),
            },
            Plan::SameGroup(first) => Written {
                stored: Vec::new(),
                response: written[first].response.clone(),
            },
            Plan::Fresh => {
                let stored = stored.next().unwrap_or_default();
                let response = match &batch.idempotency {
                    Some(idem) => {
                        let response = (idem.render)(&stored);
                        remember_response(conn, &idem.instance, &idem.key, &response)?;
                        Some(response)
                    }
                    None => None,
                };
                Written { stored, response }
            }
        };
        written.push(next);
    }
    Ok(written)
}

/// A key's first response, if it is within the retention window.
fn earlier_response(conn: &mut Conn, instance: &str, key: &str) -> QueryResult<Option<String>> {
    use super::schema::idempotency_keys as keys;
    let since = chrono::Utc::now().naive_utc() - retention();
    keys::table
        .filter(keys::instance.eq(instance))
        .filter(keys::key.eq(key))
        .filter(keys::created.gt(since))
        .select(keys::response)
        .first(conn)
        .optional()
}

/// Keeps a key's response (replacing one past the window) and forgets expired keys.
fn remember_response(
    conn: &mut Conn,
    instance: &str,
    key: &str,
    response: &str,
) -> QueryResult<()> {
    use super::schema::idempotency_keys as keys;
    let now = chrono::Utc::now().naive_utc();
    diesel::delete(keys::table.filter(keys::created.le(now - retention()))).execute(conn)?;
    // A row for this key is an expired one at most (the caller found no live answer): replace it.
    diesel::delete(
        keys::table
            .filter(keys::instance.eq(instance))
            .filter(keys::key.eq(key)),
    )
    .execute(conn)?;
    diesel::insert_into(keys::table)
        .values((
            keys::instance.eq(instance),
            keys::key.eq(key),
            keys::response.eq(response),
            keys::created.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// An incident row as inserted. (`id` comes from the database, see `insert_plain`.) `None`
/// binds NULL: as `DEFAULT` (diesel's default) SQLite would run one INSERT per row.
/// (`db copy` embeds it, adding what the writer leaves to the database's defaults.)
#[derive(Insertable)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
pub(super) struct IncidentRow<'a> {
    pub instance: &'a str,
    pub name: &'a str,
    pub type_: Option<&'a str>,
    pub occurred: NaiveDateTime,
    pub created: NaiveDateTime,
    pub raw_json: &'a str,
    pub severity: Option<&'a str>,
    pub dedup_key: Option<&'a str>,
    pub labels: Option<&'a str>,
    pub status: &'a str,
}

impl<'a> From<&'a NewIncident> for IncidentRow<'a> {
    fn from(i: &'a NewIncident) -> Self {
        IncidentRow {
            instance: &i.instance,
            name: &i.name,
            type_: i.type_.as_deref(),
            occurred: i.occurred,
            created: i.created,
            raw_json: &i.raw_json,
            severity: i.severity.as_deref(),
            dedup_key: i.dedup_key.as_deref(),
            labels: i.labels.as_deref(),
            status: if i.resolves { "resolved" } else { "open" },
        }
    }
}

/// PostgreSQL: many incidents in one fixed statement, a column an array, unnested; answers
/// their ids in input order. A multi-row VALUES list is new SQL for every row count, parsed
/// and planned every time (it was the largest part of PostgreSQL's CPU under `make bench`
/// (d)); this is prepared once per connection. Other writers draw from the same sequence at
/// the same time, so one statement's ids need not be consecutive, and RETURNING's order is
/// not promised: each row draws its id in a CTE, which the INSERT and the answer both read.
struct PgInsertIncidents<'a> {
    instance: Vec<&'a str>,
    name: Vec<&'a str>,
    type_: Vec<Option<&'a str>>,
    occurred: Vec<NaiveDateTime>,
    created: Vec<NaiveDateTime>,
    raw_json: Vec<&'a str>,
    severity: Vec<Option<&'a str>>,
    dedup_key: Vec<Option<&'a str>>,
    labels: Vec<Option<&'a str>>,
    status: Vec<&'a str>,
    /// Each row's free-text words (see `incidents::search`), made a `tsvector` by the INSERT.
    search_text: Vec<String>,
}

impl diesel::query_builder::QueryId for PgInsertIncidents<'_> {
    type QueryId = PgInsertIncidents<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for PgInsertIncidents<'_> {
    type SqlType = BigInt;
}

impl QueryFragment<Pg> for PgInsertIncidents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, Nullable, Text, Timestamp};
        out.push_sql(
            "WITH rows AS MATERIALIZED (SELECT nextval('incidents_id_seq') AS id, r.* FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.instance)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.type_)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.occurred)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.created)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.raw_json)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.severity)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.dedup_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.labels)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.search_text)?;
        out.push_sql(
            ") WITH ORDINALITY AS r (instance, name, type, occurred, created, raw_json, \
             severity, dedup_key, labels, status, search_text, n)), \
             inserted AS (INSERT INTO incidents (id, instance, name, type, occurred, created, \
             raw_json, severity, dedup_key, labels, status, search) \
             SELECT id, instance, name, type, occurred, created, raw_json, severity, \
             dedup_key, labels, status, to_tsvector('simple', search_text) FROM rows) \
             SELECT id FROM rows ORDER BY n",
        );
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for PgInsertIncidents<'_> {}

/// SQLite: one multi-row INSERT of exactly `N` rows. Its query id is a
/// marker per `N`, so diesel prepares the statement once per size and connection and caches
/// it. (diesel caches no `Vec` insert, and preparing a multi-row INSERT cost more than running
/// it: 12 % of the writer's time under `make bench` (a).) Timestamps are bound as the text
/// diesel would store for them, formatted beforehand by [`sqlite_text`].
struct SqliteInsertIncidents<'a, const N: usize> {
    rows: &'a [IncidentRow<'a>],
    /// Each row's `occurred` and `created`.
    times: Vec<[String; 2]>,
}

impl<'a, const N: usize> SqliteInsertIncidents<'a, N> {
    fn new(rows: &'a [IncidentRow<'a>]) -> Self {
        let times = rows
            .iter()
            .map(|row| [sqlite_text(row.occurred), sqlite_text(row.created)])
            .collect();
        SqliteInsertIncidents { rows, times }
    }
}

/// The query id of [`SqliteInsertIncidents`]: one statement per row count.
struct SqliteInsertIncidentsId<const N: usize>;

impl<const N: usize> QueryId for SqliteInsertIncidents<'_, N> {
    type QueryId = SqliteInsertIncidentsId<N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize> diesel::query_builder::Query for SqliteInsertIncidents<'_, N> {
    type SqlType = BigInt;
}

impl<const N: usize> QueryFragment<Sqlite> for SqliteInsertIncidents<'_, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        use diesel::sql_types::{Nullable, Text};
        if self.rows.len() != N {
            return Err(diesel::result::Error::SerializationError(
                format!("{} rows for a {N}-row INSERT", self.rows.len()).into(),
            ));
        }
        out.push_sql(
            "INSERT INTO incidents (instance, name, type, occurred, created, raw_json, \
             severity, dedup_key, labels, status) VALUES ",
        );
        for (n, (row, [occurred, created])) in self.rows.iter().zip(&self.times).enumerate() {
            out.push_sql(if n == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, _>(row.instance)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(row.name)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.type_)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(occurred)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(created)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(row.raw_json)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.severity)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.dedup_key)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.labels)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(row.status)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

impl<const N: usize> RunQueryDsl<diesel::SqliteConnection> for SqliteInsertIncidents<'_, N> {}

diesel::define_sql_function! {
    /// SQLite: the rowid of the last row this connection inserted.
    fn last_insert_rowid() -> BigInt;
}

/// Inserts new incidents with multi-row INSERTs; returns their ids in input order.
fn insert_plain(conn: &mut Conn, rows: Vec<IncidentRow<'_>>) -> QueryResult<Vec<i64>> {
    match conn {
        Conn::Sqlite(c) => {
            let mut ids = Vec::with_capacity(rows.len());
            let mut rest = rows.as_slice();
            // Power-of-two chunks, largest first: at most 9 statements for any group.
            macro_rules! fixed_chunks {
                ($($n:literal),*) => {
                    while !rest.is_empty() {
                        $(
                            if rest.len() >= $n {
                                // The statement's rows take consecutive ids ending at the last
                                // one inserted: AUTOINCREMENT gives each new row one more than
                                // the largest id yet, and this connection holds the write lock.
                                // (`RETURNING id` gathers the ids in a temporary b-tree: it
                                // cost the writer 15-18 % of its time under (a) and (b).)
                                SqliteInsertIncidents::<$n>::new(&rest[..$n]).execute(c)?;
                                let last: i64 = diesel::select(last_insert_rowid()).get_result(c)?;
                                ids.extend(last - $n + 1..=last);
                                rest = &rest[$n..];
                                continue;
                            }
                        )*
                    }
                };
            }
            fixed_chunks!(256, 128, 64, 32, 16, 8, 4, 2, 1);
            let texts: Vec<String> = rows
                .iter()
                .map(|r| search_text(r.name, r.raw_json))
                .collect();
            crate::incidents::search::index_new_sqlite(c, &ids, &texts)?;
            Ok(ids)
        }
        Conn::Pg(c) => {
            let insert = PgInsertIncidents {
                instance: rows.iter().map(|r| r.instance).collect(),
                name: rows.iter().map(|r| r.name).collect(),
                type_: rows.iter().map(|r| r.type_).collect(),
                occurred: rows.iter().map(|r| r.occurred).collect(),
                created: rows.iter().map(|r| r.created).collect(),
                raw_json: rows.iter().map(|r| r.raw_json).collect(),
                severity: rows.iter().map(|r| r.severity).collect(),
                dedup_key: rows.iter().map(|r| r.dedup_key).collect(),
                labels: rows.iter().map(|r| r.labels).collect(),
                status: rows.iter().map(|r| r.status).collect(),
                search_text: rows
                    .iter()
                    .map(|r| search_text(r.name, r.raw_json))
                    .collect(),
            };
            insert.load(c)
        }
    }
}

/// Stores the incidents and samples of the batches; each batch's incidents in input order.
fn store_incidents(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Vec<Stored>>> {
    let all: Vec<&NewIncident> = batches.iter().flat_map(|b| &b.incidents).collect();
    let mut stored: Vec<Option<Stored>> = vec![None; all.len()];
    let plain: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].dedup_key.is_none())
        .collect();
    for chunk in plain.chunks(ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|&n| IncidentRow::from(all[n])).collect();
        let ids = insert_plain(conn, rows)?;
        for (&n, id) in chunk.iter().zip(ids) {
            stored[n] = Some(Stored {
                id,
                outcome: Outcome::Created,
            });
        }
    }
    for (n, incident) in all.iter().enumerate() {
        if incident.dedup_key.is_some() {
            stored[n] = Some(upsert(conn, incident)?);
        }
    }
    for batch in batches.iter().filter(|b| !b.samples.is_empty()) {
        store_samples(conn, batch)?;
    }
    let mut rest = stored
        .into_iter()
        .map(|s| s.expect("every incident stored"));
    Ok(batches
        .iter()
        .map(|batch| rest.by_ref().take(batch.incidents.len()).collect())
        .collect())
}

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    occurrences: i32,
}

/// SQL written with `?` placeholders (SQLite's), numbered `$1…` for PostgreSQL.
pub(crate) fn dialect(conn: &Conn, sql: &str) -> String {
    match conn {
        Conn::Sqlite(_) => sql.to_string(),
        Conn::Pg(_) => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            for (n, part) in sql.split('?').enumerate() {
                if n > 0 {
                    numbered.push_str(&format!("${n}"));
                }
                numbered.push_str(part);
            }
            numbered
        }
    }
}

/// Creates the incident, or, when an unresolved incident of the instance has the same dedup
/// key, updates that one: one more occurrence, last seen now, the latest payload and mapped
/// fields (the first `occurred` stays), and the delivery kept as an event. The unique partial
/// index makes this exact under any concurrency, including other processes.
fn upsert(conn: &mut Conn, incident: &NewIncident) -> QueryResult<Stored> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    // "The same payload" is the same text, byte for byte, on both backends.
    let open_query = incidents::table
        .filter(incidents::instance.eq(&incident.instance))
        .filter(incidents::dedup_key.eq(&incident.dedup_key))
        .filter(incidents::status.ne("resolved"))
        .select((incidents::id, incidents::raw_json.eq(&incident.raw_json)));
    let open: Option<(i64, bool)> = on_each_backend!(conn, |c| open_query.first(c).optional())?;
    if let Some((id, same_payload)) = open {
        if same_payload && !incident.resolves {
            diesel::update(incidents::table.find(id))
                .set((
                    incidents::occurrences.eq(incidents::occurrences + 1),
                    incidents::last_seen.eq(incident.created),
                ))
                .execute(conn)?;
            return Ok(Stored {
                id,
                outcome: Outcome::Duplicate,
            });
        }
    }
    let sql = dialect(
        conn,
        "INSERT INTO incidents (instance, name, type, occurred, created, raw_json, severity, \
         dedup_key, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (instance, dedup_key) WHERE dedup_key IS NOT NULL AND status <> 'resolved' \
         DO UPDATE SET occurrences = incidents.occurrences + 1, last_seen = excluded.created, \
         raw_json = excluded.raw_json, name = excluded.name, type = excluded.type, \
         severity = COALESCE(excluded.severity, incidents.severity), \
         labels = COALESCE(excluded.labels, incidents.labels) \
         RETURNING id, occurrences",
    );
    let upsert = diesel::sql_query(sql)
        .bind::<Text, _>(&incident.instance)
        .bind::<Text, _>(&incident.name)
        .bind::<Nullable<Text>, _>(&incident.type_)
        .bind::<Timestamp, _>(incident.occurred)
        .bind::<Timestamp, _>(incident.created)
        .bind::<Text, _>(&incident.raw_json)
        .bind::<Nullable<Text>, _>(&incident.severity)
        .bind::<Nullable<Text>, _>(&incident.dedup_key)
        .bind::<Nullable<Text>, _>(&incident.labels);
    let row: Upserted = on_each_backend!(conn, |c| upsert.get_result(c))?;
    crate::incidents::search::reindex_one(conn, row.id, &incident.name, &incident.raw_json)?;
    if incident.resolves {
        diesel::update(incidents::table.find(row.id))
            .set(incidents::status.eq("resolved"))
            .execute(conn)?;
    }
    if row.occurrences == 1 {
        return Ok(Stored {
            id: row.id,
            outcome: Outcome::Created,
        });
    }
    crate::incidents::store::record_update(conn, row.id, incident.created, &incident.raw_json)?;
    Ok(Stored {
        id: row.id,
        outcome: Outcome::Updated,
    })
}

fn store_samples(conn: &mut Conn, batch: &WriteBatch) -> QueryResult<()> {
    for sample in &batch.samples {
        let insert = diesel::insert_into(samples::table)
            .values((
                samples::instance_id.eq(batch.instance_id),
                samples::received.eq(sample.received),
                samples::body.eq(&sample.body),
                samples::headers.eq(&sample.headers),
                samples::body_hash.eq(&sample.body_hash),
            ))
            .on_conflict((samples::instance_id, samples::body_hash))
            .do_update()
            .set((
                samples::received.eq(sample.received),
                samples::headers.eq(&sample.headers),
            ));
        on_each_backend!(conn, |c| insert.execute(c))?;
    }
    trim_samples(conn, batch.instance_id, batch.sample_limit)?;
    Ok(())
}

/// Keeps only the newest `keep` samples of an instance.
pub fn trim_samples(conn: &mut Conn, instance_id: i32, keep: i32) -> QueryResult<usize> {
    let sql = dialect(
        conn,
        "DELETE FROM samples WHERE instance_id = ? AND id NOT IN \
         (SELECT id FROM samples WHERE instance_id = ? ORDER BY received DESC, id DESC LIMIT ?)",
    );
    diesel::sql_query(sql)
        .bind::<Integer, _>(instance_id)
        .bind::<Integer, _>(instance_id)
        .bind::<BigInt, _>(i64::from(keep.max(0)))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_leaves_a_large_groups_pages_to_the_checkpointer() {
        // Groups of single events: SQLite's default threshold (4 MB of WAL).
        assert_eq!(own_checkpoint_threshold(0, 4096), 1000);
        assert_eq!(own_checkpoint_threshold(30 * 1200, 4096), 1000);
        assert_eq!(own_checkpoint_threshold(30 * 1200, 8192), 500);
        // 40 requests of 100 ~1.1 KB events: ~1270 pages of 4 KiB, so at least 2540.
        assert_eq!(own_checkpoint_threshold(4000 * 1300, 4096), 4000);
        assert_eq!(own_checkpoint_threshold(4000 * 1300, 8192), 2000);
        // Never more than 32 MB of WAL, however large the group.
        assert_eq!(own_checkpoint_threshold(1 << 40, 4096), 8000);
        assert_eq!(own_checkpoint_threshold(1 << 40, 8192), 4000);
    }

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
