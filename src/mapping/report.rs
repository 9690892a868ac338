//! Testing a mapping against stored samples before saving it: what each sample
//! would become, and how many map fully (name and occurred from the data, not defaults).

use serde::Serialize;
use serde_json::{Map, Value};

use super::compiled::Mapping;
use crate::time::{parse_timestamp, rfc3339};

/// One incident a sample would make.
#[derive(Debug, Serialize)]
pub struct TestedIncident {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// RFC 3339 when the mapped value parses.
    pub occurred: Option<String>,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// What one sample gives.
#[derive(Debug, Serialize)]
pub struct TestedSample {
    pub sample_id: i64,
    pub received: String,
    pub incidents: Vec<TestedIncident>,
    pub error: Option<String>,
    /// Every incident got its name and a parseable occurred from the mapping.
    pub fully_mapped: bool,
}

#[derive(Debug, Serialize)]
pub struct TestReport {
    pub samples: usize,
    pub fully_mapped: usize,
    pub results: Vec<TestedSample>,
}

/// A stored sample: its id, receive time, body and the headers it came with.
pub struct SampleInput<'a> {
    pub id: i64,
    pub received: &'a str,
    pub body: &'a Value,
    pub headers: &'a Value,
}

/// Runs `mapping` over `samples` as ingest would (request headers visible as `$.headers`).
pub fn test(mapping: &Mapping, samples: &[SampleInput<'_>]) -> TestReport {
    let results: Vec<TestedSample> = samples.iter().map(|s| test_one(mapping, s)).collect();
    TestReport {
        samples: results.len(),
        fully_mapped: results.iter().filter(|r| r.fully_mapped).count(),
        results,
    }
}

fn test_one(mapping: &Mapping, sample: &SampleInput<'_>) -> TestedSample {
    let mut payload: Map<String, Value> = match sample.body {
        Value::Object(object) => {
            // As at ingest: rawJson/raw_json is the payload when present.
            match object.get("rawJson").or_else(|| object.get("raw_json")) {
                Some(Value::Object(inner)) => inner.clone(),
                _ => object.clone(),
            }
        }
        _ => Map::new(),
    };
    payload.insert("headers".into(), sample.headers.clone());
    let (incidents, error) = match mapping.apply(&payload) {
        Ok(parts) => (
            parts
                .into_iter()
                .map(|part| {
                    let m = part.mapped;
                    let mut warnings = Vec::new();
                    let occurred = m.occurred.as_ref().and_then(|v| {
                        let parsed = parse_timestamp(v).map(rfc3339);
                        if parsed.is_none() {
                            warnings.push(format!("occurred: {v} is not a timestamp"));
                        }
                        parsed
                    });
                    TestedIncident {
                        name: m.name,
                        type_: m.type_,
                        occurred,
                        severity: m.severity,
                        dedup_key: m.dedup_key,
                        labels: m.labels,
                        warnings,
                    }
                })
                .collect::<Vec<_>>(),
            None,
        ),
        Err(problem) => (Vec::new(), Some(problem)),
    };
    let fully_mapped = error.is_none()
        && !incidents.is_empty()
        && incidents
            .iter()
            .all(|i| i.name.is_some() && i.occurred.is_some());
    TestedSample {
        sample_id: sample.id,
        received: sample.received.to_string(),
        incidents,
        error,
        fully_mapped,
    }
}
