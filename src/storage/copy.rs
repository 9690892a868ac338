//! `intake db copy`: moves a deployment from one database to another (typically SQLite up to
//! PostgreSQL), keeping every id and timestamp.
//!
//! Tables are copied parents first, each in id order, in chunks that commit one at a time.
//! A copy that stops part-way (Ctrl-C, a lost connection) resumes where it stopped: each
//! table continues after the highest id the target already has (samples, a rolling window,
//! are replaced whole). Rows are only ever added, so run the last pass with the servers on the
//! source stopped: a change to an already-copied incident (a status, an occurrence) made
//! between two runs is not carried over. The target must be empty or
//! an earlier copy of the same source: an instance id naming another instance is refused.
//! At the end every table's row count is compared, and the target's id sequences are moved
//! past the copied ids so new incidents never reuse one.

use anyhow::{bail, Context};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    api_tokens, credentials, idempotency_keys, incident_events, incidents, instance_auth,
    instances, samples,
};
use super::writer::IncidentRow;
use super::{bump_config_version, on_each_backend, write_transaction, Conn, Database};

/// Rows per chunk: each chunk is one INSERT and one transaction on the target.
const CHUNK: i64 = 1000;

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    /// Rows copied by this run (a resumed copy skips what an earlier run copied).
    pub copied: usize,
    pub source_rows: i64,
    pub target_rows: i64,
}

impl TableCopy {
    pub fn verified(&self) -> bool {
        self.source_rows == self.target_rows
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = instances, treat_none_as_default_value = false)]
struct InstanceRow {
    id: i32,
    name: String,
    incident_type: Option<String>,
    store_samples: bool,
    sample_limit: i32,
    allow_anonymous: bool,
    enabled: bool,
    mapping: Option<String>,
    preset: Option<String>,
    created: NaiveDateTime,
    updated: NaiveDateTime,
    listen_port: Option<i32>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = instance_auth, treat_none_as_default_value = false)]
struct InstanceAuthRow {
    instance_id: i32,
    token_ttl: i32,
    signature_tolerance_s: i32,
    rate_limit: Option<f64>,
    rate_burst: Option<i32>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials, treat_none_as_default_value = false)]
struct CredentialRow {
    id: i32,
    instance_id: i32,
    kind: String,
    username: String,
    secret_hash: String,
    created: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
struct TokenRow {
    id: i32,
    name: String,
    role: String,
    token_hash: String,
    created: NaiveDateTime,
    last_used: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = incidents)]
struct IncidentCopy {
    id: i64,
    instance: String,
    name: String,
    type_: Option<String>,
    occurred: NaiveDateTime,
    created: NaiveDateTime,
    raw_json: String,
    severity: Option<String>,
    dedup_key: Option<String>,
    labels: Option<String>,
    status: String,
    occurrences: i32,
    last_seen: Option<NaiveDateTime>,
}

/// An incident as written: the writer's row with the id and counters kept.
#[derive(Insertable)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
struct IncidentInsert<'a> {
    id: i64,
    #[diesel(embed)]
    row: IncidentRow<'a>,
    occurrences: i32,
    last_seen: Option<NaiveDateTime>,
}

impl<'a> From<&'a IncidentCopy> for IncidentInsert<'a> {
    fn from(r: &'a IncidentCopy) -> Self {
        IncidentInsert {
            id: r.id,
            row: IncidentRow {
                instance: &r.instance,
                name: &r.name,
                type_: r.type_.as_deref(),
                occurred: r.occurred,
                created: r.created,
                raw_json: &r.raw_json,
                severity: r.severity.as_deref(),
                dedup_key: r.dedup_key.as_deref(),
                labels: r.labels.as_deref(),
                status: &r.status,
            },
            occurrences: r.occurrences,
            last_seen: r.last_seen,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_events, treat_none_as_default_value = false)]
struct EventRow {
    id: i64,
    incident_id: i64,
    kind: String,
    received: NaiveDateTime,
    body: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = samples, treat_none_as_default_value = false)]
struct SampleRow {
    id: i64,
    instance_id: i32,
    received: NaiveDateTime,
    body: String,
    headers: String,
    body_hash: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
struct IdempotencyRow {
    instance: String,
    key: String,
    response: String,
    created: NaiveDateTime,
}

/// Copies one id-keyed table: chunks after the target's highest id, each committed alone.
/// `$insert` turns a chunk of loaded rows into an INSERT run on the inner connection.
macro_rules! copy_by_id {
    ($from:expr, $to:expr, $table:ident, $row:ty, |$rows:ident| $insert:expr) => {{
        let mut copied = 0usize;
        let mut after = $table::table
            .select(diesel::dsl::max($table::id))
            .first::<Option<_>>($to)?
            .unwrap_or(0);
        loop {
            let $rows: Vec<$row> = $table::table
                .filter($table::id.gt(after))
                .order($table::id)
                .limit(CHUNK)
                .select(<$row>::as_select())
                .load($from)?;
            let Some(last) = $rows.last() else { break };
            after = last.id;
            write_transaction($to, |to| -> QueryResult<()> {
                on_each_backend!(to, |c| $insert.execute(c))?;
                Ok(())
            })?;
            copied += $rows.len();
        }
        TableCopy {
            table: stringify!($table),
            copied,
            source_rows: $table::table.count().get_result($from)?,
            target_rows: $table::table.count().get_result($to)?,
        }
    }};
}

/// Copies everything from `from` to `to` (both migrated first); returns each table's counts.
pub fn copy(from: &Database, to: &Database) -> anyhow::Result<Vec<TableCopy>> {
    if from.describe() == to.describe() {
        bail!("--from and --to name the same database");
    }
    from.migrate().context("source")?;
    to.migrate().context("target")?;
    let mut src = from.connect().context("source")?;
    let mut dst = to.connect().context("target")?;
    refuse_foreign_target(&mut src, &mut dst)?;
    let (s, d) = (&mut src, &mut dst);
    let report = vec![
        copy_by_id!(s, d, instances, InstanceRow, |rows| diesel::insert_into(
            instances::table
        )
        .values(&rows)),
        copy_by_id!(s, d, credentials, CredentialRow, |rows| {
            diesel::insert_into(credentials::table).values(&rows)
        }),
        copy_by_id!(s, d, api_tokens, TokenRow, |rows| diesel::insert_into(
            api_tokens::table
        )
        .values(&rows)),
        copy_by_id!(s, d, incidents, IncidentCopy, |rows| diesel::insert_into(
            incidents::table
        )
        .values(rows.iter().map(IncidentInsert::from).collect::<Vec<_>>())),
        copy_by_id!(s, d, incident_events, EventRow, |rows| diesel::insert_into(
            incident_events::table
        )
        .values(&rows)),
        copy_instance_auth(s, d)?,
        copy_samples(s, d)?,
        copy_idempotency_keys(s, d)?,
    ];
    advance_sequences(d)?;
    // The copied incidents' free-text entries (labels and counts follow by trigger).
    crate::incidents::text_index::index_missing(d).context("indexing the copied incidents")?;
    // Servers already running on the target reload what was copied.
    write_transaction(d, bump_config_version)?;
    Ok(report)
}

/// Refuses a target holding instances that are not this source's (same id, same name).
fn refuse_foreign_target(src: &mut Conn, dst: &mut Conn) -> anyhow::Result<()> {
    let theirs: Vec<(i32, String)> = instances::table
        .select((instances::id, instances::name))
        .load(dst)?;
    for (id, name) in theirs {
        let ours: Option<String> = instances::table
            .find(id)
            .select(instances::name)
            .first(src)
            .optional()?;
        if ours.as_deref() != Some(name.as_str()) {
            bail!(
                "the target already has instance {id} '{name}', which the source does not: \
                 copy into an empty database (or one an earlier copy of this source filled)"
            );
        }
    }
    Ok(())
}

/// Samples are a window (the newest N per instance; older ones are deleted as new ones
/// come), so they are replaced whole rather than continued by id: a few thousand rows at most.
fn copy_samples(src: &mut Conn, dst: &mut Conn) -> anyhow::Result<TableCopy> {
    let rows: Vec<SampleRow> = samples::table
        .order(samples::id)
        .select(SampleRow::as_select())
        .load(src)?;
    write_transaction(dst, |to| -> QueryResult<()> {
        diesel::delete(samples::table).execute(to)?;
        for chunk in rows.chunks(CHUNK as usize) {
            let insert = diesel::insert_into(samples::table).values(chunk);
            on_each_backend!(&mut *to, |c| insert.execute(c))?;
        }
        Ok(())
    })?;
    Ok(TableCopy {
        table: "samples",
        copied: rows.len(),
        source_rows: rows.len() as i64,
        target_rows: samples::table.count().get_result(dst)?,
    })
}

/// Per-instance auth settings: one small row per instance, replaced whole. (Bearer tokens
/// are not copied: senders fetch new ones. Signature rules' secrets are copied sealed, so the
/// target's servers need the source's secret key.)
fn copy_instance_auth(src: &mut Conn, dst: &mut Conn) -> anyhow::Result<TableCopy> {
    let rows: Vec<InstanceAuthRow> = instance_auth::table
        .select(InstanceAuthRow::as_select())
        .load(src)?;
    write_transaction(dst, |to| -> QueryResult<()> {
        diesel::delete(instance_auth::table).execute(to)?;
        for chunk in rows.chunks(CHUNK as usize) {
            let insert = diesel::insert_into(instance_auth::table).values(chunk);
            on_each_backend!(&mut *to, |c| insert.execute(c))?;
        }
        Ok(())
    })?;
    Ok(TableCopy {
        table: "instance_auth",
        copied: rows.len(),
        source_rows: rows.len() as i64,
        target_rows: instance_auth::table.count().get_result(dst)?,
    })
}

/// Idempotency keys have no id: copy those the target lacks (a few days' worth at most).
fn copy_idempotency_keys(src: &mut Conn, dst: &mut Conn) -> anyhow::Result<TableCopy> {
    let rows: Vec<IdempotencyRow> = idempotency_keys::table
        .select(IdempotencyRow::as_select())
        .load(src)?;
    let mut copied = 0;
    for chunk in rows.chunks(CHUNK as usize) {
        // One row a statement: SQLite has no multi-row INSERT … ON CONFLICT in diesel.
        copied += write_transaction(dst, |to| -> QueryResult<usize> {
            let mut inserted = 0;
            for row in chunk {
                let insert = diesel::insert_into(idempotency_keys::table)
                    .values(row)
                    .on_conflict_do_nothing();
                inserted += on_each_backend!(&mut *to, |c| insert.execute(c))?;
            }
            Ok(inserted)
        })?;
    }
    Ok(TableCopy {
        table: "idempotency_keys",
        copied,
        source_rows: idempotency_keys::table.count().get_result(src)?,
        target_rows: idempotency_keys::table.count().get_result(dst)?,
    })
}

/// PostgreSQL hands out ids from sequences that explicit ids do not move: move them past
/// the highest copied id. (SQLite's AUTOINCREMENT follows explicit ids by itself.)
fn advance_sequences(dst: &mut Conn) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection;
    let Conn::Pg(pg) = dst else { return Ok(()) };
    for table in [
        "instances",
        "credentials",
        "api_tokens",
        "incidents",
        "incident_events",
        "samples",
    ] {
        pg.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        ))
        .with_context(|| format!("cannot advance the id sequence of {table}"))?;
    }
    Ok(())
}
