//! Incidents: what they look like to analysts and how they are queried. They are created
//! by the ingest path through the storage writer.

pub mod store;

use serde::Serialize;

/// An incident as analysts see it. `raw_json` is present when one incident is shown.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub instance: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub occurred: String,
    pub created: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// Deliveries this incident stands for (more than 1 after dedup-key or PUT updates).
    pub occurrences: i32,
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
    pub received: String,
    /// The incident's `raw_json` as this delivery made it.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// Which incidents to list, newest first.
#[derive(Debug, Clone)]
pub struct IncidentFilter {
    pub instance: Option<String>,
    pub type_: Option<String>,
    /// Case-sensitive substring of the name.
    pub name_contains: Option<String>,
    pub occurred_after: Option<chrono::NaiveDateTime>,
    pub occurred_before: Option<chrono::NaiveDateTime>,
    pub created_after: Option<chrono::NaiveDateTime>,
    pub created_before: Option<chrono::NaiveDateTime>,
    /// Only incidents with an id below this (keyset pagination).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        IncidentFilter {
            instance: None,
            type_: None,
            name_contains: None,
            occurred_after: None,
            occurred_before: None,
            created_after: None,
            created_before: None,
            before_id: None,
            limit: 50,
        }
    }
}
