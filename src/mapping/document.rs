//! The mapping document as senders' admins write it (JSON, see docs/mapping.md), before it
//! is compiled.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Severity levels incidents are normalised to.
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

/// Values that count as "no value" besides null and the empty string (Cato writes `NA`).
pub(super) const NO_VALUE: [&str; 3] = ["NA", "N/A", "null"];

/// A mapping as admins write it.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MappingDoc {
    /// A preset this mapping starts from; its own targets override the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<TargetDoc>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<TargetDoc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, TargetDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classify: Vec<ClassifyDoc>,
    /// Sender value (lower-cased) → one of [`SEVERITIES`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity_map: BTreeMap<String, String>,
    /// A JSONPath to an array: each element becomes its own incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// A delivery matching this resolves the incident it lands on (e.g. Alertmanager
    /// `{"when": "$.status", "matches": "^resolved$"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_when: Option<ConditionDoc>,
}

/// A condition: the value at `when` matches the regex `matches`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConditionDoc {
    pub when: String,
    pub matches: String,
}

/// A target: one expression, a list tried in order, or the long form.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(untagged)]
pub enum TargetDoc {
    One(String),
    FirstOf(Vec<String>),
    Full {
        value: String,
        #[serde(default)]
        fallbacks: Vec<String>,
        #[serde(default)]
        default: Option<String>,
    },
}

/// Sets `type` and/or `severity` when the value at `when` matches the regex `matches`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyDoc {
    pub when: String,
    pub matches: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}
