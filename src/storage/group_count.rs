//! `count_groups(a, b, c, d)`: an SQL aggregate registered on every SQLite connection that
//! counts the rows per distinct `(a, b, c, d)` in a hash map and answers the groups as JSON
//! (`[[a, b, c, d, n], …]`).
//!
//! SQLite's own `GROUP BY` sorts every row before counting; over the hundreds of thousands
//! of matches a facet count can have, the sort was most of the time (a `GROUP BY` of a
//! million index entries into a few thousand groups took over ten times as long as reading
//! them). The facets ask for a few thousand groups at most, which a hash map counts in one
//! pass. SQLite has no hash aggregate and no extension ships one, so intake keeps this one.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::sqlite::SqliteAggregateFunction;

/// One group: the four values, then how many rows hold them.
pub type Group = (String, Option<String>, String, Option<String>, i64);

type Key = (String, Option<String>, String, Option<String>);

define_sql_function! {
    #[aggregate]
    #[sql_name = "count_groups"]
    fn count_groups(a: Text, b: Nullable<Text>, c: Text, d: Nullable<Text>) -> Text;
}

#[derive(Default)]
struct Counter(HashMap<Key, i64>);

impl SqliteAggregateFunction<Key> for Counter {
    type Output = String;

    fn step(&mut self, key: Key) {
        *self.0.entry(key).or_insert(0) += 1;
    }

    fn finalize(counter: Option<Self>) -> String {
        let groups: Vec<Group> = counter
            .map(|c| {
                c.0.into_iter()
                    .map(|((a, b, c, d), n)| (a, b, c, d, n))
                    .collect()
            })
            .unwrap_or_default();
        // Strings and integers always serialise; an empty answer would fail to parse.
        serde_json::to_string(&groups).unwrap_or_default()
    }
}

/// Makes `count_groups` available on this connection.
pub fn register(conn: &mut diesel::SqliteConnection) -> QueryResult<()> {
    count_groups_utils::register_impl::<Counter, _, _, _, _>(conn)
}

/// The groups a `count_groups(…)` column answered.
pub fn parse(json: &str) -> serde_json::Result<Vec<Group>> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Answer {
        #[diesel(sql_type = Text)]
        groups: String,
    }

    use super::*;

    #[test]
    fn rows_are_counted_per_distinct_four_values_nulls_included() {
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        register(&mut conn).unwrap();
        conn.batch_execute(
            "CREATE TABLE t (a TEXT, b TEXT, c TEXT, d TEXT); \
             INSERT INTO t VALUES ('x', 'p', 'open', 'high'), ('x', 'p', 'open', 'high'), \
             ('x', NULL, 'open', NULL), ('y', 'p', 'resolved', 'high');",
        )
        .unwrap();
        let answer: Answer = diesel::sql_query("SELECT count_groups(a, b, c, d) AS groups FROM t")
            .get_result(&mut conn)
            .unwrap();
        let mut groups = parse(&answer.groups).unwrap();
        groups.sort();
        let s = |v: &str| v.to_string();
        assert_eq!(
            groups,
            vec![
                (s("x"), None, s("open"), None, 1),
                (s("x"), Some(s("p")), s("open"), Some(s("high")), 2),
                (s("y"), Some(s("p")), s("resolved"), Some(s("high")), 1),
            ]
        );
    }

    #[test]
    fn no_rows_answer_no_groups() {
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        register(&mut conn).unwrap();
        let answer: Answer = diesel::sql_query(
            "SELECT count_groups('a', NULL, 'c', NULL) AS groups FROM (SELECT 1 WHERE 0)",
        )
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(parse(&answer.groups).unwrap(), vec![]);
    }
}
