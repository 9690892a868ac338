//! PostgreSQL's facet counts: the incident count per (instance, type, status, severity) is
//! the sum of that combination's rows in `incident_count_deltas`, which statement triggers
//! append to (migration …000085). Appending keeps concurrent writers from waiting on one
//! counter row; [`fold`] keeps the table small by replacing its rows with one per
//! combination. SQLite has a single writer and keeps exact rows in `incident_counts` instead.

use std::time::Duration;

use diesel::connection::SimpleConnection;

use crate::storage::{Conn, Pool};

/// How often a PostgreSQL server folds the deltas: the table holds at most what the writers
/// appended in this time plus one row per combination, so a sum reads a few thousand rows.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(1);

/// Replaces every delta row with one row per combination (none where the sum is 0), in one
/// statement. Rows appended meanwhile by other transactions stay as they are, and several
/// servers folding at once each fold only the rows they deleted, so no count changes.
///
/// Then the table is vacuumed, so the next second's deltas reuse the space of the rows just
/// deleted: a batch of incidents appends about one row per incident (a batch holds most
/// combinations), and left to autovacuum (once a minute at most) the table grows by a
/// minute of ingest between visits. `SKIP_LOCKED`: a server whose neighbour is vacuuming
/// leaves it to them. `TRUNCATE false`: cutting the emptied end off the file would take a
/// lock that the writers' appends wait for (and that standbys replay), and the next second
/// fills that space again. VACUUM needs the role that owns the table (the one that ran the
/// migrations); another role gets a warning and the table grows as before.
pub fn fold(conn: &mut Conn) -> anyhow::Result<()> {
    use anyhow::Context;
    let Conn::Pg(pg) = conn else { return Ok(()) };
    pg.batch_execute(
        "WITH folded AS (DELETE FROM incident_count_deltas \
           RETURNING instance, type, status, severity, n) \
         INSERT INTO incident_count_deltas (instance, type, status, severity, n) \
         SELECT instance, type, status, severity, sum(n) FROM folded \
         GROUP BY instance, type, status, severity HAVING sum(n) <> 0",
    )
    .context("folding the deltas")?;
    // VACUUM runs outside a transaction block: its own statement.
    pg.batch_execute("VACUUM (SKIP_LOCKED, TRUNCATE false) incident_count_deltas")
        .context("vacuuming the folded deltas")
}

/// Folds the deltas at start (a bulk load or `db copy` leaves many) and then every
/// [`FOLD_INTERVAL`] for as long as the server runs (PostgreSQL only).
pub fn spawn_folder(pool: Pool) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(FOLD_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let pool = pool.clone();
            let folded = actix_web::web::block(move || -> anyhow::Result<()> {
                let mut conn = pool.get()?;
                fold(&mut conn)?;
                Ok(())
            })
            .await;
            match folded {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("facet counts: {e:#}"),
                Err(e) => log::warn!("facet counts: the fold did not run: {e}"),
            }
        }
    });
}
