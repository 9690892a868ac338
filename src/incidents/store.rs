//! Incident queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use super::STATUSES;
use super::{search, text_index, Facets, IncidentFilter, IncidentView};
use crate::error::ServiceError;
use crate::storage::schema::incidents;
use crate::storage::{on_each_backend, write_transaction, Conn};
use crate::time::rfc3339;

/// Every incident column but `raw_json`: what lists show.
#[derive(Queryable, Selectable)]
#[diesel(table_name = incidents)]
struct Row {
    id: i64,
    instance: String,
    name: String,
    type_: Option<String>,
    occurred: NaiveDateTime,
    created: NaiveDateTime,
    severity: Option<String>,
    dedup_key: Option<String>,
    labels: Option<String>,
    status: String,
    occurrences: i32,
    last_seen: Option<NaiveDateTime>,
}

impl From<search::ListRow> for Row {
    fn from(r: search::ListRow) -> Self {
        Row {
            id: r.id,
            instance: r.instance,
            name: r.name,
            type_: r.type_,
            occurred: r.occurred,
            created: r.created,
            severity: r.severity,
            dedup_key: r.dedup_key,
            labels: r.labels,
            status: r.status,
            occurrences: r.occurrences,
            last_seen: r.last_seen,
        }
    }
}

fn view(row: Row, raw_json: Option<serde_json::Value>) -> IncidentView {
    IncidentView {
        id: row.id,
        instance: row.instance,
        name: row.name,
        type_: row.type_,
        occurred: rfc3339(row.occurred),
        created: rfc3339(row.created),
        status: row.status,
        occurrences: row.occurrences,
        last_seen: row.last_seen.map(rfc3339),
        severity: row.severity,
        dedup_key: row.dedup_key,
        labels: row.labels.and_then(|l| serde_json::from_str(&l).ok()),
        raw_json,
    }
}

/// Incidents matching the filter, newest (highest id) first, without `raw_json`.
pub fn list(conn: &mut Conn, filter: &IncidentFilter) -> Result<Vec<IncidentView>, ServiceError> {
    let rows = search::list_rows(conn, filter)?;
    Ok(rows
        .into_iter()
        .map(|row| view(Row::from(row), None))
        .collect())
}

/// How many incidents match the filter (its cursor and limit aside), in all and by
/// instance, type, status and severity. Exact: counted by the database at the time asked.
pub fn facets(conn: &mut Conn, filter: &IncidentFilter) -> Result<Facets, ServiceError> {
    let mut facets = Facets::default();
    for row in search::facet_rows(conn, filter)? {
        facets.total += row.n;
        *facets.instance.entry(row.instance).or_default() += row.n;
        *facets.status.entry(row.status).or_default() += row.n;
        if let Some(type_) = row.type_ {
            *facets.type_.entry(type_).or_default() += row.n;
        }
        if let Some(severity) = row.severity {
            *facets.severity.entry(severity).or_default() += row.n;
        }
    }
    Ok(facets)
}

/// One incident with its `raw_json`.
pub fn get(conn: &mut Conn, id: i64) -> Result<IncidentView, ServiceError> {
    let found: Option<(Row, String)> = incidents::table
        .find(id)
        .select((Row::as_select(), incidents::raw_json))
        .first(conn)
        .optional()?;
    let (row, raw) = found.ok_or_else(|| ServiceError::NotFound(format!("no incident {id}")))?;
    let raw_json = serde_json::from_str(&raw)
        .map_err(|e| anyhow::anyhow!("incident {id} has unreadable raw_json: {e}"))?;
    Ok(view(row, Some(raw_json)))
}

/// Every delivery of an incident, oldest first. An incident never updated has no stored
/// events (see migration 5): its one delivery is the incident itself.
pub fn events(conn: &mut Conn, id: i64) -> Result<Vec<super::EventView>, ServiceError> {
    use crate::storage::schema::incident_events;
    let incident = get(conn, id)?;
    let rows: Vec<(String, NaiveDateTime, String)> = incident_events::table
        .filter(incident_events::incident_id.eq(id))
        .order(incident_events::id)
        .select((
            incident_events::kind,
            incident_events::received,
            incident_events::body,
        ))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(vec![super::EventView {
            kind: "created".into(),
            received: incident.created,
            body: incident.raw_json.unwrap_or_default(),
        }]);
    }
    Ok(rows
        .into_iter()
        .map(|(kind, received, body)| super::EventView {
            kind,
            received: rfc3339(received),
            body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        })
        .collect())
}

/// Fields a delivery brings to an existing incident; `None` keeps what the incident has.
pub struct Delivery {
    pub name: Option<String>,
    pub type_: Option<String>,
    pub severity: Option<String>,
    pub labels: Option<String>,
    pub raw_json: String,
    pub received: NaiveDateTime,
}

/// Updates incident `id` of `instance` from a delivery (PUT, the correlated-update flow):
/// latest payload, fields the delivery names, one more occurrence, last seen now, and the
/// delivery kept as an event. Answers only after the commit.
pub fn update_from_delivery(
    conn: &mut Conn,
    instance: &str,
    id: i64,
    delivery: &Delivery,
) -> Result<IncidentView, ServiceError> {
    // `None` fields are left out of the SET list: the incident keeps what it has.
    #[derive(AsChangeset)]
    #[diesel(table_name = incidents)]
    struct Changes<'a> {
        raw_json: &'a str,
        name: Option<&'a str>,
        type_: Option<&'a str>,
        severity: Option<&'a str>,
        labels: Option<&'a str>,
        last_seen: NaiveDateTime,
    }
    let changes = Changes {
        raw_json: &delivery.raw_json,
        name: delivery.name.as_deref(),
        type_: delivery.type_.as_deref(),
        severity: delivery.severity.as_deref(),
        labels: delivery.labels.as_deref(),
        last_seen: delivery.received,
    };
    write_transaction(conn, |conn| {
        let update = diesel::update(
            incidents::table
                .filter(incidents::id.eq(id))
                .filter(incidents::instance.eq(instance)),
        )
        .set((
            changes,
            incidents::occurrences.eq(incidents::occurrences + 1),
        ));
        let updated = on_each_backend!(conn, |c| update.execute(c))?;
        if updated == 0 {
            return Err(ServiceError::NotFound(format!(
                "Instance '{instance}' has no incident {id}."
            )));
        }
        record_update(conn, id, delivery.received, &delivery.raw_json)?;
        let updated = get(conn, id)?;
        text_index::reindex_one(
            conn,
            id,
            &text_index::search_text(&updated.name, &delivery.raw_json),
        )?;
        Ok(updated)
    })
}

/// Keeps a delivery that updated an incident as its event. (The incident's first delivery is
/// saved as its `created` event by a trigger when its payload is first replaced.)
pub fn record_update(
    conn: &mut Conn,
    incident_id: i64,
    received: NaiveDateTime,
    body: &str,
) -> QueryResult<()> {
    use crate::storage::schema::incident_events;
    diesel::insert_into(incident_events::table)
        .values((
            incident_events::incident_id.eq(incident_id),
            incident_events::kind.eq("updated"),
            incident_events::received.eq(received),
            incident_events::body.eq(body),
        ))
        .execute(conn)
        .map(drop)
}

/// Sets an incident's status (analysts). Reopening is refused when another unresolved
/// incident already has the same dedup key.
pub fn set_status(conn: &mut Conn, id: i64, status: &str) -> Result<IncidentView, ServiceError> {
    if !STATUSES.contains(&status) {
        return Err(ServiceError::Invalid(format!(
            "status: '{status}' is not a status ({})",
            STATUSES.join(", ")
        )));
    }
    write_transaction(conn, |conn| {
        let changed = diesel::update(incidents::table.find(id))
            .set(incidents::status.eq(status))
            .execute(conn)
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => ServiceError::Conflict(format!(
                    "status: incident {id} cannot reopen, another open incident has its dedup key"
                )),
                other => other,
            })?;
        if changed == 0 {
            return Err(ServiceError::NotFound(format!("no incident {id}")));
        }
        get(conn, id)
    })
}
