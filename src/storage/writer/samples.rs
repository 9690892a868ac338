//! Samples: the received elements an instance keeps, trimmed to its cap.

use diesel::prelude::*;

use super::batch::WriteBatch;
use crate::storage::schema::samples;
use crate::storage::sql::Sql;
use crate::storage::{on_each_backend, Conn};

pub(super) fn store_samples(conn: &mut Conn, batch: &WriteBatch) -> QueryResult<()> {
    for sample in &batch.samples {
        let insert = diesel::insert_into(samples::table)
            .values((
                samples::instance_id.eq(batch.instance_id),
                samples::received.eq(sample.received),
                samples::body.eq(&sample.body),
                samples::headers.eq(&sample.headers),
                samples::body_hash.eq(&sample.body_hash),
            ))
            .on_conflict((samples::instance_id, samples::body_hash))
            .do_update()
            .set((
                samples::received.eq(sample.received),
                samples::headers.eq(&sample.headers),
            ));
        on_each_backend!(conn, |c| insert.execute(c))?;
    }
    trim_samples(conn, batch.instance_id, batch.sample_limit)?;
    Ok(())
}

/// Keeps only the newest `keep` samples of an instance.
pub fn trim_samples(conn: &mut Conn, instance_id: i32, keep: i32) -> QueryResult<usize> {
    let mut sql = Sql::new(conn);
    sql.push("DELETE FROM samples WHERE instance_id = ")
        .int32(instance_id)
        .push(" AND id NOT IN (SELECT id FROM samples WHERE instance_id = ")
        .int32(instance_id)
        .push(" ORDER BY received DESC, id DESC LIMIT ")
        .int(i64::from(keep.max(0)))
        .push(")");
    sql.execute(conn)
}
