//! `intake db copy`: an SQLite deployment moves to the database under test (PostgreSQL in the
//! PostgreSQL pass, another SQLite file otherwise) with every id and timestamp, resumes, and
//! the target then serves the same senders.

use serde_json::{json, Value};

use crate::helpers::*;

fn copy(from: &TestEnv, to: &TestEnv) -> String {
    from.ok(
        &["db", "copy", "--from", &from.db_url, "--to", &to.db_url],
        None,
    )
}

/// The "copied" column of a table in the report.
fn copied(report: &str, table: &str) -> i64 {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no {table} line in:\n{report}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn db_copy_moves_everything_keeps_ids_resumes_and_the_target_serves() {
    let source = TestEnv::sqlite();
    source.add_instance(
        "cato",
        "cma",
        "pw-cato",
        &[
            "--store-samples",
            "--token-ttl",
            "900",
            "--rate-limit",
            "50",
        ],
    );
    source.add_instance(
        "grafana",
        "_header:X-Key",
        "k-123",
        &["--preset", "grafana"],
    );
    source.ok(
        &["token", "create", "--role", "analyst", "--name", "soc"],
        None,
    );
    let server = source.serve_in_process(&[]);
    let events: Vec<Value> = (0..30)
        .map(|n| json!({"name": format!("event {n}")}))
        .collect();
    let (status, _) = post_json(
        &server.execute_url("cato"),
        Some(("cma", "pw-cato")),
        &Value::Array(events).to_string(),
    );
    assert_eq!(status, 200);
    // Two deliveries with one dedup key: one incident with an event history.
    let alert = |state: &str| {
        json!({"status": state, "alerts": [{"status": state, "labels": {"alertname": "DiskFull"},
               "fingerprint": "fp1", "annotations": {"summary": "Disk full"}}]})
        .to_string()
    };
    for body in [
        alert("firing"),
        alert("firing").replace("Disk full", "Disk still full"),
    ] {
        let status = client()
            .post(server.execute_url("grafana"))
            .header("X-Key", "k-123")
            .body(body)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let before = source.json(&["incidents", "list", "--json", "--limit", "1000"]);

    let target = TestEnv::new();
    let report = copy(&source, &target);
    assert!(report.contains("every table verified"), "{report}");
    assert_eq!(copied(&report, "incidents"), 31, "{report}");
    assert_eq!(copied(&report, "instances"), 2, "{report}");
    assert_eq!(copied(&report, "credentials"), 2, "{report}");
    assert_eq!(copied(&report, "api_tokens"), 1, "{report}");
    assert_eq!(copied(&report, "instance_auth"), 1, "{report}");
    let settings = target.json(&["instance", "show", "cato", "--json"]);
    assert_eq!(
        (
            settings["token_ttl"].as_i64(),
            settings["rate_limit"].as_f64()
        ),
        (Some(900), Some(50.0))
    );
    assert_eq!(
        copied(&report, "samples"),
        20,
        "sample_limit 20 kept: {report}"
    );
    assert!(copied(&report, "incident_events") >= 2, "{report}");

    // Same ids, same timestamps, same fields; raw JSON and history intact.
    assert_eq!(
        target.json(&["incidents", "list", "--json", "--limit", "1000"]),
        before
    );
    let deduped = before.as_array().unwrap()[0]["id"].as_i64().unwrap();
    assert_eq!(source.incident(deduped), target.incident(deduped));
    let history = |env: &TestEnv| {
        env.json(&[
            "incidents",
            "show",
            &deduped.to_string(),
            "--events",
            "--json",
        ])
    };
    assert_eq!(history(&source), history(&target));
    assert_eq!(
        source.json(&["instance", "list", "--json"]),
        target.json(&["instance", "list", "--json"])
    );

    // Resumable: a second run copies only what arrived since.
    let (status, _) = post_json(
        &server.execute_url("cato"),
        Some(("cma", "pw-cato")),
        r#"[{"name":"late 1"},{"name":"late 2"}]"#,
    );
    assert_eq!(status, 200);
    let report = copy(&source, &target);
    assert_eq!(copied(&report, "incidents"), 2, "{report}");
    assert_eq!(copied(&report, "instances"), 0, "{report}");
    assert!(report.contains("every table verified"), "{report}");
    assert_eq!(
        source.json(&["samples", "cato", "--json"]),
        target.json(&["samples", "cato", "--json"]),
        "the sample window moved on the source and must match"
    );
    drop(server);

    // The target serves the same senders with the same secrets, and new ids follow the old.
    let moved = target.serve_in_process(&[]);
    let (status, body) = post_json(
        &moved.execute_url("cato"),
        Some(("cma", "pw-cato")),
        r#"{"name":"after the move"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let newest = source.all_incident_ids()[0];
    assert!(body[0]["id"].as_i64().unwrap() > newest, "{body}");
}

#[test]
fn db_copy_refuses_a_target_with_other_instances() {
    let source = TestEnv::sqlite();
    source.add_instance("ours", "u", "p", &[]);
    let target = TestEnv::new();
    target.add_instance("theirs", "u", "p", &[]);
    let out = source.run(
        &[
            "db",
            "copy",
            "--from",
            &source.db_url,
            "--to",
            &target.db_url,
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'theirs'"), "{stderr}");
    assert_eq!(
        target.json(&["instance", "list", "--json"])[0]["name"],
        "theirs"
    );
}
