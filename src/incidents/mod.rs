//! Incidents: what they look like to analysts and how they are queried. They are created
//! by the ingest path through the storage writer.

pub mod counts;
pub mod filter;
pub mod search;
pub mod store;
pub mod text_index;

pub use filter::{FilterError, IncidentFilter, TextQuery};

use serde::Serialize;

/// The statuses an incident can have.
pub const STATUSES: [&str; 3] = ["open", "acknowledged", "resolved"];

/// An incident as analysts see it. `raw_json` is present when one incident is shown.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub instance: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// When it happened (RFC 3339, UTC): the event's own time, else when it arrived.
    #[schema(format = DateTime)]
    pub occurred: String,
    /// When it was stored (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub created: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// Deliveries this incident stands for (more than 1 after dedup-key or PUT updates).
    pub occurrences: i32,
    /// When the latest delivery folded into it arrived (RFC 3339, UTC), if any.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub labels: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub raw_json: Option<serde_json::Value>,
}

/// One delivery of an incident: the one that created it, or one that updated it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EventView {
    /// `created` or `updated`.
    pub kind: String,
    #[schema(format = DateTime)]
    pub received: String,
    /// The incident's `raw_json` as this delivery made it.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// Counts of the incidents matching a filter: in all, and by instance, type, status and
/// severity (incidents without a type or severity count in `total` only).
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Facets {
    pub total: i64,
    pub instance: std::collections::BTreeMap<String, i64>,
    #[serde(rename = "type")]
    pub type_: std::collections::BTreeMap<String, i64>,
    pub status: std::collections::BTreeMap<String, i64>,
    pub severity: std::collections::BTreeMap<String, i64>,
}
