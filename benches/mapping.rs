//! Cost of applying a compiled mapping: a ~1 KB payload, six targets (name template, type
//! with fallback, occurred, severity through the table, dedup_key, one label) plus classify.
//! `cargo bench --bench mapping`; the figure is noted in docs/decisions.md.

use criterion::{criterion_group, criterion_main, Criterion};
use intake::mapping::MappingDoc;
use serde_json::json;

fn six_targets(c: &mut Criterion) {
    let doc = MappingDoc::parse(
        &json!({
            "name": "{{$.subject}} on {{$.asset.host}}",
            "type": ["$.category", "$.kind"],
            "occurred": "$.created",
            "severity": "$.level",
            "severity_map": {"sev1": "critical", "sev2": "high", "sev3": "medium"},
            "dedup_key": "$.id",
            "labels": {"company": "$.company.name"},
            "classify": [{"when": "$.subject", "matches": "(?i)vulnerab", "type": "Vulnerability"}]
        })
        .to_string(),
    )
    .expect("mapping parses");
    let mapping = doc.compile().expect("mapping compiles");
    let payload = json!({
        "id": "evt-7d1c2e", "subject": "New vulnerabilities found", "kind": "scan",
        "created": "2026-11-20T08:00:00Z", "level": "sev2",
        "company": {"name": "Acme Corp", "id": 1234},
        "asset": {"host": "db1.example.net", "ip": "10.1.2.3", "os": "Debian 12"},
        "body": "x".repeat(700),
        "headers": {"content-type": "application/json", "user-agent": "ConnectSecure/1.0"}
    });
    let object = payload.as_object().expect("object").clone();
    assert!(object.len() > 5 && payload.to_string().len() > 1000);
    c.bench_function("mapping: 1 KB payload, 6 targets + classify", |b| {
        b.iter(|| mapping.apply(std::hint::black_box(&object)).expect("maps"))
    });
}

criterion_group!(benches, six_targets);
criterion_main!(benches);
