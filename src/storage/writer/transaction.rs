//! What one group's transaction does: take the shared-state locks (PostgreSQL), answer
//! idempotent retries, store each request's incidents and samples.

use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::batch::{NewIncident, Outcome, Stored, WriteBatch, Written};
use super::bulk_sql::{insert_plain, IncidentRow, ROWS_PER_INSERT};
use super::idempotency::{earlier_response, remember_response};
use super::samples::store_samples;
use super::upsert::upsert;
use crate::storage::Conn;

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
pub(super) fn store(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Written>> {
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

/// Stores the incidents and samples of the batches; each batch's incidents in input order.
fn store_incidents(conn: &mut Conn, batches: &[&WriteBatch]) -> QueryResult<Vec<Vec<Stored>>> {
    let all: Vec<&NewIncident> = batches.iter().flat_map(|b| &b.incidents).collect();
    let mut stored: Vec<Option<Stored>> = vec![None; all.len()];
    let plain: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].dedup_key.is_none())
        .collect();
    for chunk in plain.chunks(ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|&n| IncidentRow::from(all[n])).collect();
        let texts: Vec<&str> = chunk.iter().map(|&n| all[n].search_text.as_str()).collect();
        let ids = insert_plain(conn, rows, &texts)?;
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
    // Every slot was filled above, by an insert or an upsert, or `?` returned first.
    #[allow(clippy::expect_used)]
    let mut rest = stored
        .into_iter()
        .map(|s| s.expect("every incident stored"));
    Ok(batches
        .iter()
        .map(|batch| rest.by_ref().take(batch.incidents.len()).collect())
        .collect())
}
