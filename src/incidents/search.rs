//! Finding incidents: the SQL behind [`IncidentFilter`] (the list and the facet counts), and
//! the free-text index that serves `q`, kept in step with the incidents by the writer.
//!
//! The free-text index holds, per incident, its name and every string value of its
//! `raw_json` (not the keys, not numbers), extracted once in Rust by [`search_text`]:
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

/// At most this much text per incident goes into the free-text index (PostgreSQL refuses a
/// `tsvector` over 1 MB; a payload that large is not read by its words anyway).
pub const MAX_SEARCH_TEXT: usize = 256 * 1024;

/// An incident's searchable text: its name and each string value of its `raw_json`, space
/// separated, at most [`MAX_SEARCH_TEXT`] bytes. A payload that does not parse (never the
/// case for stored incidents) gives what was read before the error.
pub fn search_text(name: &str, raw_json: &str) -> String {
    use serde::de::DeserializeSeed;
    let mut text = String::with_capacity(name.len() + raw_json.len() / 2);
    text.push_str(name);
    let mut de = serde_json::Deserializer::from_str(raw_json);
    let _ = Strings(&mut text).deserialize(&mut de);
    if text.len() > MAX_SEARCH_TEXT {
        let mut end = MAX_SEARCH_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    // PostgreSQL's text cannot hold NUL, which a JSON string may; for words it is a space.
    if text.contains('\0') {
        text = text.replace('\0', " ");
    }
    text
}

/// A serde visitor that appends every string value of a JSON document to a text, without
/// building the document: object keys and other scalars are skipped.
struct Strings<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for Strings<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if self.0.len() < MAX_SEARCH_TEXT {
            self.0.push(' ');
            self.0.push_str(v);
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Strings(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Strings(&mut *self.0))?;
        }
        Ok(())
    }
}

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

/// SQLite: adds the free-text entries of new incidents (`texts[n]` for `ids[n]`): one
/// statement per run of consecutive ids (the writer's ids are one run), prepared once per
/// connection however many rows it holds.
pub fn index_new_sqlite(
    conn: &mut diesel::SqliteConnection,
    ids: &[i64],
    texts: &[&str],
) -> QueryResult<()> {
    let mut start = 0;
    while start < ids.len() {
        let mut end = start + 1;
        while end < ids.len() && ids[end] == ids[end - 1] + 1 {
            end += 1;
        }
        let run = serde_json::to_string(&texts[start..end])
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::sql_query(
            "INSERT INTO incident_text (rowid, body) SELECT ? + key, value FROM json_each(?)",
        )
        .bind::<BigInt, _>(ids[start])
        .bind::<Text, _>(run)
        .execute(conn)?;
        start = end;
    }
    Ok(())
}

/// Replaces one incident's free-text entry (its words: `search_text`), after its name or
/// payload changed.
pub fn reindex_one(conn: &mut Conn, id: i64, text: &str) -> QueryResult<()> {
    match conn {
        Conn::Sqlite(c) => {
            diesel::sql_query("INSERT OR REPLACE INTO incident_text (rowid, body) VALUES (?, ?)")
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(text)
                .execute(c)
        }
        Conn::Pg(c) => diesel::sql_query(
            "UPDATE incidents SET search = to_tsvector('simple', $1) WHERE id = $2",
        )
        .bind::<Text, _>(text)
        .bind::<BigInt, _>(id)
        .execute(c),
    }
    .map(drop)
}

/// Builds the free-text index of every incident that lacks one, in SQL (`db copy` runs it
/// after copying incidents; the migration that created the index runs the same).
pub fn index_missing(conn: &mut Conn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match conn {
        Conn::Sqlite(c) => c.batch_execute(SQLITE_INDEX_MISSING),
        Conn::Pg(c) => c.batch_execute(PG_INDEX_MISSING),
    }
}

/// Kept identical to the backfill in migrations/sqlite/…000030_search/up.sql.
const SQLITE_INDEX_MISSING: &str = "INSERT INTO incident_text (rowid, body) \
    SELECT i.id, substr(i.name || ' ' || coalesce((SELECT group_concat(t.value, ' ') \
    FROM json_tree(i.raw_json) t WHERE t.type = 'text'), ''), 1, 262144) \
    FROM incidents i WHERE json_valid(i.raw_json) \
    AND NOT EXISTS (SELECT 1 FROM incident_text WHERE rowid = i.id)";

/// Kept identical to the backfill in migrations/postgres/…000030_search/up.sql.
const PG_INDEX_MISSING: &str = "UPDATE incidents i SET search = to_tsvector('simple', \
    left(i.name || ' ' || coalesce((SELECT string_agg(v #>> '{}', ' ') \
    FROM jsonb_path_query(i.raw_json::jsonb, 'strict $.**') v \
    WHERE jsonb_typeof(v) = 'string'), ''), 262144)) WHERE i.search IS NULL";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_holds_the_name_and_string_values_not_keys_or_numbers() {
        let text = search_text(
            "Disk full",
            r#"{"host":"db-01","n":42,"tags":["prod",{"owner":"Ops Team"}],"ok":true,"x":null}"#,
        );
        assert_eq!(text, "Disk full db-01 prod Ops Team");
    }

    #[test]
    fn search_text_turns_nul_into_a_word_break() {
        assert_eq!(search_text("n", r#"{"t":"a\u0000b"}"#), "n a b");
    }

    #[test]
    fn search_text_is_capped_on_a_character_boundary() {
        let raw = serde_json::json!({ "a": "é".repeat(MAX_SEARCH_TEXT) }).to_string();
        let text = search_text("n", &raw);
        assert!(text.len() <= MAX_SEARCH_TEXT && text.len() > MAX_SEARCH_TEXT - 4);
    }

    #[test]
    fn fts5_terms_are_quoted_so_no_operator_leaks_through() {
        let q = TextQuery::parse(r#"NOT a* "x "" y" db-01"#).unwrap();
        assert_eq!(fts5_query(&q), r#""NOT" "a*" "db-01" "x" "y""#);
    }
}
