//! `Idempotency-Key`: a retry within the retention window gets the first response back.
//! The window is the writer thread's own setting.

use diesel::prelude::*;

use crate::storage::Conn;

thread_local! {
    /// The writer thread's retention window (set once when it starts).
    pub(super) static RETENTION: std::cell::Cell<chrono::Duration> =
        const { std::cell::Cell::new(chrono::Duration::hours(24)) };
}

pub(super) fn retention() -> chrono::Duration {
    RETENTION.with(|r| r.get())
}

/// A key's first response, if it is within the retention window.
pub(super) fn earlier_response(
    conn: &mut Conn,
    instance: &str,
    key: &str,
) -> QueryResult<Option<String>> {
    use crate::storage::schema::idempotency_keys as keys;
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
pub(super) fn remember_response(
    conn: &mut Conn,
    instance: &str,
    key: &str,
    response: &str,
) -> QueryResult<()> {
    use crate::storage::schema::idempotency_keys as keys;
    let now = chrono::Utc::now().naive_utc();
    diesel::delete(keys::table.filter(keys::created.le(now - retention()))).execute(conn)?;
    // A row for this key is an expired one at most (the caller found no live answer): replace it.
    diesel::delete(
        keys::table
            .filter(keys::instance.eq(instance))
            .filter(keys::key.eq(key)),
    )
    .execute(conn)?;
    diesel::insert_into(keys::table)
        .values((
            keys::instance.eq(instance),
            keys::key.eq(key),
            keys::response.eq(response),
            keys::created.eq(now),
        ))
        .execute(conn)
        .map(drop)
}
