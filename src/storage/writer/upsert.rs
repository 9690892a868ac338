//! An incident with a dedup key: created, or folded into the open incident with that key.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use super::batch::{NewIncident, Outcome, Stored};
use crate::storage::schema::incidents;
use crate::storage::sql::Sql;
use crate::storage::{on_each_backend, Conn};

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    occurrences: i32,
}

/// Creates the incident, or, when an unresolved incident of the instance has the same dedup
/// key, updates that one: one more occurrence, last seen now, the latest payload and mapped
/// fields (the first `occurred` stays), and the delivery kept as an event. The unique partial
/// index makes this exact under any concurrency, including other processes.
pub(super) fn upsert(conn: &mut Conn, incident: &NewIncident) -> QueryResult<Stored> {
    // "The same payload" is the same text, byte for byte, on both backends.
    let open_query = incidents::table
        .filter(incidents::instance.eq(&incident.instance))
        .filter(incidents::dedup_key.eq(&incident.dedup_key))
        .filter(incidents::status.ne("resolved"))
        .select((incidents::id, incidents::raw_json.eq(&incident.raw_json)));
    let open: Option<(i64, bool)> = on_each_backend!(conn, |c| open_query.first(c).optional())?;
    if let Some((id, same_payload)) = open {
        if same_payload && !incident.resolves {
            diesel::update(incidents::table.find(id))
                .set((
                    incidents::occurrences.eq(incidents::occurrences + 1),
                    incidents::last_seen.eq(incident.created),
                ))
                .execute(conn)?;
            return Ok(Stored {
                id,
                outcome: Outcome::Duplicate,
            });
        }
    }
    let mut upsert = Sql::new(conn);
    upsert
        .push(
            "INSERT INTO incidents (instance, name, type, occurred, created, raw_json, severity, \
             dedup_key, labels) VALUES (",
        )
        .text(incident.instance.as_str())
        .push(", ")
        .text(incident.name.as_str())
        .push(", ")
        .opt_text(incident.type_.as_deref())
        .push(", ")
        .time(incident.occurred)
        .push(", ")
        .time(incident.created)
        .push(", ")
        .text(incident.raw_json.as_str())
        .push(", ")
        .opt_text(incident.severity.as_deref())
        .push(", ")
        .opt_text(incident.dedup_key.as_deref())
        .push(", ")
        .opt_text(incident.labels.as_deref())
        .push(
            ") ON CONFLICT (instance, dedup_key) WHERE dedup_key IS NOT NULL \
             AND status <> 'resolved' \
             DO UPDATE SET occurrences = incidents.occurrences + 1, last_seen = excluded.created, \
             raw_json = excluded.raw_json, name = excluded.name, type = excluded.type, \
             severity = COALESCE(excluded.severity, incidents.severity), \
             labels = COALESCE(excluded.labels, incidents.labels) \
             RETURNING id, occurrences",
        );
    let row: Upserted = upsert.get_result(conn)?;
    crate::incidents::text_index::reindex_one(conn, row.id, &incident.search_text)?;
    if incident.resolves {
        diesel::update(incidents::table.find(row.id))
            .set(incidents::status.eq("resolved"))
            .execute(conn)?;
    }
    if row.occurrences == 1 {
        return Ok(Stored {
            id: row.id,
            outcome: Outcome::Created,
        });
    }
    crate::incidents::store::record_update(conn, row.id, incident.created, &incident.raw_json)?;
    Ok(Stored {
        id: row.id,
        outcome: Outcome::Updated,
    })
}
