//! SQL text for statements diesel's DSL does not say (a filter-shaped search, an upsert on a
//! partial index, a trim by subquery), built for the backend it runs on: each value becomes
//! that backend's placeholder as it is added (`?` on SQLite, `$1`, `$2`… on PostgreSQL) and is
//! bound with its SQL type. Nothing rewrites the text afterwards, so a `?` in the SQL itself
//! (a PostgreSQL JSON operator, a literal) stays what it is.

use std::borrow::Cow;
use std::fmt::Write;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::Conn;

/// A value bound to one placeholder of [`Sql`].
enum Bind<'a> {
    Text(Cow<'a, str>),
    OptText(Option<&'a str>),
    Int(i64),
    Int32(i32),
    Time(NaiveDateTime),
    OptTime(Option<NaiveDateTime>),
}

/// SQL text with its placeholders numbered for one backend, and the values they stand for.
pub struct Sql<'a> {
    text: String,
    binds: Vec<Bind<'a>>,
    numbered: bool,
}

impl<'a> Sql<'a> {
    /// An empty statement for the backend of `conn`.
    pub fn new(conn: &Conn) -> Self {
        Sql {
            text: String::new(),
            binds: Vec::new(),
            numbered: matches!(conn, Conn::Pg(_)),
        }
    }

    /// Appends SQL text (never a value: values go through the typed methods).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    fn bind(&mut self, value: Bind<'a>) -> &mut Self {
        self.binds.push(value);
        if self.numbered {
            // Writing to a String cannot fail.
            let _ = write!(self.text, "${}", self.binds.len());
        } else {
            self.text.push('?');
        }
        self
    }

    pub fn text(&mut self, value: impl Into<Cow<'a, str>>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    pub fn opt_text(&mut self, value: Option<&'a str>) -> &mut Self {
        self.bind(Bind::OptText(value))
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    /// A value for an `INTEGER` (32-bit) column.
    pub fn int32(&mut self, value: i32) -> &mut Self {
        self.bind(Bind::Int32(value))
    }

    pub fn time(&mut self, value: NaiveDateTime) -> &mut Self {
        self.bind(Bind::Time(value))
    }

    pub fn opt_time(&mut self, value: Option<NaiveDateTime>) -> &mut Self {
        self.bind(Bind::OptTime(value))
    }

    /// ` AND column = value`, or ` AND column IN (values…)` for more than one.
    pub fn any_of(&mut self, column: &str, values: &'a [String]) -> &mut Self {
        self.push(" AND ").push(column);
        if let [one] = values {
            return self.push(" = ").text(one.as_str());
        }
        self.push(" IN (");
        for (n, value) in values.iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.text(value.as_str());
        }
        self.push(")")
    }

    /// Runs the statement and loads its rows.
    pub fn load<T>(self, conn: &mut Conn) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        match conn {
            Conn::Sqlite(c) => bound::<diesel::sqlite::Sqlite>(self.text, self.binds).load(c),
            Conn::Pg(c) => bound::<diesel::pg::Pg>(self.text, self.binds).load(c),
        }
    }

    /// Runs the statement and loads its one row (`NotFound` when there is none).
    pub fn get_result<T>(self, conn: &mut Conn) -> QueryResult<T>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        self.load(conn)?
            .into_iter()
            .next()
            .ok_or(diesel::result::Error::NotFound)
    }

    /// Runs the statement; answers how many rows it changed.
    pub fn execute(self, conn: &mut Conn) -> QueryResult<usize> {
        match conn {
            Conn::Sqlite(c) => bound::<diesel::sqlite::Sqlite>(self.text, self.binds).execute(c),
            Conn::Pg(c) => bound::<diesel::pg::Pg>(self.text, self.binds).execute(c),
        }
    }
}

/// `text` as a statement of backend `DB`, with its values bound in order.
fn bound<'a, DB>(
    text: String,
    binds: Vec<Bind<'a>>,
) -> diesel::query_builder::BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Timestamp>,
    Cow<'a, str>: diesel::serialize::ToSql<Text, DB>,
    &'a str: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    NaiveDateTime: diesel::serialize::ToSql<Timestamp, DB>,
{
    let mut query = diesel::sql_query(text).into_boxed::<DB>();
    for bind in binds {
        query = match bind {
            Bind::Text(v) => query.bind::<Text, _>(v),
            Bind::OptText(v) => query.bind::<Nullable<Text>, _>(v),
            Bind::Int(v) => query.bind::<BigInt, _>(v),
            Bind::Int32(v) => query.bind::<Integer, _>(v),
            Bind::Time(v) => query.bind::<Timestamp, _>(v),
            Bind::OptTime(v) => query.bind::<Nullable<Timestamp>, _>(v),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection opened as intake opens one (SQLite's library settings come first).
    fn sqlite() -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("intake.db").display());
        let conn = crate::storage::Database::open(&url)
            .unwrap()
            .connect()
            .unwrap();
        (dir, conn)
    }

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        a: String,
        #[diesel(sql_type = BigInt)]
        b: i64,
    }

    #[test]
    fn values_are_bound_in_order_and_a_question_mark_in_a_literal_stays_text() {
        let (_dir, mut conn) = sqlite();
        let mut sql = Sql::new(&conn);
        sql.push("SELECT ")
            .text("x")
            .push(" || '?' AS a, ")
            .int(41)
            .push(" + 1 AS b");
        let rows: Vec<Row> = sql.load(&mut conn).unwrap();
        assert_eq!(
            rows,
            vec![Row {
                a: "x?".into(),
                b: 42
            }]
        );
    }

    #[test]
    fn postgresql_placeholders_are_numbered_as_values_are_added() {
        let mut sql = Sql {
            text: String::new(),
            binds: Vec::new(),
            numbered: true,
        };
        let values = vec!["a".to_string(), "b".to_string()];
        sql.push("SELECT 1 WHERE x = ").int(1).any_of("y", &values);
        assert_eq!(sql.text, "SELECT 1 WHERE x = $1 AND y IN ($2, $3)");
    }
}
