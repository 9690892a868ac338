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

/// How long a key's response is replayed unless configured (`idempotency_retention_hours`).
pub const DEFAULT_IDEMPOTENCY_RETENTION_HOURS: u32 = 24;

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
}

impl Writer {
    /// Starts the writer thread on its own connection. The thread ends, after committing
    /// everything queued, once every `Writer` clone has been dropped.
    pub fn spawn(
        db: &Database,
        queue_capacity: usize,
        idempotency_retention_hours: u32,
    ) -> anyhow::Result<(Writer, JoinHandle<()>)> {
        let retention = chrono::Duration::hours(i64::from(idempotency_retention_hours));
        let mut conn = db.connect()?;
        conn.batch_execute(WRITER_PRAGMAS)
            .context("cannot configure the writer connection")?;
        let (queue, jobs) = mpsc::sync_channel(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("intake-writer".into())
            .spawn(move || {
                RETENTION.with(|r| r.set(retention));
                run(conn, jobs)
            })
            .context("cannot start the writer thread")?;
        Ok((Writer { queue }, thread))
    }

    /// Queues a batch and waits until it is committed; returns each incident's id and
    /// outcome, in order.
    pub async fn write(&self, batch: WriteBatch) -> Result<Written, WriteError> {
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
                    .map(|mut written| written.pop().unwrap_or_default())
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

/// Rows per multi-row INSERT: 10 bound values a row stays far below SQLite's variable limit.
const ROWS_PER_INSERT: usize = 500;

/// Stores the incidents and samples of several requests; returns each request's incidents
/// in input order. Incidents without a dedup key go in as multi-row INSERTs (one statement
/// for many rows costs far less than one a row); those with one are upserts onto the open
/// incident with that key (see `upsert`).
fn store(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Written>> {
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
    diesel::replace_into(keys::table)
        .values((
            keys::instance.eq(instance),
            keys::key.eq(key),
            keys::response.eq(response),
            keys::created.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Stores the incidents and samples of the batches; each batch's incidents in input order.
fn store_incidents(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Vec<Stored>>> {
    let all: Vec<&NewIncident> = batches.iter().flat_map(|b| &b.incidents).collect();
    let mut stored: Vec<Option<Stored>> = vec![None; all.len()];
    let plain: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].dedup_key.is_none())
        .collect();
    for chunk in plain.chunks(ROWS_PER_INSERT) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|&n| {
                let i = all[n];
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
                    incidents::status.eq(if i.resolves { "resolved" } else { "open" }),
                )
            })
            .collect();
        let mut ids: Vec<i64> = diesel::insert_into(incidents::table)
            .values(rows)
            .returning(incidents::id)
            .get_results(conn)?;
        // RETURNING promises no order; AUTOINCREMENT ids grow in insertion order, and this
        // connection holds the write lock, so ascending ids are the rows' order.
        ids.sort_unstable();
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

/// Creates the incident, or, when an unresolved incident of the instance has the same dedup
/// key, updates that one: one more occurrence, last seen now, the latest payload and mapped
/// fields (the first `occurred` stays), and the delivery kept as an event. The unique partial
/// index makes this exact under any concurrency, including other processes.
fn upsert(conn: &mut Conn, incident: &NewIncident) -> QueryResult<Stored> {
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let open: Option<(i64, String)> = incidents::table
        .filter(incidents::instance.eq(&incident.instance))
        .filter(incidents::dedup_key.eq(&incident.dedup_key))
        .filter(incidents::status.ne("resolved"))
        .select((incidents::id, incidents::raw_json))
        .first(conn)
        .optional()?;
    if let Some((id, latest)) = open {
        if latest == incident.raw_json && !incident.resolves {
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
    let row: Upserted = diesel::sql_query(
        "INSERT INTO incidents (instance, name, type, occurred, created, raw_json, severity, \
         dedup_key, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (instance, dedup_key) WHERE dedup_key IS NOT NULL AND status <> 'resolved' \
         DO UPDATE SET occurrences = occurrences + 1, last_seen = excluded.created, \
         raw_json = excluded.raw_json, name = excluded.name, type = excluded.type, \
         severity = COALESCE(excluded.severity, severity), labels = COALESCE(excluded.labels, labels) \
         RETURNING id, occurrences",
    )
    .bind::<Text, _>(&incident.instance)
    .bind::<Text, _>(&incident.name)
    .bind::<Nullable<Text>, _>(&incident.type_)
    .bind::<Timestamp, _>(incident.occurred)
    .bind::<Timestamp, _>(incident.created)
    .bind::<Text, _>(&incident.raw_json)
    .bind::<Nullable<Text>, _>(&incident.severity)
    .bind::<Nullable<Text>, _>(&incident.dedup_key)
    .bind::<Nullable<Text>, _>(&incident.labels)
    .get_result(conn)?;
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
