//! Mapping end to end: presets and custom mappings on the ingest path, validation when saved,
//! and testing a mapping against stored samples (CLI and API).

use serde_json::{json, Value};

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

#[test]
fn the_alertmanager_preset_splits_a_group_into_named_typed_dated_incidents() {
    let env = TestEnv::new();
    env.add_instance("am", "u", "p", &["--preset", "alertmanager"]);
    let server = env.serve_in_process(&[]);
    // Shape from the Alertmanager webhook documentation (version 4).
    let payload = json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighCPU\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "intake", "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "HighCPU", "instance": "db1:9100", "severity": "critical"},
             "annotations": {"summary": "CPU above 95% on db1"}, "startsAt": "2026-11-20T08:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "a1b2c3"},
            {"status": "firing", "labels": {"alertname": "HighCPU", "instance": "db2:9100", "severity": "warning"},
             "annotations": {"summary": "CPU above 90% on db2"}, "startsAt": "2026-11-20T08:01:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "d4e5f6"}
        ]
    });
    let (status, body) = post_json(&server.execute_url("am"), AUTH, &payload.to_string());
    assert_eq!(status, 200, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "HighCPU: CPU above 95% on db1");
    assert_eq!(items[0]["type"], "HighCPU");
    assert_eq!(items[1]["occurred"], "2026-11-20T08:01:00Z");
    let second = env.incident(items[1]["id"].as_i64().unwrap());
    assert_eq!(second["severity"], "medium");
    assert_eq!(second["dedup_key"], "d4e5f6");
    assert_eq!(second["labels"]["instance"], "db2:9100");
    assert_eq!(second["labels"]["receiver"], "intake");
    assert_eq!(second["raw_json"]["fingerprint"], "d4e5f6");
    assert_eq!(second["raw_json"]["parent"]["receiver"], "intake");
    assert!(second["raw_json"]["parent"].get("alerts").is_none());
    assert!(second["raw_json"]["headers"]["content-type"].is_string());
}

#[test]
fn the_github_preset_reads_the_event_and_delivery_headers() {
    let env = TestEnv::new();
    env.add_instance("gh", "_header:X-Hub-Token", "t", &["--preset", "github"]);
    let server = env.serve_in_process(&[]);
    // A code scanning alert, shape from GitHub's webhook documentation.
    let payload = json!({
        "action": "created",
        "alert": {"number": 42, "created_at": "2026-11-21T10:00:00Z", "html_url": "https://github.com/acme/api/security/code-scanning/42",
                  "rule": {"id": "js/sql-injection", "severity": "error", "security_severity_level": "critical",
                           "description": "Database query built from user-controlled sources"}},
        "repository": {"full_name": "acme/api"}, "sender": {"login": "octocat"}
    });
    let response = client()
        .post(server.execute_url("gh"))
        .header("X-Hub-Token", "t")
        .header("X-GitHub-Event", "code_scanning_alert")
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("Content-Type", "application/json")
        .body(payload.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let item = &response.json::<Value>().unwrap()[0];
    assert_eq!(
        item["name"],
        "acme/api: Database query built from user-controlled sources"
    );
    assert_eq!(item["type"], "code_scanning_alert");
    assert_eq!(item["occurred"], "2026-11-21T10:00:00Z");
    let stored = env.incident(item["id"].as_i64().unwrap());
    assert_eq!(stored["severity"], "critical");
    assert_eq!(stored["dedup_key"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(stored["labels"]["sender"], "octocat");
}

#[test]
fn a_custom_mapping_file_maps_and_classifies_and_bad_ones_are_refused() {
    let env = TestEnv::new();
    env.add_instance("cs", "u", "p", &["--incident-type", "Fallback"]);
    let file = env.path("connectsecure.json");
    std::fs::write(&file, json!({
        "name": "{{$.subject}} ({{$.company}})",
        "occurred": ["$.created", "$.time"],
        "classify": [{"when": "$.subject", "matches": "(?i)vulnerab", "type": "Vulnerability", "severity": "high"}],
        "labels": {"company": "$.company"}
    }).to_string()).unwrap();
    env.ok(
        &[
            "instance",
            "update",
            "cs",
            "--mapping-file",
            file.to_str().unwrap(),
        ],
        None,
    );
    let shown = env.json(&["instance", "show", "cs", "--json"]);
    assert_eq!(shown["mapping"]["labels"]["company"], "$.company");
    let server = env.serve_in_process(&[]);
    let (status, body) = post_json(
        &server.execute_url("cs"),
        AUTH,
        r#"[
        {"subject": "New vulnerabilities found", "company": "Acme", "created": 1763632800, "body": "3 critical"},
        {"subject": "Weekly report", "body": "all fine"}]"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["name"], "New vulnerabilities found (Acme)");
    assert_eq!(body[0]["type"], "Vulnerability");
    assert_eq!(body[0]["occurred"], "2025-11-20T10:00:00Z");
    // The template has no company for the second: nothing mapped, so XSOAR's defaults apply.
    assert_eq!(body[1]["name"], "Generic webhook triggered incident");
    assert_eq!(body[1]["type"], "Fallback");

    let bad = env.path("bad.json");
    for (doc, needle) in [
        (json!({"name": "$.subject["}), "name:"),
        (
            json!({"classify": [{"when": "$.s", "matches": "(", "type": "T"}]}),
            "classify[0].matches",
        ),
        (json!({"nmae": "$.x"}), "unknown field"),
    ] {
        std::fs::write(&bad, doc.to_string()).unwrap();
        let out = env.run(
            &[
                "instance",
                "update",
                "cs",
                "--mapping-file",
                bad.to_str().unwrap(),
            ],
            None,
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{doc}: expected '{needle}' in {err}");
    }
    let out = env.run(&["instance", "add", "x", "--preset", "splunk"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a preset"));
}

#[test]
fn a_mapping_is_tested_against_stored_samples_before_it_is_saved() {
    let env = TestEnv::new();
    env.add_instance("cato", "u", "p", &["--store-samples"]);
    let admin = env.api_token("admin");
    let server = env.serve_in_process(&[]);
    post_json(
        &server.execute_url("cato"),
        AUTH,
        r#"{"title": "Suspicious login", "time": "2026-11-20 08:00:00 UTC", "storyId": "s-1"}"#,
    );
    post_json(
        &server.execute_url("cato"),
        AUTH,
        r#"{"title": "Malware blocked", "time": "NA", "storyId": "NA"}"#,
    );
    post_json(
        &server.execute_url("cato"),
        AUTH,
        r#"{"message": "no title here"}"#,
    );
    let file = env.path("cato.json");
    std::fs::write(
        &file,
        json!({"name": "$.title", "occurred": "$.time", "dedup_key": "$.storyId"}).to_string(),
    )
    .unwrap();

    let report = env.json(&[
        "mapping",
        "test",
        "cato",
        "--mapping-file",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["samples"], 3);
    assert_eq!(report["fully_mapped"], 1, "{report}");
    let by_name: Vec<Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["incidents"][0]["name"].clone())
        .collect();
    assert!(
        by_name.contains(&json!("Malware blocked")) && by_name.contains(&json!(null)),
        "{report}"
    );
    assert!(env
        .ok(
            &[
                "mapping",
                "test",
                "cato",
                "--mapping-file",
                file.to_str().unwrap()
            ],
            None
        )
        .contains("1 of 3 samples mapped fully"));
    // Nothing was saved by testing.
    assert_eq!(
        env.json(&["instance", "show", "cato", "--json"])["mapping"],
        Value::Null
    );

    let response = client()
        .post(server.url("/api/v1/instances/cato/mapping/test"))
        .bearer_auth(&admin)
        .json(&json!({"mapping": {"name": "$.title", "occurred": "$.time"}}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().unwrap()["fully_mapped"], 1);
    let refused = client()
        .patch(server.url("/api/v1/instances/cato"))
        .bearer_auth(&admin)
        .json(&json!({"mapping": {"name": "$.title["}}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.json::<Value>().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("mapping.name"));
    let saved = client()
        .patch(server.url("/api/v1/instances/cato"))
        .bearer_auth(&admin)
        .json(&json!({"preset": "cato"}))
        .send()
        .unwrap();
    assert_eq!(saved.json::<Value>().unwrap()["preset"], "cato");
    let (_, body) = post_json(
        &server.execute_url("cato"),
        AUTH,
        r#"{"title": "Now mapped", "time": "2026-11-21T00:00:00Z"}"#,
    );
    assert_eq!(
        (body[0]["name"].as_str(), body[0]["occurred"].as_str()),
        (Some("Now mapped"), Some("2026-11-21T00:00:00Z"))
    );
}
