//! One element → one incident, with XSOAR's field rules. Pure.
//!
//! The fast path reads only `name`, `type`, `occurred` and `rawJson`/`raw_json` out of the
//! element's text and stores the text itself as `raw_json`, with the `headers` key spliced
//! in: no JSON tree is built and nothing is re-serialised. Elements it cannot take that way
//! (duplicate keys, a `headers` key of their own, form fields) go through a `Value` tree.

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::body::{raw_kind, Element};
use crate::error::{ApiError, ErrorCode};
use crate::incidents::text_index::search_text;
use crate::instances::InstanceConfig;
use crate::mapping::kind_of;
use crate::storage::writer::{NewIncident, NewSample};
use crate::time::parse_timestamp;

/// The name an incident gets when nothing names it.
pub const DEFAULT_NAME: &str = "Generic webhook triggered incident";

/// What one request shares between its elements.
pub struct RequestContext<'a> {
    pub instance: &'a InstanceConfig,
    pub received: NaiveDateTime,
    /// Request headers, lower-cased and without credentials, as a JSON object's text.
    pub headers: &'a str,
}

/// An element ready to store.
pub struct Prepared {
    pub incident: NewIncident,
    pub sample: Option<NewSample>,
    pub warnings: Vec<String>,
}

/// The keys of an element that intake reads; present keys hold their raw text (even `null`).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    name: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "type")]
    type_: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    occurred: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "rawJson")]
    raw_json_camel: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present", rename = "raw_json")]
    raw_json_snake: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    headers: Option<&'a RawValue>,
}

/// Whether an object has a `headers` key of its own.
#[derive(Deserialize)]
struct HeadersProbe<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    headers: Option<&'a RawValue>,
}

/// `Some(text)` for a key that is present, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// serde_json without its fixed depth limit: the body's depth was checked on arrival.
fn from_text<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    let mut parser = serde_json::Deserializer::from_str(text);
    parser.disable_recursion_limit();
    T::deserialize(&mut parser)
}

/// Applies the field rules (and the instance's mapping) to element `index` of a request:
/// one incident, or one per element of the mapping's `split` array.
pub fn prepare(
    index: usize,
    element: Element<'_>,
    ctx: &RequestContext<'_>,
) -> Result<Vec<Prepared>, ApiError> {
    let fast = match (&element, &ctx.instance.mapping) {
        (Element::Json(raw), None) => prepare_text(index, raw, ctx)?,
        _ => None,
    };
    if let Some(prepared) = fast {
        return Ok(vec![prepared]);
    }
    match element {
        Element::Json(raw) => {
            let object = from_text(raw.get()).map_err(|e| {
                ApiError::new(ErrorCode::InvalidElement, format!("Element {index}: {e}."))
            })?;
            prepare_object(index, object, raw.get(), ctx)
        }
        Element::Form(fields) => {
            let text = Value::Object(fields.clone()).to_string();
            prepare_object(index, fields, &text, ctx)
        }
    }
}

/// The fast path; `None` when the element needs the `Value` path.
fn prepare_text(
    index: usize,
    raw: &RawValue,
    ctx: &RequestContext<'_>,
) -> Result<Option<Prepared>, ApiError> {
    let Ok(envelope) = from_text::<Envelope>(raw.get()) else {
        return Ok(None); // e.g. a duplicate key: serde_json's Map keeps the last one
    };
    let (raw_json, has_headers) = match envelope.raw_json_camel.or(envelope.raw_json_snake) {
        None => (raw.get(), envelope.headers.is_some()),
        Some(inner) if raw_kind(inner) != "an object" => {
            return Err(not_an_object(index, raw_kind(inner)))
        }
        Some(inner) => match from_text::<HeadersProbe>(inner.get()) {
            Ok(probe) => (inner.get(), probe.headers.is_some()),
            Err(_) => return Ok(None),
        },
    };
    if has_headers {
        return Ok(None); // intake's headers replace the sender's: let the Value path do it
    }
    let text_field = |field: Option<&RawValue>| {
        field
            .filter(|r| raw_kind(r) == "a string")
            .and_then(|r| from_text::<String>(r.get()).ok())
            .filter(|s| !s.trim().is_empty())
    };
    let occurred = match envelope.occurred {
        None => Value::Null,
        Some(r) => from_text(r.get()).unwrap_or(Value::Null),
    };
    let mut warnings = Vec::new();
    let name = text_field(envelope.name).unwrap_or_else(|| DEFAULT_NAME.to_string());
    let raw_json = with_headers(raw_json, ctx.headers);
    Ok(Some(Prepared {
        incident: NewIncident {
            instance: ctx.instance.name.clone(),
            search_text: search_text(&name, &raw_json),
            name,
            type_: text_field(envelope.type_).or_else(|| ctx.instance.incident_type.clone()),
            occurred: occurred_or_received(&occurred, ctx, &mut warnings),
            created: ctx.received,
            raw_json,
            severity: None,
            dedup_key: None,
            labels: None,
            resolves: false,
        },
        sample: sample(raw.get(), ctx),
        warnings,
    }))
}

/// The `Value` path: same rules on a parsed object, with the instance's mapping on top.
/// `arrived` is the element's text. Precedence per field: the mapping's value, then the
/// element's own `name`/`type`/`occurred`, then the instance default, then the built-in one.
fn prepare_object(
    index: usize,
    mut element: Map<String, Value>,
    arrived: &str,
    ctx: &RequestContext<'_>,
) -> Result<Vec<Prepared>, ApiError> {
    let embedded = element
        .remove("rawJson")
        .or_else(|| element.remove("raw_json"));
    let mut raw_json = match embedded {
        None => element.clone(),
        Some(Value::Object(raw)) => raw,
        Some(other) => return Err(not_an_object(index, kind_of(&other))),
    };
    let headers: Value = serde_json::from_str(ctx.headers).unwrap_or_default();
    raw_json.insert("headers".into(), headers.clone());

    let mut warnings = Vec::new();
    let parts = match &ctx.instance.mapping {
        None => vec![(raw_json, None)],
        Some(mapping) => match mapping.apply(&raw_json) {
            Ok(parts) => parts
                .into_iter()
                .map(|mut part| {
                    part.raw.insert("headers".into(), headers.clone());
                    (part.raw, Some(part.mapped))
                })
                .collect(),
            Err(problem) => {
                warnings.push(format!("mapping: {problem}; the defaults were used"));
                vec![(raw_json, None)]
            }
        },
    };
    let mut prepared = Vec::with_capacity(parts.len());
    for (i, (raw, mapped)) in parts.into_iter().enumerate() {
        let mapped = mapped.unwrap_or_default();
        let mut warnings = if i == 0 {
            std::mem::take(&mut warnings)
        } else {
            Vec::new()
        };
        let own_text = |key: &str| match element.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        };
        let occurred = match mapped.occurred.as_ref().map(|v| (v, parse_timestamp(v))) {
            Some((_, Some(t))) => t,
            Some((value, None)) => {
                warnings.push(format!(
                    "occurred: the mapped value {} is not a timestamp intake understands",
                    shorten(value)
                ));
                occurred_or_received(
                    element.get("occurred").unwrap_or(&Value::Null),
                    ctx,
                    &mut warnings,
                )
            }
            None => occurred_or_received(
                element.get("occurred").unwrap_or(&Value::Null),
                ctx,
                &mut warnings,
            ),
        };
        let name = mapped
            .name
            .or_else(|| own_text("name"))
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        let raw_json = Value::Object(raw).to_string();
        prepared.push(Prepared {
            incident: NewIncident {
                instance: ctx.instance.name.clone(),
                search_text: search_text(&name, &raw_json),
                name,
                type_: mapped
                    .type_
                    .or_else(|| own_text("type"))
                    .or_else(|| ctx.instance.incident_type.clone()),
                occurred,
                created: ctx.received,
                raw_json,
                severity: mapped.severity,
                dedup_key: mapped.dedup_key,
                labels: (!mapped.labels.is_empty())
                    .then(|| serde_json::to_string(&mapped.labels).unwrap_or_default()),
                resolves: mapped.resolves,
            },
            // One sample per element as it arrived, however many incidents it made.
            sample: if i == 0 { sample(arrived, ctx) } else { None },
            warnings,
        });
    }
    Ok(prepared)
}

fn occurred_or_received(
    value: &Value,
    ctx: &RequestContext<'_>,
    warnings: &mut Vec<String>,
) -> NaiveDateTime {
    if value.is_null() {
        return ctx.received;
    }
    parse_timestamp(value).unwrap_or_else(|| {
        warnings.push(format!(
            "occurred: {} is not a timestamp intake understands; the receive time was used",
            shorten(value)
        ));
        ctx.received
    })
}

fn not_an_object(index: usize, kind: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidElement,
        format!("Element {index}: rawJson must be a JSON object, not {kind}."),
    )
}

/// The element as it arrived, kept as a sample when the instance asks for samples.
fn sample(arrived: &str, ctx: &RequestContext<'_>) -> Option<NewSample> {
    ctx.instance.store_samples.then(|| NewSample {
        received: ctx.received,
        body_hash: hex::encode(Sha256::digest(arrived.as_bytes())),
        body: arrived.to_string(),
        headers: ctx.headers.to_string(),
    })
}

/// An object's text with `"headers":…` added as its last key.
fn with_headers(object: &str, headers: &str) -> String {
    let object = object.trim();
    let inner = object
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or_default()
        .trim_end();
    let mut out = String::with_capacity(object.len() + headers.len() + 12);
    out.push('{');
    if !inner.trim_start().is_empty() {
        out.push_str(inner);
        out.push(',');
    }
    out.push_str("\"headers\":");
    out.push_str(headers);
    out.push('}');
    out
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
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
            mapping: None,
            secret_headers: vec![],
            ops: crate::ops::instance::InstanceOps::of(1, "test"),
            auth: crate::instances::auth_settings::AuthSettings::defaults(1),
            signature_rules: vec![],
            rate_limiter: None,
        }
    }

    fn run_all(element: &str, instance: &InstanceConfig) -> Result<Vec<Prepared>, ApiError> {
        let ctx = RequestContext {
            instance,
            received: DateTime::from_timestamp(1_700_000_000, 0)
                .unwrap()
                .naive_utc(),
            headers: r#"{"user-agent":"test"}"#,
        };
        let raw: &RawValue = serde_json::from_str(element).unwrap();
        prepare(0, Element::Json(raw), &ctx)
    }

    fn run(element: &str, instance: &InstanceConfig) -> Result<Prepared, ApiError> {
        run_all(element, instance).map(|mut all| {
            assert_eq!(all.len(), 1);
            all.remove(0)
        })
    }

    fn mapped(doc: Value) -> InstanceConfig {
        let mut inst = instance(Some("Instance default"), true);
        let doc = crate::mapping::MappingDoc::parse(&doc.to_string()).unwrap();
        inst.mapping = Some(std::sync::Arc::new(doc.compile().unwrap()));
        inst
    }

    #[test]
    fn mapped_values_win_then_the_elements_own_then_defaults() {
        let inst = mapped(
            json!({"name": "$.subject", "occurred": "$.when", "severity": "$.level",
                                 "dedup_key": "$.id", "labels": {"agent": "$.headers['user-agent']"}}),
        );
        let p = run(r#"{"subject":"Mapped","name":"Own","type":"OwnType","when":1709634030,"level":"high","id":"k1"}"#, &inst).unwrap();
        assert_eq!(p.incident.name, "Mapped");
        assert_eq!(p.incident.type_.as_deref(), Some("OwnType"));
        assert_eq!(
            crate::time::rfc3339(p.incident.occurred),
            "2024-03-05T10:20:30Z"
        );
        assert_eq!(p.incident.severity.as_deref(), Some("high"));
        assert_eq!(p.incident.dedup_key.as_deref(), Some("k1"));
        assert_eq!(p.incident.labels.as_deref(), Some(r#"{"agent":"test"}"#));
        let p = run(r#"{"name":"Own","when":"soon"}"#, &inst).unwrap();
        assert_eq!(
            (p.incident.name.as_str(), p.incident.type_.as_deref()),
            ("Own", Some("Instance default"))
        );
        assert!(p.warnings[0].contains("soon"), "{:?}", p.warnings);
    }

    #[test]
    fn split_makes_several_incidents_from_one_element_with_one_sample() {
        let inst = mapped(json!({"split": "$.alerts", "name": "$.title"}));
        let all = run_all(r#"{"alerts":[{"title":"a"},{"title":"b"}]}"#, &inst).unwrap();
        let names: Vec<_> = all.iter().map(|p| p.incident.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(all.iter().filter(|p| p.sample.is_some()).count(), 1);
        assert_eq!(raw_json(&all[1])["headers"], json!({"user-agent":"test"}));
        // A payload the mapping cannot split keeps the event, with defaults and a warning.
        let all = run_all(r#"{"name":"odd","alerts":"none"}"#, &inst).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].incident.name, "odd");
        assert!(
            all[0].warnings[0].starts_with("mapping: split"),
            "{:?}",
            all[0].warnings
        );
    }

    fn raw_json(p: &Prepared) -> Value {
        serde_json::from_str(&p.incident.raw_json).unwrap()
    }

    #[test]
    fn defaults_apply_when_the_element_names_nothing() {
        let p = run(r#"{"x":1}"#, &instance(None, false)).unwrap();
        assert_eq!(p.incident.name, DEFAULT_NAME);
        assert_eq!(p.incident.type_, None);
        assert_eq!(p.incident.occurred.and_utc().timestamp(), 1_700_000_000);
        assert_eq!(raw_json(&p), json!({"x":1,"headers":{"user-agent":"test"}}));
        let p = run(" { } ", &instance(None, false)).unwrap();
        assert_eq!(raw_json(&p), json!({"headers":{"user-agent":"test"}}));
    }

    #[test]
    fn element_fields_win_over_instance_defaults() {
        let inst = instance(Some("Phishing"), false);
        let p = run(
            r#"{"name":"n \"quoted\"","type":"Malware","occurred":"2024-01-02T03:04:05Z"}"#,
            &inst,
        )
        .unwrap();
        assert_eq!(p.incident.name, "n \"quoted\"");
        assert_eq!(p.incident.type_.as_deref(), Some("Malware"));
        assert_eq!(
            crate::time::rfc3339(p.incident.occurred),
            "2024-01-02T03:04:05Z"
        );
        for element in [r#"{"name":""}"#, r#"{"name":null,"type":7}"#] {
            let p = run(element, &inst).unwrap();
            assert_eq!(p.incident.name, DEFAULT_NAME, "{element}");
            assert_eq!(p.incident.type_.as_deref(), Some("Phishing"), "{element}");
        }
    }

    #[test]
    fn raw_json_comes_from_the_element_when_given() {
        let inst = instance(None, false);
        for key in ["rawJson", "raw_json"] {
            let element = format!(r#"{{"name":"n", "{key}": {{"inner":true}}}}"#);
            let p = run(&element, &inst).unwrap();
            assert_eq!(
                raw_json(&p),
                json!({"inner":true,"headers":{"user-agent":"test"}})
            );
        }
        for bad in [
            r#"{"rawJson":"text"}"#,
            r#"{"rawJson":null}"#,
            r#"{"raw_json":[1]}"#,
        ] {
            let e = run(bad, &inst).err().unwrap();
            assert!(
                e.message.contains("rawJson must be a JSON object"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn the_senders_own_headers_key_is_replaced_by_the_request_headers() {
        let inst = instance(None, false);
        let p = run(r#"{"a":1,"headers":{"x":"sender"}}"#, &inst).unwrap();
        assert_eq!(raw_json(&p), json!({"a":1,"headers":{"user-agent":"test"}}));
        let p = run(r#"{"rawJson":{"headers":null,"b":2}}"#, &inst).unwrap();
        assert_eq!(raw_json(&p), json!({"b":2,"headers":{"user-agent":"test"}}));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_serde_json_does() {
        let p = run(r#"{"name":"first","name":"last"}"#, &instance(None, false)).unwrap();
        assert_eq!(p.incident.name, "last");
    }

    #[test]
    fn an_unparseable_occurred_warns_and_uses_receive_time() {
        let p = run(r#"{"occurred":"next tuesday"}"#, &instance(None, false)).unwrap();
        assert_eq!(p.incident.occurred.and_utc().timestamp(), 1_700_000_000);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("next tuesday"));
        let p = run(r#"{"occurred":null}"#, &instance(None, false)).unwrap();
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn samples_keep_the_element_as_it_arrived() {
        let element = r#"{"rawJson": {"a":1}, "name":"n"}"#;
        let p = run(element, &instance(None, true)).unwrap();
        let sample = p.sample.unwrap();
        assert_eq!(sample.body, element);
        assert_eq!(sample.body_hash.len(), 64);
        assert!(run("{}", &instance(None, false)).unwrap().sample.is_none());
    }

    #[test]
    fn form_fields_take_the_value_path() {
        let ctx = RequestContext {
            instance: &instance(None, true),
            received: DateTime::from_timestamp(1_700_000_000, 0)
                .unwrap()
                .naive_utc(),
            headers: "{}",
        };
        let fields = json!({"name":"form"}).as_object().unwrap().clone();
        let p = prepare(0, Element::Form(fields), &ctx).unwrap().remove(0);
        assert_eq!(p.incident.name, "form");
        assert_eq!(p.sample.unwrap().body, r#"{"name":"form"}"#);
    }
}
