//! One element → one incident, with XSOAR's field rules (SPEC 2.4, 2.5). Pure.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::body::{kind_of, Element};
use crate::error::ApiError;
use crate::instances::InstanceConfig;
use crate::storage::writer::{NewIncident, NewSample};
use crate::time::parse_timestamp;

/// The name an incident gets when nothing names it.
pub const DEFAULT_NAME: &str = "Generic webhook triggered incident";

/// What one request shares between its elements.
pub struct RequestContext<'a> {
    pub instance: &'a InstanceConfig,
    pub received: NaiveDateTime,
    /// Request headers, lower-cased and without credentials, as a JSON object.
    pub headers: &'a Value,
    /// The same, serialised once for samples.
    pub headers_text: &'a str,
}

/// An element ready to store.
pub struct Prepared {
    pub incident: NewIncident,
    pub sample: Option<NewSample>,
    pub warnings: Vec<String>,
}

/// Applies the field rules to element `index` of a request.
pub fn prepare(
    index: usize,
    mut element: Element,
    ctx: &RequestContext<'_>,
) -> Result<Prepared, ApiError> {
    // The sample is the element exactly as it arrived, before anything is taken out of it.
    let sample = ctx.instance.store_samples.then(|| {
        let body = Value::Object(element.clone()).to_string();
        NewSample {
            received: ctx.received,
            body_hash: hex(&Sha256::digest(body.as_bytes())),
            body,
            headers: ctx.headers_text.to_string(),
        }
    });

    let mut warnings = Vec::new();
    let name = match element.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => DEFAULT_NAME.to_string(),
    };
    let type_ = match element.get("type") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => ctx.instance.incident_type.clone(),
    };
    let occurred = match element.get("occurred") {
        None | Some(Value::Null) => ctx.received,
        Some(value) => parse_timestamp(value).unwrap_or_else(|| {
            warnings.push(format!(
                "occurred: {} is not a timestamp intake understands; the receive time was used",
                shorten(value)
            ));
            ctx.received
        }),
    };

    let embedded = element
        .remove("rawJson")
        .or_else(|| element.remove("raw_json"));
    let mut raw_json: Map<String, Value> = match embedded {
        None => element,
        Some(Value::Object(raw)) => raw,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_element",
                format!(
                    "Element {index}: rawJson must be a JSON object, not {}.",
                    kind_of(&other)
                ),
            ))
        }
    };
    raw_json.insert("headers".into(), ctx.headers.clone());

    Ok(Prepared {
        incident: NewIncident {
            instance: ctx.instance.name.clone(),
            name,
            type_,
            occurred,
            created: ctx.received,
            raw_json: Value::Object(raw_json).to_string(),
        },
        sample,
        warnings,
    })
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use serde_json::json;

    fn instance(incident_type: Option<&str>, store_samples: bool) -> InstanceConfig {
        InstanceConfig {
            id: 1,
            name: "test".into(),
            incident_type: incident_type.map(String::from),
            store_samples,
            sample_limit: 20,
            allow_anonymous: true,
            enabled: true,
            rules: vec![],
            secret_headers: vec![],
        }
    }

    fn run(element: Value, instance: &InstanceConfig) -> Result<Prepared, ApiError> {
        let headers = json!({"user-agent":"test"});
        let ctx = RequestContext {
            instance,
            received: DateTime::from_timestamp(1_700_000_000, 0)
                .unwrap()
                .naive_utc(),
            headers: &headers,
            headers_text: r#"{"user-agent":"test"}"#,
        };
        prepare(0, element.as_object().unwrap().clone(), &ctx)
    }

    #[test]
    fn defaults_apply_when_the_element_names_nothing() {
        let p = run(json!({"x":1}), &instance(None, false)).unwrap();
        assert_eq!(p.incident.name, DEFAULT_NAME);
        assert_eq!(p.incident.type_, None);
        assert_eq!(p.incident.occurred.and_utc().timestamp(), 1_700_000_000);
        let raw: Value = serde_json::from_str(&p.incident.raw_json).unwrap();
        assert_eq!(raw, json!({"x":1,"headers":{"user-agent":"test"}}));
    }

    #[test]
    fn element_fields_win_over_instance_defaults() {
        let inst = instance(Some("Phishing"), false);
        let p = run(
            json!({"name":"n","type":"Malware","occurred":"2024-01-02T03:04:05Z"}),
            &inst,
        )
        .unwrap();
        assert_eq!(p.incident.name, "n");
        assert_eq!(p.incident.type_.as_deref(), Some("Malware"));
        assert_eq!(
            crate::time::rfc3339(p.incident.occurred),
            "2024-01-02T03:04:05Z"
        );
        let p = run(json!({"name":""}), &inst).unwrap();
        assert_eq!(p.incident.name, DEFAULT_NAME);
        assert_eq!(p.incident.type_.as_deref(), Some("Phishing"));
    }

    #[test]
    fn raw_json_comes_from_the_element_when_given() {
        let inst = instance(None, false);
        for key in ["rawJson", "raw_json"] {
            let p = run(json!({"name":"n", key: {"inner":true}}), &inst).unwrap();
            let raw: Value = serde_json::from_str(&p.incident.raw_json).unwrap();
            assert_eq!(raw, json!({"inner":true,"headers":{"user-agent":"test"}}));
        }
        let e = run(json!({"rawJson":"text"}), &inst).err().unwrap();
        assert!(
            e.message.contains("rawJson must be a JSON object"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_unparseable_occurred_warns_and_uses_receive_time() {
        let p = run(json!({"occurred":"next tuesday"}), &instance(None, false)).unwrap();
        assert_eq!(p.incident.occurred.and_utc().timestamp(), 1_700_000_000);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("next tuesday"));
    }

    #[test]
    fn samples_keep_the_element_as_it_arrived() {
        let p = run(json!({"rawJson":{"a":1},"name":"n"}), &instance(None, true)).unwrap();
        let sample = p.sample.unwrap();
        let body: Value = serde_json::from_str(&sample.body).unwrap();
        assert_eq!(body, json!({"rawJson":{"a":1},"name":"n"}));
        assert_eq!(sample.body_hash.len(), 64);
        assert!(run(json!({}), &instance(None, false))
            .unwrap()
            .sample
            .is_none());
    }
}
