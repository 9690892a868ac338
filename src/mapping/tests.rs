//! Table-driven tests of the pure mapping functions.

use serde_json::{json, Map, Value};

use super::*;

fn compile(doc: Value) -> Mapping {
    MappingDoc::parse(&doc.to_string())
        .and_then(|d| d.compile())
        .unwrap_or_else(|e| panic!("{doc} did not compile: {e}"))
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn one(mapping: &Mapping, payload: Value) -> Mapped {
    let mut parts = mapping.apply(&object(payload)).unwrap();
    assert_eq!(parts.len(), 1);
    parts.remove(0).mapped
}

#[test]
fn each_target_kind_yields_its_value() {
    let payload = json!({"subject": "Disk full", "asset": {"ip": "10.0.0.5", "port": 22}, "n": 7,
                         "list": ["a", "b"]});
    let cases = [
        (json!("$.subject"), Some("Disk full")),
        (json!("$.asset.port"), Some("22")),
        (json!("$.list[1]"), Some("b")),
        (json!("$['asset']['ip']"), Some("10.0.0.5")),
        (json!("A literal"), Some("A literal")),
        (
            json!("{{$.subject}} on {{$.asset.ip}}:{{$.asset.port}}"),
            Some("Disk full on 10.0.0.5:22"),
        ),
        (json!("$.missing"), None),
        (json!("{{$.subject}} on {{$.missing}}"), None),
        (
            json!(["$.missing", "{{$.subject}} on {{$.missing}}", "$.subject"]),
            Some("Disk full"),
        ),
        (
            json!({"value": "$.missing", "fallbacks": ["$.nothing"], "default": "Fallback"}),
            Some("Fallback"),
        ),
        (json!({"value": "$.missing"}), None),
    ];
    for (target, expected) in cases {
        let mapping = compile(json!({"name": target}));
        assert_eq!(
            one(&mapping, payload.clone()).name.as_deref(),
            expected,
            "{target}"
        );
    }
}

#[test]
fn values_that_mean_nothing_count_as_missing() {
    let mapping = compile(json!({"name": ["$.title", "$.alt"], "dedup_key": "$.story"}));
    for title in [
        json!(null),
        json!(""),
        json!("  "),
        json!("NA"),
        json!("N/A"),
        json!([]),
    ] {
        let mapped = one(
            &mapping,
            json!({"title": title, "alt": "used", "story": "NA"}),
        );
        assert_eq!(mapped.name.as_deref(), Some("used"), "title {title}");
        assert_eq!(mapped.dedup_key, None);
    }
}

#[test]
fn occurred_keeps_the_raw_value_for_the_timestamp_rules() {
    let mapping = compile(json!({"occurred": ["$.when", "$.epoch"]}));
    assert_eq!(
        one(&mapping, json!({"epoch": 1709634030})).occurred,
        Some(json!(1709634030))
    );
    assert_eq!(
        one(&mapping, json!({"when": "2024-03-05 10:20:30 UTC"})).occurred,
        Some(json!("2024-03-05 10:20:30 UTC"))
    );
}

#[test]
fn classify_sets_type_and_severity_unless_a_target_did() {
    let mapping = compile(json!({
        "classify": [
            {"when": "$.subject", "matches": "(?i)vulnerab", "type": "Vulnerability", "severity": "high"},
            {"when": "$.subject", "matches": "(?i)agent offline", "type": "Agent Health"},
            {"when": "$.subject", "matches": ".*", "type": "ConnectSecure", "severity": "info"}
        ]
    }));
    let cases = [
        ("New Vulnerabilities found", "Vulnerability", "high"),
        ("Agent offline: host1", "Agent Health", "info"),
        ("Weekly report", "ConnectSecure", "info"),
    ];
    for (subject, type_, severity) in cases {
        let mapped = one(&mapping, json!({"subject": subject}));
        assert_eq!(
            (mapped.type_.as_deref(), mapped.severity.as_deref()),
            (Some(type_), Some(severity)),
            "{subject}"
        );
    }
    let mapping = compile(
        json!({"type": "$.kind", "classify": [{"when": "$.s", "matches": "x", "type": "Classified"}]}),
    );
    assert_eq!(
        one(&mapping, json!({"kind": "Own", "s": "x"}))
            .type_
            .as_deref(),
        Some("Own")
    );
}

#[test]
fn severity_is_normalised_through_the_table() {
    let mapping =
        compile(json!({"severity": "$.level", "severity_map": {"Warning": "medium", "1": "low"}}));
    for (level, expected) in [
        (json!("warning"), "medium"),
        (json!("WARNING"), "medium"),
        (json!(1), "low"),
        (json!("high"), "high"),
    ] {
        assert_eq!(
            one(&mapping, json!({"level": level})).severity.as_deref(),
            Some(expected),
            "{level}"
        );
    }
}

#[test]
fn split_makes_one_part_per_element_with_the_parent_reachable() {
    let mapping = compile(json!({
        "split": "$.alerts",
        "name": "{{$.labels.alertname}} ({{$parent.receiver}})",
        "labels": {"group": "$parent.groupKey"}
    }));
    let payload = json!({"receiver": "team", "groupKey": "g1",
                         "alerts": [{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}]});
    let parts = mapping.apply(&object(payload)).unwrap();
    let names: Vec<_> = parts
        .iter()
        .map(|p| p.mapped.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["A (team)", "B (team)"]);
    assert_eq!(parts[0].mapped.labels["group"], "g1");
    assert_eq!(
        Value::Object(parts[1].raw.clone()),
        json!({"labels": {"alertname": "B"}, "parent": {"receiver": "team", "groupKey": "g1"}})
    );
    assert!(mapping.apply(&object(json!({"alerts": "no"}))).is_err());
    assert!(mapping.apply(&object(json!({}))).is_err());
}

#[test]
fn invalid_documents_are_refused_naming_the_field() {
    let cases = [
        (json!({"name": "$.a["}), "name:"),
        (json!({"labels": {"host": "{{$.a"}}), "labels.host:"),
        (json!({"type": "{{subject}}"}), "type:"),
        (
            json!({"classify": [{"when": "$.s", "matches": "(", "type": "T"}]}),
            "classify[0].matches:",
        ),
        (
            json!({"classify": [{"when": "$.s", "matches": "x"}]}),
            "classify[0]:",
        ),
        (json!({"severity_map": {"1": "urgent"}}), "severity_map.1:"),
        (json!({"split": "alerts"}), "split:"),
        (json!({"base": "nobody"}), "base:"),
        (json!({"name": []}), "name:"),
        (json!({"nmae": "$.x"}), "unknown field `nmae`"),
    ];
    for (doc, needle) in cases {
        let error = MappingDoc::parse(&doc.to_string())
            .and_then(|d| d.compile())
            .unwrap_err();
        assert!(
            error.contains(needle),
            "{doc}: expected '{needle}' in '{error}'"
        );
    }
}

#[test]
fn a_custom_mapping_can_start_from_a_preset() {
    let mapping = compile(
        json!({"base": "alertmanager", "name": "$.annotations.description", "labels": {"team": "$.labels.team"}}),
    );
    let payload = json!({"alerts": [{"labels": {"alertname": "HighCPU", "team": "ops", "severity": "warning"},
                                     "annotations": {"description": "CPU above 90%"},
                                     "fingerprint": "f1", "startsAt": "2024-01-01T00:00:00Z"}]});
    let mapped = one(&mapping, payload);
    assert_eq!(mapped.name.as_deref(), Some("CPU above 90%"));
    assert_eq!(
        mapped.type_.as_deref(),
        Some("HighCPU"),
        "kept from the preset"
    );
    assert_eq!(mapped.severity.as_deref(), Some("medium"));
    assert_eq!(mapped.labels["team"], "ops");
    assert_eq!(mapped.dedup_key.as_deref(), Some("f1"));
}

#[test]
fn every_preset_compiles() {
    for name in PRESETS {
        let doc = preset(name).unwrap_or_else(|| panic!("preset {name} does not parse"));
        doc.compile()
            .unwrap_or_else(|e| panic!("preset {name}: {e}"));
    }
}

#[test]
fn template_filters_take_the_first_line_and_strip_markup() {
    let mapping =
        compile(json!({"name": "{{$.text | first_line | plain}}", "type": "{{$.kind | upper}}"}));
    let cases = [
        (
            "*:rotating_light: Malware detected on host-7*\nDetails: ...",
            "Malware detected on host-7",
        ),
        (
            "\n\n**Ransomware** on <https://cado.example/inv/1|host-9>\nmore",
            "Ransomware on host-9",
        ),
        (
            "# [Suspicious login](https://x.example) for `alice`",
            "Suspicious login for alice",
        ),
        ("_Disk full_ on db_primary", "Disk full on db_primary"),
    ];
    for (text, expected) in cases {
        let mapped = one(&mapping, json!({"text": text, "kind": "alert"}));
        assert_eq!(mapped.name.as_deref(), Some(expected), "{text:?}");
        assert_eq!(mapped.type_.as_deref(), Some("ALERT"));
    }
    assert_eq!(
        one(&mapping, json!({"text": "  \n  "})).name,
        None,
        "blank after filters is no value"
    );
    let error = MappingDoc::parse(r#"{"name": "{{$.text | shout}}"}"#)
        .unwrap()
        .compile()
        .unwrap_err();
    assert!(error.contains("'shout' is not a filter"), "{error}");
}

fn preset_mapping(name: &str) -> Mapping {
    preset(name).unwrap().compile().unwrap()
}

#[test]
fn the_cato_preset_copes_with_each_cato_template() {
    let cato = preset_mapping("cato");
    // Basic / All fields template, correlated XOps story.
    let basic = one(
        &cato,
        json!({
            "accountId": "1234", "accountName": "Acme", "title": "Suspicious Activity Detected",
            "subject": "Cato Networks - Security Alert", "alertType": "Threat Prevention",
            "alertContent": "IPS blocked ...", "time": "2026-11-20 08:00:00", "storyId": "st-99", "criticality": 8
        }),
    );
    assert_eq!(basic.name.as_deref(), Some("Suspicious Activity Detected"));
    assert_eq!(basic.type_.as_deref(), Some("Threat Prevention"));
    assert_eq!(basic.occurred, Some(json!("2026-11-20 08:00:00")));
    assert_eq!(
        (basic.severity.as_deref(), basic.dedup_key.as_deref()),
        (Some("high"), Some("st-99"))
    );
    assert_eq!(basic.labels["account"], "Acme");
    // Fields Cato does not have for an alert are NA: the fallbacks and defaults apply.
    let sparse = one(
        &cato,
        json!({"title": "NA", "subject": "Link down at site HQ", "alertType": "NA", "time": "NA", "storyId": "NA"}),
    );
    assert_eq!(sparse.name.as_deref(), Some("Link down at site HQ"));
    assert_eq!(sparse.type_.as_deref(), Some("Cato alert"));
    assert_eq!((sparse.occurred, sparse.dedup_key), (None, None));
    // ServiceNow, Jira, Zendesk and Slack templates.
    for (payload, expected) in [
        (
            json!({"short_description": "Acme - Site HQ disconnected", "work_notes": "..."}),
            "Acme - Site HQ disconnected",
        ),
        (
            json!({"fields": {"project": {"key": "SEC"}, "summary": "Acme - Malware blocked", "description": "..."}}),
            "Acme - Malware blocked",
        ),
        (
            json!({"ticket": {"subject": "Acme - License updated", "comment": {"body": "..."}}}),
            "Acme - License updated",
        ),
        (
            json!({"text": "*Acme - Admin locked*\nAdmin bob was locked after 6 failed logins"}),
            "Acme - Admin locked",
        ),
    ] {
        assert_eq!(
            one(&cato, payload.clone()).name.as_deref(),
            Some(expected),
            "{payload}"
        );
    }
}

#[test]
fn the_cado_preset_reads_its_webhook_and_chat_formats() {
    let cado = preset_mapping("cado");
    assert_eq!(
        one(&cado, json!({"title": "New investigation: host-7", "message": "Cado found 3 suspicious files"})).name.as_deref(),
        Some("New investigation: host-7")
    );
    let slack = one(
        &cado,
        json!({"text": "*Cado Response: Investigation complete for <https://cado.example/p/1|web-01>*\nSeverity: High"}),
    );
    assert_eq!(
        slack.name.as_deref(),
        Some("Cado Response: Investigation complete for web-01")
    );
    let teams = one(
        &cado,
        json!({"@type": "MessageCard", "text": "**Evidence acquired** from i-0abc\n\nDetails follow"}),
    );
    assert_eq!(teams.name.as_deref(), Some("Evidence acquired from i-0abc"));
}

#[test]
fn the_cii_preset_unwraps_the_eventbridge_envelope() {
    let cii = preset_mapping("cii");
    let mapped = one(
        &cii,
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Identity Intelligence Check",
            "source": "cisco.identity-intelligence", "account": "111122223333", "time": "2026-11-20T08:05:00Z",
            "region": "us-east-1", "resources": [],
            "detail": {"id": "chk-42", "title": "MFA bypass attempts for admin accounts", "published": "2026-11-20T08:04:12Z",
                       "severity": "High"}
        }),
    );
    assert_eq!(
        mapped.name.as_deref(),
        Some("MFA bypass attempts for admin accounts")
    );
    assert_eq!(mapped.type_.as_deref(), Some("Identity Intelligence Check"));
    assert_eq!(mapped.occurred, Some(json!("2026-11-20T08:04:12Z")));
    assert_eq!(
        (mapped.severity.as_deref(), mapped.dedup_key.as_deref()),
        (Some("high"), Some("chk-42"))
    );
}

#[test]
fn the_connectsecure_preset_names_and_routes_by_subject() {
    let cs = preset_mapping("connectsecure");
    for (subject, type_, severity) in [
        (
            "New Vulnerabilities Detected - Acme Corp",
            "Vulnerability",
            "high",
        ),
        (
            "Critical: CVE-2024-3400 found on 4 assets",
            "Vulnerability",
            "critical",
        ),
        ("Agent Offline: FINANCE-PC-12", "Agent Health", "medium"),
        ("Compliance report ready", "Compliance", "medium"),
        ("Scan completed", "ConnectSecure", "info"),
    ] {
        let mapped = one(&cs, json!({"subject": subject, "body": "<p>Details</p>"}));
        assert_eq!(mapped.name.as_deref(), Some(subject));
        assert_eq!(
            (mapped.type_.as_deref(), mapped.severity.as_deref()),
            (Some(type_), Some(severity)),
            "{subject}"
        );
    }
}

#[test]
fn the_grafana_preset_maps_a_unified_alerting_notification() {
    let grafana = preset_mapping("grafana");
    // Shape from Grafana's webhook notifier documentation.
    let payload = json!({
        "receiver": "intake", "status": "firing", "orgId": 1, "groupKey": "{}:{alertname=\"DiskFull\"}",
        "title": "[FIRING:1] DiskFull (db)", "state": "alerting", "message": "**Firing** ...",
        "alerts": [{"status": "firing",
                    "labels": {"alertname": "DiskFull", "grafana_folder": "Infra", "severity": "critical"},
                    "annotations": {"summary": "Disk 95% full on db1"},
                    "startsAt": "2026-11-20T07:59:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": "57c6d9296de2ad39", "dashboardURL": "https://grafana.example/d/x",
                    "panelURL": "https://grafana.example/d/x?viewPanel=2", "valueString": "[ var='B' value=95.2 ]"}]
    });
    let mapped = one(&grafana, payload);
    assert_eq!(
        mapped.name.as_deref(),
        Some("DiskFull: Disk 95% full on db1")
    );
    assert_eq!(mapped.type_.as_deref(), Some("DiskFull"));
    assert_eq!(mapped.occurred, Some(json!("2026-11-20T07:59:00Z")));
    assert_eq!(
        (mapped.severity.as_deref(), mapped.dedup_key.as_deref()),
        (Some("critical"), Some("57c6d9296de2ad39"))
    );
    assert_eq!(mapped.labels["folder"], "Infra");
}

#[test]
fn blank_literals_and_defaults_name_nothing() {
    let mapping = compile(json!({
        "name": ["", "  ", "$.title"],
        "type": {"value": "$.missing", "default": " "},
        "labels": {"team": ""}
    }));
    let mapped = one(&mapping, json!({"title": "used"}));
    assert_eq!(mapped.name.as_deref(), Some("used"));
    assert_eq!(mapped.type_, None);
    assert!(mapped.labels.is_empty(), "{:?}", mapped.labels);
    let only_blank = compile(json!({"name": "", "severity": {"value": "$.x", "default": ""}}));
    let mapped = one(&only_blank, json!({}));
    assert_eq!((mapped.name, mapped.severity), (None, None));
}
