//! New incidents in bulk: one multi-row statement per backend, prepared once per connection,
//! and the `?` placeholders numbered for PostgreSQL.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;

use super::batch::NewIncident;
use crate::storage::schema::incidents;
use crate::storage::Conn;
use crate::time::sqlite_text;

/// Rows handed to `insert_plain` at once: 10 bound values a row stays far below either
/// backend's parameter limit.
pub(super) const ROWS_PER_INSERT: usize = 500;

/// An incident row as inserted. (`id` comes from the database, see `insert_plain`.) `None`
/// binds NULL: as `DEFAULT` (diesel's default) SQLite would run one INSERT per row.
/// (`db copy` embeds it, adding what the writer leaves to the database's defaults.)
#[derive(Insertable)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
pub(in crate::storage) struct IncidentRow<'a> {
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
    search_text: Vec<&'a str>,
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
/// it; docs/decisions.md, "Power-of-two multi-row INSERTs".) Timestamps are bound as the text
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

/// Inserts new incidents with multi-row INSERTs, with `texts[n]` the free-text words of
/// `rows[n]`; returns their ids in input order.
pub(super) fn insert_plain(
    conn: &mut Conn,
    rows: Vec<IncidentRow<'_>>,
    texts: &[&str],
) -> QueryResult<Vec<i64>> {
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
                                // (`RETURNING id` gathers the ids in a temporary b-tree, a
                                // large share of the writer's time; docs/decisions.md.)
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
            crate::incidents::text_index::index_new_sqlite(c, &ids, texts)?;
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
                search_text: texts.to_vec(),
            };
            insert.load(c)
        }
    }
}
