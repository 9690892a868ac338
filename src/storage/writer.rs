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
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use tokio::sync::oneshot;

use super::schema::{incidents, samples};
use super::{Conn, Database};

/// Most requests committed in one transaction; bounds the latency of a group.
const MAX_GROUP: usize = 1024;

/// An incident ready to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incidents)]
pub struct NewIncident {
    pub instance: String,
    pub name: String,
    pub type_: Option<String>,
    pub occurred: NaiveDateTime,
    pub created: NaiveDateTime,
    pub raw_json: String,
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
        let conn = db.connect()?;
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
        group
            .iter()
            .map(|job| store(conn, &job.batch))
            .collect::<QueryResult<Vec<_>>>()
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
                    .immediate_transaction(|conn| store(conn, &job.batch))
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

/// Stores one request's incidents and samples; returns the incident ids in order.
fn store(conn: &mut Conn, batch: &WriteBatch) -> QueryResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(batch.incidents.len());
    for incident in &batch.incidents {
        let id = diesel::insert_into(incidents::table)
            .values(incident)
            .returning(incidents::id)
            .get_result(conn)?;
        ids.push(id);
    }
    if !batch.samples.is_empty() {
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
    }
    Ok(ids)
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
