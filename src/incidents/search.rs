//! Finding incidents: the SQL behind [`IncidentFilter`] (the list and the facet counts).
//! The free-text index it reads is written by [`super::text_index`].
//!
//! The free-text index holds, per incident, its name and every string value of its
//! `raw_json` (not the keys, not numbers), extracted once in Rust by
//! [`super::text_index::search_text`]:
//! - SQLite: `incident_text`, a contentless FTS5 table (`unicode61` words, no diacritics
//!   folding, no stored copy of the text) whose rowid is the incident's id.
//! - PostgreSQL: `incidents.search`, a `tsvector` of the same text (`simple` configuration:
//!   lower-cased words, no stemming, no stop words), with a GIN index.
//!
//! A term matches whole words, case-insensitively: `q=disk` finds "Disk full" but not
//! "disks". Labels are an index lookup too: SQLite keeps them in `incident_labels` (key,
//! value, incident id) by triggers; PostgreSQL answers `labels::jsonb @> {"key":"value"}`
//! from a GIN index on the expression. See docs/decisions.md ("Search") for why.
//!
//! Plans. On SQLite the query is driven, newest first, from the most selective index the
//! filter names: the FTS5 table for `q` (FTS5 walks its matches in descending rowid order, so
//! a first page stops after `limit` matches), else the first label's index entries, else the
//! `occurred` index when a capped count finds the time range narrow, else the incidents
//! table (by its `(instance, id)` index when one instance is asked for). The other
//! conditions are checked per row. Facets driven by free text or a label read the counted
//! columns from the narrow `incidents_facets` index instead of each match's row, when no
//! other condition needs the row. PostgreSQL's planner chooses for itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::filter::{IncidentFilter, TextQuery};
use crate::storage::group_count;
use crate::storage::sql::Sql;
use crate::storage::Conn;

/// The FTS5 query for a text query: each word and each phrase a quoted string (FTS5's
/// phrase syntax, `"` doubled inside), all of which must match.
fn fts5_query(q: &TextQuery) -> String {
    q.terms()
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the rows come from, newest first, and which column orders them.
enum Driver {
    Incidents,
    /// SQLite's FTS5 table.
    Text,
    /// The first label's index entries (SQLite).
    Label,
    /// The `occurred` index, for a time range that holds few incidents (SQLite).
    Occurred,
}

/// What a query reads of each incident: its row, or (SQLite, facets whose conditions name
/// only the counted columns) the entry of the `incidents_facets` index, which holds instance,
/// type, status and severity by id in a fraction of a row's bytes.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    Rows,
    FacetIndex,
}

/// A time range drives a list from the `occurred` index when it holds fewer incidents than
/// this (they are then sorted by id), and facets when it holds fewer than the second.
const NARROW_RANGE_LIST: i64 = 50_000;
const NARROW_RANGE_FACETS: i64 = 500_000;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Which index leads on SQLite (PostgreSQL's planner chooses for itself): free text, else a
/// label, else a time range (of the given instances) that a capped count of its index entries
/// finds narrow, else the incidents newest first.
fn choose_driver(conn: &mut Conn, filter: &IncidentFilter, cap: i64) -> QueryResult<Driver> {
    if !matches!(conn, Conn::Sqlite(_)) {
        return Ok(Driver::Incidents);
    }
    if filter.q.is_some() {
        return Ok(Driver::Text);
    }
    if !filter.labels.is_empty() {
        return Ok(Driver::Label);
    }
    if filter.occurred_after.is_none() && filter.occurred_before.is_none() {
        return Ok(Driver::Incidents);
    }
    let mut probe = Sql::new(conn);
    // The index holds (occurred, instance): the count reads index entries only.
    probe.push(
        "SELECT count(*) AS n FROM (SELECT 1 FROM incidents i INDEXED BY incidents_occurred \
         WHERE 1 = 1",
    );
    if let Some(t) = filter.occurred_after {
        probe.push(" AND i.occurred >= ").time(t);
    }
    if let Some(t) = filter.occurred_before {
        probe.push(" AND i.occurred < ").time(t);
    }
    if !filter.instance.is_empty() {
        probe.any_of("i.instance", &filter.instance);
    }
    probe.push(" LIMIT ").int(cap).push(")");
    let n = probe.load::<Count>(conn)?.first().map_or(cap, |c| c.n);
    Ok(if n < cap {
        Driver::Occurred
    } else {
        Driver::Incidents
    })
}

/// `FROM … WHERE …` for the filter (the incidents are `i`); returns the column that orders
/// the rows newest first.
fn from_where<'a>(
    sql: &mut Sql<'a>,
    conn: &Conn,
    filter: &'a IncidentFilter,
    driver: Driver,
    reads: Reads,
) -> &'static str {
    let sqlite = matches!(conn, Conn::Sqlite(_));
    let mut labels = filter.labels.as_slice();
    let incidents = match reads {
        Reads::Rows => "incidents i",
        Reads::FacetIndex => "incidents i INDEXED BY incidents_facets",
    };
    // CROSS JOIN keeps SQLite's join order: the driving index first.
    let order = match driver {
        Driver::Incidents => {
            sql.push(" FROM incidents i WHERE 1 = 1");
            "i.id"
        }
        Driver::Occurred => {
            sql.push(" FROM incidents i INDEXED BY incidents_occurred WHERE 1 = 1");
            "i.id"
        }
        Driver::Text => {
            let q = filter.q.as_ref().map(fts5_query).unwrap_or_default();
            sql.push(" FROM incident_text CROSS JOIN ")
                .push(incidents)
                .push(" ON i.id = incident_text.rowid WHERE incident_text MATCH ")
                .text(q);
            "incident_text.rowid"
        }
        Driver::Label => {
            let (key, value) = &labels[0];
            labels = &labels[1..];
            sql.push(" FROM incident_labels l CROSS JOIN ")
                .push(incidents)
                .push(" ON i.id = l.incident_id WHERE l.key = ")
                .text(key)
                .push(" AND l.value = ")
                .text(value);
            "l.incident_id"
        }
    };
    if !filter.instance.is_empty() {
        sql.any_of("i.instance", &filter.instance);
    }
    if !filter.type_.is_empty() {
        sql.any_of("i.type", &filter.type_);
    }
    if !filter.status.is_empty() {
        sql.any_of("i.status", &filter.status);
    }
    if !filter.severity.is_empty() {
        sql.any_of("i.severity", &filter.severity);
    }
    for (key, value) in labels {
        if sqlite {
            sql.push(
                " AND EXISTS (SELECT 1 FROM incident_labels x WHERE x.incident_id = i.id \
                 AND x.key = ",
            )
            .text(key)
            .push(" AND x.value = ")
            .text(value)
            .push(")");
        } else {
            // One containment test per label: two values of one key match nothing.
            let object = serde_json::json!({ key: value }).to_string();
            sql.push(" AND i.labels::jsonb @> ")
                .text(object)
                .push("::jsonb");
        }
    }
    if let Some(key) = &filter.dedup_key {
        sql.push(" AND i.dedup_key = ").text(key);
    }
    if let Some(part) = &filter.name_contains {
        // LIKE with its wildcards escaped: a plain substring test. SQLite's LIKE ignores
        // ASCII case; PostgreSQL's ILIKE ignores case in every script.
        let pattern = format!(
            "%{}%",
            part.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let like = if sqlite {
            " AND i.name LIKE "
        } else {
            " AND i.name ILIKE "
        };
        sql.push(like).text(pattern).push(" ESCAPE '\\'");
    }
    if let (false, Some(q)) = (sqlite, &filter.q) {
        // An empty tsquery matches nothing, so only the parts that have terms are joined.
        sql.push(" AND i.search @@ (");
        let mut first = true;
        if !q.words.is_empty() {
            sql.push("plainto_tsquery('simple', ")
                .text(q.words.join(" "))
                .push(")");
            first = false;
        }
        for phrase in &q.phrases {
            sql.push(if first { "" } else { " && " })
                .push("phraseto_tsquery('simple', ")
                .text(phrase)
                .push(")");
            first = false;
        }
        sql.push(")");
    }
    for (column, op, value) in [
        ("i.occurred", ">=", filter.occurred_after),
        ("i.occurred", "<", filter.occurred_before),
        ("i.created", ">=", filter.created_after),
        ("i.created", "<", filter.created_before),
    ] {
        if let Some(t) = value {
            sql.push(&format!(" AND {column} {op} ")).time(t);
        }
    }
    if let Some(before) = filter.before_id {
        sql.push(&format!(" AND {order} < ")).int(before);
    }
    order
}

/// An incident row as lists show it (no `raw_json`).
#[derive(QueryableByName)]
pub(super) struct ListRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub instance: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub type_: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub occurred: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub created: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    pub severity: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub dedup_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub labels: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub occurrences: i32,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_seen: Option<NaiveDateTime>,
}

/// The incidents matching the filter, newest (highest id) first, at most `filter.limit`.
pub(super) fn list_rows(conn: &mut Conn, filter: &IncidentFilter) -> QueryResult<Vec<ListRow>> {
    let mut sql = Sql::new(conn);
    sql.push(
        "SELECT i.id, i.instance, i.name, i.type AS type_, i.occurred, i.created, i.severity, \
         i.dedup_key, i.labels, i.status, i.occurrences, i.last_seen",
    );
    let driver = choose_driver(conn, filter, NARROW_RANGE_LIST)?;
    let order = from_where(&mut sql, conn, filter, driver, Reads::Rows);
    sql.push(&format!(" ORDER BY {order} DESC LIMIT "))
        .int(filter.limit);
    sql.load(conn)
}

/// One group of the facet count.
#[derive(QueryableByName)]
pub(super) struct FacetRow {
    #[diesel(sql_type = Text)]
    pub instance: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub type_: Option<String>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub severity: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// How many incidents match the filter (cursor and limit aside) per (instance, type,
/// status, severity).
pub(super) fn facet_rows(conn: &mut Conn, filter: &IncidentFilter) -> QueryResult<Vec<FacetRow>> {
    let filter = IncidentFilter {
        before_id: None,
        ..filter.clone()
    };
    let mut sql = Sql::new(conn);
    if filter.is_by_facets_only() {
        // Kept per combination by triggers: exact without a scan. SQLite holds one row per
        // combination (migration …000030), PostgreSQL signed deltas that are summed
        // (migration …000085, folded by super::counts).
        let sqlite = matches!(conn, Conn::Sqlite(_));
        sql.push(if sqlite {
            "SELECT i.instance, NULLIF(i.type, '') AS type_, i.status, \
             NULLIF(i.severity, '') AS severity, i.n AS n FROM incident_counts i WHERE i.n > 0"
        } else {
            "SELECT i.instance, NULLIF(i.type, '') AS type_, i.status, \
             NULLIF(i.severity, '') AS severity, CAST(sum(i.n) AS BIGINT) AS n \
             FROM incident_count_deltas i WHERE 1 = 1"
        });
        for (column, values) in [
            ("i.instance", &filter.instance),
            ("i.type", &filter.type_),
            ("i.status", &filter.status),
            ("i.severity", &filter.severity),
        ] {
            if !values.is_empty() {
                sql.any_of(column, values);
            }
        }
        if !sqlite {
            sql.push(" GROUP BY i.instance, i.type, i.status, i.severity HAVING sum(i.n) > 0");
        }
        return sql.load(conn);
    }
    let driver = choose_driver(conn, &filter, NARROW_RANGE_FACETS)?;
    if !matches!(conn, Conn::Sqlite(_)) {
        sql.push("SELECT i.instance, i.type AS type_, i.status, i.severity, count(*) AS n");
        from_where(&mut sql, conn, &filter, driver, Reads::Rows);
        sql.push(" GROUP BY i.instance, i.type, i.status, i.severity");
        return sql.load(conn);
    }
    // SQLite counts in one pass with a hash map (storage::group_count) instead of sorting
    // every match for a GROUP BY.
    let reads = match driver {
        Driver::Text | Driver::Label if filter.names_facet_columns_only() => Reads::FacetIndex,
        _ => Reads::Rows,
    };
    sql.push("SELECT count_groups(i.instance, i.type, i.status, i.severity) AS groups");
    from_where(&mut sql, conn, &filter, driver, reads);
    let answer: Vec<Groups> = sql.load(conn)?;
    let groups = match answer.first() {
        Some(row) => group_count::parse(&row.groups)
            .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
        None => Vec::new(),
    };
    Ok(groups
        .into_iter()
        .map(|(instance, type_, status, severity, n)| FacetRow {
            instance,
            type_,
            status,
            severity,
            n,
        })
        .collect())
}

/// The answer of SQLite's `count_groups(…)`.
#[derive(QueryableByName)]
struct Groups {
    #[diesel(sql_type = Text)]
    groups: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_terms_are_quoted_so_no_operator_leaks_through() {
        let q = TextQuery::parse(r#"NOT a* "x "" y" db-01"#).unwrap();
        assert_eq!(fts5_query(&q), r#""NOT" "a*" "db-01" "x" "y""#);
    }
}
