//! One incident's page: fields, labels, occurrences, raw_json, deliveries, status changes.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::*;

fn alert(description: &str) -> serde_json::Value {
    json!({
        "receiver": "intake",
        "status": "firing",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HostDown", "severity": "critical", "instance": "db-1:9100"},
            "annotations": {"summary": "db-1 is unreachable", "description": description},
            "startsAt": "2026-05-01T10:00:00Z",
            "fingerprint": "f00d"
        }]
    })
}

#[test]
fn the_incident_page_shows_fields_labels_occurrences_raw_json_and_every_delivery() {
    let console = Console::start();
    console
        .env
        .add_instance("am", "am", "am-secret", &["--preset", "alertmanager"]);
    let url = console.server.execute_url("am");
    for description in ["no answer for 5 minutes", "no answer for 10 minutes"] {
        let (code, answer) = post_json(
            &url,
            Some(("am", "am-secret")),
            &alert(description).to_string(),
        );
        assert_eq!(code, 200, "{answer}");
    }
    let id = console.env.all_incident_ids()[0];
    let browser = console.signed_in("ana");
    browser.follow("HostDown: db-1 is unreachable");
    browser.wait_for_path(&format!("/incidents/{id}"));

    assert_eq!(browser.text("h1"), "HostDown: db-1 is unreachable");
    let fields: Vec<(String, String)> = browser
        .texts("dl.fields dt")
        .into_iter()
        .zip(browser.texts("dl.fields dd"))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
    };
    assert_eq!(field("Instance"), "am");
    assert_eq!(field("Type"), "HostDown");
    assert_eq!(field("Severity"), "critical");
    assert_eq!(field("Occurrences"), "2");
    assert_eq!(field("Dedup key"), "f00d");
    let labels = field("Labels");
    assert!(labels.contains("db-1:9100"), "labels: {labels}");

    // The delivery headers as stored: the sender's credential is not among them.
    let headers: Vec<String> = browser.texts("dl.headers dt");
    assert!(headers.iter().any(|h| h == "content-type"), "{headers:?}");
    assert!(!headers.iter().any(|h| h == "authorization"), "{headers:?}");

    let raw = browser.text("#raw-json");
    let parsed: serde_json::Value = serde_json::from_str(&raw).expect("raw_json is JSON");
    assert_eq!(parsed["labels"]["alertname"], "HostDown");
    assert!(raw.contains("\n  "), "raw_json is pretty-printed: {raw}");
    let history = browser.text("section.history h2");
    assert_eq!(history.to_lowercase(), "deliveries (2)", "{history}");
    assert_eq!(browser.all("ol.events li").len(), 2);
}

#[test]
fn acknowledge_resolve_and_reopen_from_the_incident_page_reach_the_api() {
    let console = Console::start();
    let id = console.send(json!({"name": "Suspicious login"}))[0]["id"]
        .as_i64()
        .unwrap();
    let browser = console.signed_in("ana");
    browser.goto(&format!("/incidents/{id}"));

    for (button, status) in [
        ("Acknowledge", "acknowledged"),
        ("Resolve", "resolved"),
        ("Reopen", "open"),
    ] {
        browser.press(button);
        browser.wait_until(Duration::from_secs(10), "the status badge", |b| {
            b.all(".incident-head .status").len() == 1 && b.text(".incident-head .status") == status
        });
        assert_eq!(console.incident(id)["status"], status);
        assert!(
            browser.all(".notice").len() == 1,
            "a notice says what changed"
        );
    }
}

#[test]
fn a_reopen_the_api_refuses_shows_its_reason_and_changes_nothing() {
    let console = Console::start();
    console
        .env
        .add_instance("am", "am", "am-secret", &["--preset", "alertmanager"]);
    let url = console.server.execute_url("am");
    let deliver = || {
        let body = alert("no answer").to_string();
        let (code, answer) = post_json(&url, Some(("am", "am-secret")), &body);
        assert_eq!(code, 200, "{answer}");
        answer[0]["id"].as_i64().expect("id")
    };
    let first = deliver();
    console.env.ok(
        &[
            "incidents",
            "update",
            &first.to_string(),
            "--status",
            "resolved",
        ],
        None,
    );
    let second = deliver();
    assert_ne!(first, second, "a resolved incident is not correlated into");
    assert_eq!(console.incident(second)["status"], "open");

    let browser = console.signed_in("ana");
    browser.goto(&format!("/incidents/{first}"));
    browser.press("Reopen");
    browser.wait_until(Duration::from_secs(10), "the refusal", |b| {
        b.all(".notice.error").len() == 1
    });
    let refusal = browser.text(".notice.error");
    assert!(refusal.contains("another open incident"), "{refusal}");
    assert_eq!(console.incident(first)["status"], "resolved");
}
