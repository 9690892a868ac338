//! The mapping editor: the preview follows the draft as it is typed, and what it shows is
//! what ingest then makes of the same payload.

use std::time::Duration;

use serde_json::json;

use crate::admin::wait_for_notice;
use crate::helpers::*;
use crate::*;

#[test]
fn the_preview_follows_the_draft_and_matches_what_ingest_then_stores() {
    let console = Console::start();
    console
        .env
        .add_instance("siem", "siem", "siem-secret", &["--store-samples"]);
    let payload = json!({
        "alert": {"title": "Brute force", "sev": "high", "at": "2026-05-01T10:00:00Z"},
        "host": "db-1"
    });
    let url = console.server.execute_url("siem");
    let deliver = || {
        let (status, answer) = post_json(&url, Some(("siem", "siem-secret")), &payload.to_string());
        assert_eq!(status, 200, "{answer}");
        answer[0]["id"].as_i64().expect("an incident id")
    };
    deliver();

    let browser = console.signed_in("root");
    browser.goto("/instances/siem/mapping");
    browser.fill("#name", "{{$.alert.title}} on {{$.host}}");
    browser.fill("#severity", "$.alert.sev");
    browser.fill("#labels", "host: $.host");
    browser.fill("#occurred", "$.alert.at");
    browser.wait_until(Duration::from_secs(10), "the preview", |b| {
        // The preview is replaced as it updates: `texts` rereads a replaced element.
        b.texts("#preview-summary")
            .first()
            .is_some_and(|t| t.starts_with("1 of 1 samples map fully"))
            && b.texts("#preview-rows td.labels") == ["host=db-1"]
    });
    let shown = |css: &str| browser.texts(&format!("#preview-rows {css}")).join("");
    let (name, severity, occurred) = (shown("td.name"), shown("td.severity"), shown("td.occurred"));
    assert_eq!(name, "Brute force on db-1");

    // A draft that does not compile is refused with the error by its field; nothing is saved.
    browser.fill("#type", "$.[");
    browser.wait_until(Duration::from_secs(10), "the preview's refusal", |b| {
        b.texts("#preview-summary")
            .first()
            .is_some_and(|t| t.contains("does not compile"))
    });
    browser.press("Save mapping");
    assert!(
        browser.text("#type-error").starts_with("type:"),
        "{}",
        browser.text("#type-error")
    );
    assert_eq!(browser.value("#name"), "{{$.alert.title}} on {{$.host}}");
    let stored = console.env.json(&["instance", "show", "siem", "--json"]);
    assert!(stored["mapping"].is_null(), "{stored}");

    browser.fill("#type", "");
    browser.press("Save mapping");
    wait_for_notice(&browser, "Mapping saved");
    let id = deliver();
    let incident = console.incident(id);
    assert_eq!(incident["name"], name.as_str());
    assert_eq!(incident["severity"], severity.as_str());
    assert_eq!(incident["occurred"], occurred.as_str());
    assert_eq!(incident["labels"]["host"], "db-1");
    assert!(console
        .server
        .log_text()
        .contains("console: root saved the mapping of instance siem"));
}
