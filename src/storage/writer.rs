//! The single writer: one thread owns the write connection and commits whatever requests
//! are waiting in one transaction (group commit), then answers each request.
//!
//! Invariants:
//! - A request's incidents and samples are stored in one transaction: all or none.
//! - A request is answered `Ok` only after the transaction holding it has committed
//!   (with `synchronous=FULL`, on disk).
//! - If a group fails, its requests are retried one transaction each, so one request
//!   that cannot be stored does not take its neighbours down with it.
//! - The queue is bounded: when it is full, `submit` refuses at once and ingest answers 503.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use tokio::sync::oneshot;

use super::schema::{incidents, samples};
use super::{Conn, Database};

/// Most requests committed in one transaction; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

/// The committing connection also copies the WAL into the database file (a checkpoint)
/// whenever the WAL passes this many pages, and every request waiting meanwhile waits for it.
/// Measured under `make bench` (a): 1000 pages (SQLite's default) gave p99 5-11 ms, 250 gives
/// about 3 ms for some 3 % of throughput.
const WRITER_PRAGMAS: &str = "PRAGMA wal_autocheckpoint = 250;";

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
#[derive(Debug)]
pub struct WriteBatch {
    pub instance_id: i32,
    pub incidents: Vec<NewIncident>,
    pub samples: Vec<NewSample>,
    /// How many samples the instance keeps.
    pub sample_limit: i32,
}

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    Saturated,
    #[error("the writer has stopped")]
    Stopped,
    #[error("storage failed: {0}")]
    Storage(String),
}

struct Job {
    batch: WriteBatch,
    reply: oneshot::Sender<Result<Vec<i64>, WriteError>>,
}

/// A handle for submitting batches to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
}

impl Writer {
    /// Starts the writer thread on its own connection. The thread ends, after committing
    /// everything queued, once every `Writer` clone has been dropped.
    pub fn spawn(db: &Database, queue_capacity: usize) -> anyhow::Result<(Writer, JoinHandle<()>)> {
        let mut conn = db.connect()?;
        conn.batch_execute(WRITER_PRAGMAS)
            .context("cannot configure the writer connection")?;
        let (queue, jobs) = mpsc::sync_channel(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("intake-writer".into())
            .spawn(move || run(conn, jobs))
            .context("cannot start the writer thread")?;
        Ok((Writer { queue }, thread))
    }

    /// Queues a batch and waits until it is committed; returns the new incident ids in order.
    pub async fn write(&self, batch: WriteBatch) -> Result<Vec<i64>, WriteError> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { batch, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(WriteError::Saturated),
            Err(TrySendError::Disconnected(_)) => return Err(WriteError::Stopped),
        }
        answer.await.unwrap_or(Err(WriteError::Stopped))
    }
}

fn run(mut conn: Conn, jobs: Receiver<Job>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = jobs.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, &mut group);
    }
    log::debug!("writer stopped: queue closed and drained");
}

fn commit_group(conn: &mut Conn, group: &mut Vec<Job>) {
    let stored = conn.immediate_transaction(|conn| {
        let batches: Vec<&WriteBatch> = group.iter().map(|job| &job.batch).collect();
        store(conn, &batches)
    });
    match stored {
        Ok(ids) => {
            for (job, ids) in group.drain(..).zip(ids) {
                // A dropped receiver means the client went away; its data is stored regardless.
                let _ = job.reply.send(Ok(ids));
            }
        }
        Err(group_error) if group.len() > 1 => {
            log::warn!(
                "group commit of {} requests failed ({group_error}); retrying one by one",
                group.len()
            );
            for job in group.drain(..) {
                let result = conn
                    .immediate_transaction(|conn| store(conn, &[&job.batch]))
                    .map(|mut ids| ids.pop().unwrap_or_default())
                    .map_err(storage_error);
                let _ = job.reply.send(result);
            }
        }
        Err(error) => {
            // A group of one: its only request failed on its own.
            if let Some(job) = group.pop() {
                let _ = job.reply.send(Err(storage_error(error)));
            }
        }
    }
}

fn storage_error(error: diesel::result::Error) -> WriteError {
    log::error!("storing incidents failed: {error}");
    WriteError::Storage(error.to_string())
}

/// Rows per multi-row INSERT: 9 bound values a row stays far below SQLite's variable limit.
const ROWS_PER_INSERT: usize = 500;

/// Stores the incidents and samples of several requests; returns each request's incident
/// ids in input order. Incidents go in as multi-row INSERTs: one statement for many rows
/// costs far less than one statement a row.
fn store(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Vec<i64>>> {
    let all: Vec<&NewIncident> = batches.iter().flat_map(|b| &b.incidents).collect();
    let mut ids: Vec<i64> = Vec::with_capacity(all.len());
    for chunk in all.chunks(ROWS_PER_INSERT) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|i| {
                (
                    incidents::instance.eq(&i.instance),
                    incidents::name.eq(&i.name),
                    incidents::type_.eq(&i.type_),
                    incidents::occurred.eq(i.occurred),
                    incidents::created.eq(i.created),
                    incidents::raw_json.eq(&i.raw_json),
                    incidents::severity.eq(&i.severity),
                    incidents::dedup_key.eq(&i.dedup_key),
                    incidents::labels.eq(&i.labels),
                )
            })
            .collect();
        let mut chunk_ids: Vec<i64> = diesel::insert_into(incidents::table)
            .values(rows)
            .returning(incidents::id)
            .get_results(conn)?;
        // RETURNING promises no order; AUTOINCREMENT ids grow in insertion order, and this
        // connection holds the write lock, so ascending ids are the rows' order.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    for batch in batches.iter().filter(|b| !b.samples.is_empty()) {
        store_samples(conn, batch)?;
    }
    let mut rest = ids.as_slice();
    Ok(batches
        .iter()
        .map(|batch| {
            let (mine, others) = rest.split_at(batch.incidents.len());
            rest = others;
            mine.to_vec()
        })
        .collect())
}

fn store_samples(conn: &mut Conn, batch: &WriteBatch) -> QueryResult<()> {
    for sample in &batch.samples {
        diesel::insert_into(samples::table)
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
            ))
            .execute(conn)?;
    }
    trim_samples(conn, batch.instance_id, batch.sample_limit)?;
    Ok(())
}

/// Keeps only the newest `keep` samples of an instance.
pub fn trim_samples(conn: &mut Conn, instance_id: i32, keep: i32) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM samples WHERE instance_id = ? AND id NOT IN \
         (SELECT id FROM samples WHERE instance_id = ? ORDER BY received DESC, id DESC LIMIT ?)",
    )
    .bind::<Integer, _>(instance_id)
    .bind::<Integer, _>(instance_id)
    .bind::<BigInt, _>(i64::from(keep.max(0)))
    .execute(conn)
}
