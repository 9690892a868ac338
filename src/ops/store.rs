//! The delivery log and delivery activity tables: written by the recorder thread in
//! batches, read by the admin API and the CLI.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Timestamp};
use serde::Serialize;

use crate::error::ServiceError;
use crate::instances::InstanceView;
use crate::storage::sql::Sql;
use crate::storage::Conn;
use crate::time::rfc3339;

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        instance_id -> Integer,
        received -> Timestamp,
        remote_addr -> Text,
        forwarded_for -> Nullable<Text>,
        method -> Text,
        path -> Text,
        status -> Integer,
        error -> Text,
        reason -> Nullable<Text>,
        message -> Text,
        body_bytes -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
    }
}

/// One refused request, as the recorder stores it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries)]
pub struct NewDelivery {
    pub instance_id: i32,
    pub received: NaiveDateTime,
    pub remote_addr: String,
    pub forwarded_for: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub error: String,
    pub reason: Option<String>,
    pub message: String,
    pub body_bytes: Option<i64>,
    pub user_agent: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries)]
struct DeliveryRow {
    id: i64,
    received: NaiveDateTime,
    remote_addr: String,
    forwarded_for: Option<String>,
    method: String,
    path: String,
    status: i32,
    error: String,
    reason: Option<String>,
    message: String,
    body_bytes: Option<i64>,
    user_agent: Option<String>,
}

/// One refused request, as the API and the CLI show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// When it arrived (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub received: String,
    /// The peer's address; with a trusted proxy in front, the proxy's.
    pub remote_addr: String,
    /// `X-Forwarded-For` as the trusted proxy sent it (absent from other peers).
    pub forwarded_for: Option<String>,
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub status: i32,
    /// The error code answered (`unauthorized`, `invalid_body`…).
    pub error: String,
    /// Why authentication failed (`wrong_secret`, `missing_credentials`…), when it did.
    pub reason: Option<String>,
    pub message: String,
    /// The body's declared or read size in bytes, when known.
    pub body_bytes: Option<i64>,
    pub user_agent: Option<String>,
}

/// Stores refused requests and keeps only the newest `keep` of each instance they touch.
/// Call inside a transaction.
pub fn insert_deliveries(conn: &mut Conn, rows: &[NewDelivery], keep: u32) -> QueryResult<()> {
    let mut touched: Vec<i32> = Vec::new();
    for row in rows {
        diesel::insert_into(deliveries::table)
            .values(row)
            .execute(conn)?;
        if !touched.contains(&row.instance_id) {
            touched.push(row.instance_id);
        }
    }
    for instance_id in touched {
        let mut trim = Sql::new(conn);
        trim.push("DELETE FROM deliveries WHERE instance_id = ")
            .int32(instance_id)
            .push(" AND id NOT IN (SELECT id FROM deliveries WHERE instance_id = ")
            .int32(instance_id)
            .push(" ORDER BY id DESC LIMIT ")
            .int(i64::from(keep))
            .push(")");
        trim.execute(conn)?;
    }
    Ok(())
}

/// The ids of every instance.
pub fn instance_ids(conn: &mut Conn) -> QueryResult<std::collections::HashSet<i32>> {
    use crate::storage::schema::instances;
    Ok(instances::table
        .select(instances::id)
        .load::<i32>(conn)?
        .into_iter()
        .collect())
}

/// When each instance last accepted a delivery, over every server (instances that never did
/// are left out).
pub fn last_accepted_all(conn: &mut Conn) -> QueryResult<Vec<(i32, NaiveDateTime)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        instance_id: i32,
        #[diesel(sql_type = Timestamp)]
        last_accepted: NaiveDateTime,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT instance_id, last_accepted FROM delivery_activity \
         WHERE hour = 0 AND last_accepted IS NOT NULL",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.instance_id, r.last_accepted))
        .collect())
}

/// The instance's logged refusals, newest first.
pub fn deliveries_of(conn: &mut Conn, instance: &str) -> Result<Vec<DeliveryView>, ServiceError> {
    use crate::storage::schema::instances;
    let id: i32 = instances::table
        .filter(instances::name.eq(instance))
        .select(instances::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| ServiceError::NotFound(format!("No instance named '{instance}'.")))?;
    let rows = deliveries::table
        .filter(deliveries::instance_id.eq(id))
        .order(deliveries::id.desc())
        .select(DeliveryRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryView {
            id: r.id,
            received: rfc3339(r.received),
            remote_addr: r.remote_addr,
            forwarded_for: r.forwarded_for,
            method: r.method,
            path: r.path,
            status: r.status,
            error: r.error,
            reason: r.reason,
            message: r.message,
            body_bytes: r.body_bytes,
            user_agent: r.user_agent,
        })
        .collect())
}

/// The hourly bucket of a time: Unix time / 3600 (never 0, which holds the totals).
pub fn hour_of(time: NaiveDateTime) -> i64 {
    (time.and_utc().timestamp() / 3600).max(1)
}

/// Buckets older than this many hours are deleted when activity is flushed.
const KEEP_HOURS: i64 = 48;

/// Adds one server's counts to an instance's current hour and to its totals. Call inside a
/// transaction.
pub fn add_activity(
    conn: &mut Conn,
    instance_id: i32,
    now: NaiveDateTime,
    accepted: i64,
    refused: i64,
    last_accepted: Option<NaiveDateTime>,
) -> QueryResult<()> {
    for hour in [0, hour_of(now)] {
        let mut upsert = Sql::new(conn);
        upsert
            .push(
                "INSERT INTO delivery_activity (instance_id, hour, accepted, refused, \
                 last_accepted) VALUES (",
            )
            .int32(instance_id)
            .push(", ")
            .int(hour)
            .push(", ")
            .int(accepted)
            .push(", ")
            .int(refused)
            .push(", ")
            .opt_time(last_accepted)
            .push(
                ") ON CONFLICT (instance_id, hour) DO UPDATE SET \
                 accepted = delivery_activity.accepted + excluded.accepted, \
                 refused = delivery_activity.refused + excluded.refused, \
                 last_accepted = CASE WHEN delivery_activity.last_accepted IS NULL \
                   OR excluded.last_accepted > delivery_activity.last_accepted \
                   THEN excluded.last_accepted ELSE delivery_activity.last_accepted END",
            );
        upsert.execute(conn)?;
    }
    let mut trim = Sql::new(conn);
    trim.push("DELETE FROM delivery_activity WHERE instance_id = ")
        .int32(instance_id)
        .push(" AND hour > 0 AND hour < ")
        .int(hour_of(now) - KEEP_HOURS);
    trim.execute(conn)?;
    Ok(())
}

/// When an instance last accepted a delivery and how busy it was over the last 24 hours,
/// summed over every server.
#[derive(Debug, Default, Serialize, QueryableByName, utoipa::ToSchema)]
pub struct Activity {
    /// When a delivery was last accepted (RFC 3339), or null.
    #[diesel(sql_type = Nullable<Timestamp>)]
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "rfc3339_or_null")]
    pub last_accepted: Option<NaiveDateTime>,
    /// Accepted deliveries in the current hour and the 23 before it.
    #[diesel(sql_type = BigInt)]
    pub accepted_24h: i64,
    /// Refused deliveries (any answer but 200) in the current hour and the 23 before it.
    #[diesel(sql_type = BigInt)]
    pub refused_24h: i64,
}

fn rfc3339_or_null<S: serde::Serializer>(
    value: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// The instance's activity (`name` must exist).
pub fn activity_of(
    conn: &mut Conn,
    name: &str,
    now: NaiveDateTime,
) -> Result<Activity, ServiceError> {
    let since = hour_of(now) - 24;
    let mut sql = Sql::new(conn);
    sql.push(
        "SELECT (SELECT max(a.last_accepted) FROM delivery_activity a WHERE a.instance_id = i.id \
           AND a.hour = 0) AS last_accepted, \
         CAST(coalesce((SELECT sum(a.accepted) FROM delivery_activity a \
           WHERE a.instance_id = i.id AND a.hour > ",
    )
    .int(since)
    .push(
        "), 0) AS BIGINT) AS accepted_24h, \
         CAST(coalesce((SELECT sum(a.refused) FROM delivery_activity a \
           WHERE a.instance_id = i.id AND a.hour > ",
    )
    .int(since)
    .push("), 0) AS BIGINT) AS refused_24h FROM instances i WHERE i.name = ")
    .text(name);
    sql.get_result(conn).map_err(|e| match e {
        diesel::result::Error::NotFound => {
            ServiceError::NotFound(format!("No instance named '{name}'."))
        }
        other => other.into(),
    })
}

/// An instance with its activity, as `GET /api/v1/instances/{name}` and `instance show`
/// answer it.
#[derive(Serialize)]
pub struct InstanceWithActivity {
    #[serde(flatten)]
    pub instance: InstanceView,
    #[serde(flatten)]
    pub activity: Activity,
}

/// One instance with its activity.
pub fn show_with_activity(
    conn: &mut Conn,
    name: &str,
) -> Result<InstanceWithActivity, ServiceError> {
    let instance = crate::instances::store::show(conn, name)?;
    let activity = activity_of(conn, name, chrono::Utc::now().naive_utc())?;
    Ok(InstanceWithActivity { instance, activity })
}
