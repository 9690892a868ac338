//! `RawJson`: the SQL type of `incidents.raw_json`. TEXT on SQLite, `jsonb` on PostgreSQL;
//! written from a [`JsonStr`], read as a `String` of JSON text, on both, so the store code is
//! written once.
//!
//! Writes run on the inner connection (`on_each_backend!`): diesel's `MultiConnection` binds
//! only values that own their data, and a payload is not copied to be stored.
//!
//! jsonb's binary wire format is a version byte (1) followed by the JSON text. PostgreSQL
//! normalises what it stores (key order, whitespace): compare payloads in SQL (`=` on jsonb
//! is semantic), never as Rust strings read back from the database.

use std::io::Write;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlType, Text};
use diesel::sqlite::Sqlite;

use super::MultiBackend;

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default, QueryId, SqlType)]
#[diesel(sqlite_type(name = "Text"))]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
pub struct RawJson;

/// The only jsonb binary format version PostgreSQL has.
const JSONB_VERSION: u8 = 1;

/// JSON text written to a `RawJson` column: `incidents::raw_json.eq(JsonStr(&text))`.
#[derive(Debug, Clone, Copy, AsExpression)]
#[diesel(sql_type = RawJson)]
pub struct JsonStr<'a>(pub &'a str);

impl ToSql<RawJson, Sqlite> for JsonStr<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <str as ToSql<Text, Sqlite>>::to_sql(self.0, out)
    }
}

impl ToSql<RawJson, Pg> for JsonStr<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<RawJson, Sqlite> for String {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <String as FromSql<Text, Sqlite>>::from_sql(bytes)
    }
}

impl FromSql<RawJson, Pg> for String {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match bytes.as_bytes().split_first() {
            Some((&JSONB_VERSION, text)) => Ok(String::from_utf8(text.to_vec())?),
            _ => Err("unsupported jsonb format version".into()),
        }
    }
}

impl FromSql<RawJson, MultiBackend> for String {
    fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<String, RawJson>()
    }
}

impl HasSqlType<RawJson> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<RawJson>(lookup)
    }
}
