//! Writing the free-text index that serves `q` (reading it is `super::search`): each
//! incident's words, made once by [`search_text`] on the request's worker thread, added in the
//! writer's group commit with the incident ([`index_new_sqlite`]; PostgreSQL's INSERT makes its
//! `tsvector` itself), replaced when an incident's name or payload changes ([`reindex_one`]),
//! and built for incidents that have none ([`index_missing`], after `db copy`).

use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;

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

/// SQLite: adds the free-text entries of new incidents, `texts[n]` for `ids[n]`, one row a
/// statement, prepared once per connection. Neither a multi-row VALUES list (SQLite copies it
/// into a temporary table before filling a virtual table) nor a JSON array of the texts
/// (encoded on the writer's thread, then parsed by `json_each`) is cheaper
/// (docs/decisions.md, "Free-text entries one row a statement").
pub fn index_new_sqlite(
    conn: &mut diesel::SqliteConnection,
    ids: &[i64],
    texts: &[&str],
) -> QueryResult<()> {
    for (&id, &text) in ids.iter().zip(texts) {
        InsertText { id, text }.execute(conn)?;
    }
    Ok(())
}

/// One free-text entry. Its static query id makes diesel cache the prepared statement.
struct InsertText<'a> {
    id: i64,
    text: &'a str,
}

impl QueryId for InsertText<'_> {
    type QueryId = InsertText<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for InsertText<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("INSERT INTO incident_text (rowid, body) VALUES (");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.text)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::SqliteConnection> for InsertText<'_> {}

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
}
