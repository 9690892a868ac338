//! A committing thread's loop: take what is queued, commit it as one group, answer each
//! request once the group is durable; on failure retry its requests one by one, and
//! reconnect when the connection is lost.

use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tokio::sync::oneshot;

use super::batch::{storage_error, storage_error_text, WriteBatch, WriteError, Written};
use super::bulk_sql::ROWS_PER_INSERT;
use super::durable::{send_answers, Answer, Durable};
use super::transaction::store;
use super::turns::Turns;
use super::wal::{own_checkpoint_threshold, PageSize, ROW_OVERHEAD};
use crate::storage::health::WriterHealth;
use crate::storage::{write_transaction, Conn, Database};

/// Most requests committed in one transaction; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

/// The SQLite writer's connection settings.
/// - The WAL checkpointer, a thread of its own, copies the WAL into the database file while
///   the writer goes on inserting. The writer checkpoints itself only when the WAL passes
///   `WRITER_CHECKPOINT_BYTES` (more after large groups, see `own_checkpoint_threshold`), and
///   then copies only what the checkpointer has not; that checkpoint is what lets the WAL start
///   over from its beginning. (The writer checkpointing itself was a quarter of its time under
///   arrays; docs/decisions.md, "A checkpointer thread".)
/// - A transaction larger than the page cache keeps its pages in memory instead of writing
///   them to the WAL before `COMMIT` (and again at `COMMIT`): groups of arrays hold thousands
///   of rows.
/// - `COMMIT` does not wait for the disk; the WAL syncer does, for the whole group at once
///   (see the module notes). A checkpoint still syncs the WAL before it copies it, and the
///   database file after, as SQLite always does.
/// - Statement journals stay in memory. Each multi-row INSERT inside the group's transaction
///   keeps one, so that it can be undone alone. With 8 KiB pages it outgrew SQLite's 64 KiB
///   in-memory limit, and every group created, wrote and deleted a temporary file in
///   /var/tmp (docs/decisions.md, "SQLite settings on the writer's connection").
/// - `wal_autocheckpoint` is not here: the writer sets it group by group.
/// - A write lock held elsewhere (a CLI change, a backup) is waited for up to 2 s, less than
///   a request waits for its commit (`COMMIT_WAIT`): a request that cannot be stored in time
///   is refused with nothing stored, instead of stored after its sender was told to retry.
pub(super) const WRITER_PRAGMAS: &str = "PRAGMA cache_spill = false; PRAGMA synchronous = NORMAL; \
     PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 2000;";

/// A PostgreSQL writer runs the same few statements all the time, with arrays as parameters:
/// planning them anew for each group (PostgreSQL's custom plans) is work thrown away
/// (docs/decisions.md, "PostgreSQL").
/// A lock held elsewhere is waited for up to 2 s, for the reason given at `WRITER_PRAGMAS`.
const PG_WRITER_SETTINGS: &str =
    "SET plan_cache_mode = force_generic_plan; SET lock_timeout = '2s';";

/// Applies the writer's settings to a new connection (see the two above).
pub(super) fn configure_writer(conn: &mut Conn) -> anyhow::Result<()> {
    match conn {
        Conn::Sqlite(c) => c.batch_execute(WRITER_PRAGMAS),
        Conn::Pg(c) => c.batch_execute(PG_WRITER_SETTINGS),
    }
    .context("cannot configure the writer connection")
}

pub(super) fn run(
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

pub(super) struct Job {
    pub(super) batch: WriteBatch,
    pub(super) reply: oneshot::Sender<Result<Written, WriteError>>,
}
