//! Property tests: hostile input thrown at the code that reads what strangers send — body
//! classification and JSON/form parsing, the field rules with and without a mapping, mapping
//! documents and JSONPath evaluation, timestamps, signature and credential headers, the
//! incident filter and its cursors. Whatever the input, nothing panics, and what is accepted
//! is well-formed: a non-blank name, an `occurred` in the years 1-9999, `raw_json` an object.
//!
//! `PROPTEST_CASES` sets the cases per property (default 2000 here); docs/testing.md says how
//! to run them and how many ran.

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use chrono::{DateTime, Datelike};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::Value;
use sha2::Sha256;

use intake::auth::oauth::bearer_token;
use intake::auth::rules::basic_credentials;
use intake::auth::signature::{verify_any, SignatureRule, SignatureSpec};
use intake::auth::{presented_secrets, Rule};
use intake::config::IngestLimits;
use intake::incidents::filter::decode_cursor;
use intake::incidents::IncidentFilter;
use intake::ingest::body;
use intake::ingest::fields::{prepare, RequestContext};
use intake::instances::auth_settings::AuthSettings;
use intake::instances::InstanceConfig;
use intake::mapping::{Mapping, MappingDoc};
use intake::time::{parse_timestamp, rfc3339, sqlite_text};

/// The cases per property: `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

// ---- hostile pieces ----

/// Number literals that break naive parsers: out of f64 range, beyond i64/u64, subnormal.
fn nasty_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e999",
            "-1e999",
            "1e-999",
            "1E400",
            "-0",
            "0.0000000000000000000000000000000000001",
            "18446744073709551616",
            "-9223372036854775809",
            "9223372036854775807",
            "-9223372036854775808",
            "123456789012345678901234567890123456789012345678901234567890",
            "9007199254740993",
            "1.7976931348623157e308",
            "253402300800",
            "253402300800000",
            "-62135596801",
            "8000000000000000",
            "-8000000000000000",
        ])
        .prop_map(String::from),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
    ]
}

/// Timestamp texts: edge years, leap seconds, impossible dates, numeric strings, junk.
fn nasty_timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "+275760-09-13T00:00:00Z",
            "9999-12-31T23:59:60Z",
            "9999-12-31T23:59:59.999999999+00:00",
            "0000-01-01",
            "0001-01-01T00:00:00-23:59",
            "-0001-01-01T00:00:00Z",
            "262143-12-31T23:59:59Z",
            "+262144-01-01 00:00:00",
            "2024-02-30",
            "2024-13-01T00:00:00Z",
            "1e999",
            "-9223372036854775808",
            "9223372036854775807999",
            "--1",
            "1.5.5",
            "",
            "   ",
            "2024-03-05 10:20:30 UTC",
            "2024-03-05T10:20:30+99:99",
        ])
        .prop_map(String::from),
        "[0-9TZU:. +-]{0,32}",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// A JSON string literal of arbitrary text, or a broken escape.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,24}".prop_map(|s| Value::String(s).to_string()),
        1 => nasty_timestamp_text().prop_map(|s| Value::String(s).to_string()),
        1 => prop::sample::select(vec![r#""\ud800""#, r#""\u0000""#, r#""\uDFFF\uD800""#, "\"\\", "\"unterminated"])
            .prop_map(String::from),
    ]
}

/// Keys intake reads, and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "name", "type", "occurred", "rawJson", "raw_json", "headers", "alerts", "title", "a", "",
        ])
        .prop_map(|k| Value::String(k.into()).to_string()),
        1 => "\\PC{0,8}".prop_map(|s| Value::String(s).to_string()),
    ]
}

/// JSON-ish text: mostly valid documents of hostile values, sometimes not quite JSON.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        nasty_number(),
        json_string(),
        prop::sample::select(vec!["null", "true", "false", "{}", "[]"]).prop_map(String::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key(), inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A document nested `depth` levels deep, of arrays or of objects.
fn deep_text() -> impl Strategy<Value = String> {
    (1usize..700, any::<bool>()).prop_map(|(depth, arrays)| {
        if arrays {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}{}{}", r#"{"a":"#.repeat(depth), "1", "}".repeat(depth))
        }
    })
}

/// A request body: JSON-ish text, deep nesting, form fields, or bytes.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => json_text().prop_map(String::into_bytes),
        2 => json_text().prop_map(|t| format!("{{\"occurred\":{t},\"name\":{t}}}").into_bytes()),
        1 => deep_text().prop_map(String::into_bytes),
        1 => "([a-z%=&+]{0,8}(%[0-9A-Fa-f]{0,2})?){0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => (json_text(), 0usize..64).prop_map(|(t, cut)| {
            let mut b = t.into_bytes();
            b.truncate(b.len().saturating_sub(cut));
            b
        }),
    ]
}

/// JSONPath and template texts that stress the path parser and evaluator.
fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "", " ", "$", "$.", "$..", "$..*", "$[*]", "$.*", "$.title", "$.name", "$.occurred",
            "$.alerts", "$.alerts[*]", "$['name','type']", "$[0]", "$[-1]", "$[1:]", "$[:-1]",
            "$[::-1]", "$[1:2:-1]", "$[9223372036854775807]", "$[-9223372036854775808]",
            "$[99999999999999999999]", "$[?(@.a > 1e999)]", "$[?(@.a == 'x')]", "$[?(@ > 1)]",
            "$.a[?(@.b =~ '(a+)+$')]", "$parent", "$parent.title", "$parent..*", "{{", "}}",
            "{{}}", "{{$.title}}", "{{ $.title | plain | first_line | upper }}", "{{$.title|bogus}}",
            "x {{$.title}} y {{$.missing}}", "{{$parent.name}} on {{$.a}}", "NA", "literal",
        ])
        .prop_map(String::from),
        1 => "[$.\\[\\]*?@a-c0-9:'\"{}|() =<>~-]{0,24}",
        1 => "\\PC{0,12}",
    ]
}

/// A regex text for `matches`: valid, invalid, and heavy ones.
fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "(",
            "a+",
            "(a+)+$",
            "^resolved$",
            "\\p{L}+",
            "a{1000}",
            "[",
            "(?i)x"
        ])
        .prop_map(String::from),
        "[a-z()+*?\\[\\]^$|.]{0,12}",
    ]
}

fn target() -> impl Strategy<Value = Value> {
    prop_oneof![
        expression().prop_map(Value::String),
        prop::collection::vec(expression(), 0..3).prop_map(Value::from),
        (expression(), prop::collection::vec(expression(), 0..2), prop::option::of("\\PC{0,4}")).prop_map(
            |(value, fallbacks, default)| serde_json::json!({"value": value, "fallbacks": fallbacks, "default": default}),
        ),
    ]
}

/// A mapping document's text, sometimes with unknown fields or a preset base.
fn mapping_text() -> impl Strategy<Value = String> {
    (
        prop::option::of(target()),
        prop::option::of(target()),
        prop::option::of(target()),
        prop::option::of(target()),
        prop::option::of((expression(), pattern())),
        prop::option::of(expression()),
        prop::option::of(prop::sample::select(vec!["alertmanager", "grafana", "cato", "nope"])),
    )
        .prop_map(|(name, occurred, severity, label, classify, split, base)| {
            let mut doc = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    doc.insert(k.into(), v);
                }
            };
            put("name", name);
            put("occurred", occurred);
            put("severity", severity);
            put("labels", label.map(|l| serde_json::json!({"team": l})));
            put(
                "classify",
                classify.map(|(when, matches)| serde_json::json!([{"when": when, "matches": matches, "type": "T"}])),
            );
            put("split", split.map(Value::String));
            put("base", base.map(|b| Value::String(b.into())));
            Value::Object(doc).to_string()
        })
}

// ---- what is run ----

fn instance(mapping: Option<Arc<Mapping>>) -> InstanceConfig {
    InstanceConfig {
        id: 1,
        name: "prop".into(),
        incident_type: None,
        store_samples: true,
        sample_limit: 20,
        allow_anonymous: true,
        enabled: true,
        rules: vec![],
        mapping,
        secret_headers: vec![],
        ops: intake::ops::instance::InstanceOps::of(1, "prop"),
        auth: AuthSettings::defaults(1),
        signature_rules: vec![],
        rate_limiter: None,
    }
}

fn limits(max_depth: usize) -> IngestLimits {
    IngestLimits {
        max_depth,
        ..IngestLimits::default()
    }
}

/// Parses `bytes` as ingest does and prepares every element; checks what is accepted.
fn ingest(
    bytes: &[u8],
    content_type: Option<&str>,
    limits: &IngestLimits,
    instance: &InstanceConfig,
) {
    let Ok(elements) = body::parse(bytes, content_type, limits) else {
        return;
    };
    let received = DateTime::from_timestamp(1_700_000_000, 0)
        .unwrap()
        .naive_utc();
    let ctx = RequestContext {
        instance,
        received,
        headers: r#"{"user-agent":"proptest"}"#,
    };
    for (index, element) in elements.into_iter().enumerate() {
        let Ok(prepared) = prepare(index, element, &ctx) else {
            continue;
        };
        for p in prepared {
            let incident = &p.incident;
            assert!(
                !incident.name.trim().is_empty(),
                "a blank name from {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(
                (1..=9999).contains(&incident.occurred.year()),
                "occurred {:?} from {:?}",
                incident.occurred,
                String::from_utf8_lossy(bytes)
            );
            rfc3339(incident.occurred);
            sqlite_text(incident.occurred);
            let mut parser = serde_json::Deserializer::from_str(&incident.raw_json);
            parser.disable_recursion_limit();
            let raw: Result<serde_json::Map<String, Value>, _> =
                serde::Deserialize::deserialize(&mut parser);
            assert!(
                raw.is_ok(),
                "raw_json is not an object: {}",
                incident.raw_json
            );
        }
    }
}

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("application/cloudevents+json; charset=utf-8"),
];

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn hostile_bodies_never_panic_and_accepted_ones_are_well_formed(
        bytes in body_bytes(),
        content_type in prop::sample::select(CONTENT_TYPES.to_vec()),
        max_depth in prop::sample::select(vec![1usize, 16, 128, 512]),
    ) {
        ingest(&bytes, content_type, &limits(max_depth), &instance(None));
    }

    #[test]
    fn occurred_values_never_panic_and_parse_only_to_writable_years(
        text in nasty_timestamp_text(),
        number in nasty_number(),
    ) {
        for value in [Value::String(text.clone()), serde_json::from_str(&number).unwrap_or(Value::Null)] {
            if let Some(t) = parse_timestamp(&value) {
                prop_assert!((1..=9999).contains(&t.year()), "{value} parsed to {t:?}");
                rfc3339(t);
                sqlite_text(t);
            }
        }
        let body = format!(r#"{{"occurred":{}}}"#, Value::String(text));
        ingest(body.as_bytes(), None, &limits(128), &instance(None));
        let body = format!(r#"[{{"occurred":{number}}},{{"rawJson":{{"occurred":{number}}}}}]"#);
        ingest(body.as_bytes(), None, &limits(128), &instance(None));
    }

    #[test]
    fn hostile_mappings_compile_or_are_refused_and_never_panic_on_payloads(
        doc in mapping_text(),
        payloads in prop::collection::vec(json_text(), 1..4),
    ) {
        let Ok(mapping) = MappingDoc::parse(&doc).and_then(|d| d.compile()) else {
            return Ok(());
        };
        let instance = instance(Some(Arc::new(mapping)));
        for payload in payloads {
            ingest(payload.as_bytes(), None, &limits(128), &instance);
            let wrapped = format!(r#"{{"title":{payload},"alerts":[{payload},{{"a":{payload}}}]}}"#);
            ingest(wrapped.as_bytes(), None, &limits(128), &instance);
        }
    }
}

// ---- signatures and credential headers ----

const SCHEMES: [&str; 5] = [
    "github",
    "standard-webhooks",
    "stripe",
    "slack",
    "hmac-sha256",
];

fn hmac_bytes(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    map
}

/// The headers of a delivery of `body` correctly signed with `key` at timestamp `ts`.
fn signed(scheme: &str, key: &[u8], ts: &str, body: &[u8]) -> HeaderMap {
    match scheme {
        "github" => headers(&[(
            "x-hub-signature-256",
            format!("sha256={}", hex(&hmac_bytes(key, &[body]))),
        )]),
        "hmac-sha256" => headers(&[("x-signature", hex(&hmac_bytes(key, &[body])))]),
        "stripe" => {
            let v1 = hex(&hmac_bytes(key, &[ts.as_bytes(), b".", body]));
            headers(&[("stripe-signature", format!("t={ts},v1={v1}"))])
        }
        "slack" => {
            let v0 = hex(&hmac_bytes(key, &[b"v0:", ts.as_bytes(), b":", body]));
            headers(&[
                ("x-slack-request-timestamp", ts.to_string()),
                ("x-slack-signature", format!("v0={v0}")),
            ])
        }
        _ => {
            let mac = hmac_bytes(key, &[b"msg_1.", ts.as_bytes(), b".", body]);
            headers(&[
                ("webhook-id", "msg_1".to_string()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    format!(
                        "v1,{}",
                        base64::engine::general_purpose::STANDARD.encode(mac)
                    ),
                ),
            ])
        }
    }
}

/// Header values as senders (or attackers) might write them.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,64}",
        "(t=[0-9-]{0,22},)?(v[01]=[0-9a-f]{0,66},?){0,3}",
        "(v1,[A-Za-z0-9+/=]{0,48} ?){0,3}",
        "(sha256=|v0=)?[0-9a-fA-F]{0,70}",
        nasty_timestamp_text(),
    ]
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn correctly_signed_deliveries_pass_exactly_within_the_tolerance(
        scheme in prop::sample::select(SCHEMES.to_vec()),
        key in prop::collection::vec(any::<u8>(), 1..48),
        ts in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), nasty_timestamp_text()],
        now in prop_oneof![any::<i64>(), 0i64..4_000_000_000],
        tolerance in prop_oneof![1i64..=600, 1i64..=i64::from(i32::MAX)],
        body in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let secret = if scheme == "standard-webhooks" {
            format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key)).into_bytes()
        } else {
            key.clone()
        };
        let spec = SignatureSpec::new(scheme, None, &secret).unwrap();
        let rule = Arc::new(SignatureRule::new(1, &spec, &secret).unwrap());
        let verdict = verify_any(&[rule], &signed(scheme, &key, &ts, &body), &body, now, tolerance);
        let timed = !matches!(scheme, "github" | "hmac-sha256");
        let header_ts = ts.trim();
        let fresh = header_ts
            .parse::<i64>()
            .is_ok_and(|t| (i128::from(now) - i128::from(t)).abs() <= i128::from(tolerance));
        // Only timestamps a header carries as they are: no blank, no padding, no field separator.
        if HeaderValue::from_str(&ts).is_ok() && !ts.is_empty() && header_ts == ts && !ts.contains(',') {
            prop_assert_eq!(verdict.is_ok(), !timed || fresh, "{} at {} now {} ±{}", scheme, ts, now, tolerance);
        }
    }

    #[test]
    fn garbage_signature_headers_are_refused_without_panicking(
        scheme in prop::sample::select(SCHEMES.to_vec()),
        values in prop::collection::vec(header_text(), 4),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let spec = SignatureSpec::new(scheme, None, b"whsec_c2VjcmV0").unwrap();
        let rule = Arc::new(SignatureRule::new(1, &spec, b"whsec_c2VjcmV0").unwrap());
        let names = ["x-hub-signature-256", "x-signature", "stripe-signature", "x-slack-signature",
                     "x-slack-request-timestamp", "webhook-id", "webhook-timestamp", "webhook-signature"];
        let pairs: Vec<(&str, String)> = names.iter().zip(values.iter().cycle()).map(|(n, v)| (*n, v.clone())).collect();
        let _ = verify_any(&[rule], &headers(&pairs), &body, now, 300);
    }

    #[test]
    fn credential_headers_of_any_shape_never_panic(
        raw in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(b))),
            "(Basic|basic|Bearer|bearer|BASIC)?( {0,3})[ -~]{0,48}",
            prop::collection::vec(32u8..=255, 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        api_key in "[ -~]{0,32}",
    ) {
        let rules = vec![
            Rule::from_stored(1, "basic", "user", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into()).unwrap(),
            Rule::from_stored(2, "header", "x-api-key", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into()).unwrap(),
        ];
        let map = headers(&[("authorization", raw), ("x-api-key", api_key)]);
        let _ = basic_credentials(&map);
        let _ = bearer_token(&map);
        let _ = presented_secrets(&rules, &map);
    }

    #[test]
    fn incident_filters_and_cursors_of_any_text_never_panic(
        query in prop_oneof![
            "\\PC{0,64}",
            "((instance|type|status|severity|label|dedup_key|name_contains|q|occurred_after|occurred_before|created_after|created_before|limit|cursor|x)=[^&]{0,24}&?){0,6}",
        ],
        cursor in prop_oneof!["[A-Za-z0-9_-]{0,40}", any::<i64>().prop_map(intake::incidents::filter::encode_cursor)],
    ) {
        let _ = IncidentFilter::from_query_string(&query);
        let _ = decode_cursor(&cursor);
        let _ = IncidentFilter::from_query_string(&format!("cursor={cursor}&limit={query}"));
    }
}
