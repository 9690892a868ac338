//! Instances and their credentials in the admin pages, checked the way an admin would: the
//! forms, then a real delivery to the real server.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::admin::page_source;
use crate::browser::Browser;
use crate::helpers::*;
use crate::*;

/// Fills the new-instance form with a name and presses "Create instance".
fn create_instance(browser: &Browser, name: &str) {
    browser.goto("/instances");
    browser.follow("New instance");
    browser.wait_for_path("/instances/new");
    browser.fill("#name", name);
    browser.press("Create instance");
    browser.wait_for_path(&format!("/instances/{name}"));
}

/// Posts a test event with a header credential.
fn post_with_header(url: &str, header: &str, value: &str) -> (u16, serde_json::Value) {
    let response = client()
        .post(url)
        .header("Content-Type", "application/json")
        .header(header, value)
        .body(r#"{"name":"Delivered with a generated secret"}"#)
        .send()
        .expect("delivery");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or_default())
}

#[test]
fn an_admin_creates_an_instance_adds_a_basic_credential_and_a_sender_delivers_with_it_at_once() {
    let console = Console::start();
    let browser = console.signed_in("root");
    create_instance(&browser, "cato");
    assert_eq!(browser.text("h1"), "cato");
    let webhook = browser.text("code.url[data-kind=webhook][data-scheme=http]");
    assert_eq!(webhook, console.server.execute_url("cato"));
    assert_eq!(
        browser.text("code.url[data-kind=token][data-scheme=http]"),
        console.server.url("/instance/token/cato")
    );
    assert!(browser.text("main").contains("no credential yet"));

    browser.fill("#username", "cato-sender");
    browser.fill("#secret", "typed-secret-that-is-long");
    browser.press("Add Basic credential");
    browser.wait_until(Duration::from_secs(10), "the notice", |b| {
        b.texts("[role=status]")
            .iter()
            .any(|t| t == "Added the Basic credential 'cato-sender'. It works from the next delivery; its secret is not shown again.")
    });
    let added = Instant::now();
    let (status, answer) = post_json(
        &webhook,
        Some(("cato-sender", "typed-secret-that-is-long")),
        &json!({"name": "First event from Cato"}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(added.elapsed() < Duration::from_secs(1));

    // The typed secret is never shown back; the credential is listed by its username.
    assert!(!page_source(&browser).contains("typed-secret-that-is-long"));
    assert_eq!(browser.texts("#credential-rows td.who"), ["cato-sender"]);
    // The ready curl names it, with a placeholder for the password.
    assert!(browser
        .text("#test-curl")
        .contains("-u 'cato-sender:PASSWORD'"));

    // The list shows the instance with its credential and its last accepted delivery.
    browser.goto("/instances");
    let row = "#instances tr[data-name=cato]";
    assert_eq!(browser.text(&format!("{row} td.enabled")), "enabled");
    assert_eq!(browser.text(&format!("{row} td.credentials")), "1");
    browser.wait_until(Duration::from_secs(10), "the last delivery", |b| {
        b.goto("/instances");
        b.text(&format!("{row} td.last")) != "never"
    });
    let log = console.server.log_text();
    assert!(log.contains("console: root created instance cato"), "{log}");
    assert!(log.contains("console: root added the Basic credential 'cato-sender'"));
    assert!(!log.contains("typed-secret-that-is-long"));
}

#[test]
fn a_generated_secret_is_shown_once_with_a_curl_that_works_and_never_again() {
    let console = Console::start();
    let browser = console.signed_in("root");
    create_instance(&browser, "grafana");
    browser.fill("#header_name", "X-Api-Key");
    browser.click("#add-header button[name=generate]");
    let secret = browser.text("#new-secret");
    assert!(secret.len() >= 43, "a 256-bit secret: {secret}");
    let curl = browser.text("#new-secret-curl");
    assert!(
        curl.contains(&format!("-H 'X-Api-Key: {secret}'")),
        "{curl}"
    );
    assert!(
        curl.contains(&console.server.execute_url("grafana")),
        "{curl}"
    );

    let (status, answer) =
        post_with_header(&console.server.execute_url("grafana"), "X-Api-Key", &secret);
    assert_eq!(status, 200, "{answer}");

    // Never again: not on the instance page, nor anywhere the browser goes next.
    browser.goto("/instances/grafana");
    browser.find("#credential-rows");
    assert!(!page_source(&browser).contains(&secret));
    browser.goto("/instances");
    assert!(!page_source(&browser).contains(&secret));
    assert!(!console.server.log_text().contains(&secret));
}

#[test]
fn refused_settings_show_the_error_next_to_the_field_and_change_nothing() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/instances/new");
    browser.fill("#name", "has space");
    browser.press("Create instance");
    assert!(
        browser
            .text("#name-error")
            .contains("is not a valid instance name"),
        "{}",
        browser.text("#name-error")
    );
    browser.fill("#name", "edr");
    browser.press("Create instance");
    let taken = "an instance named 'edr' already exists";
    browser.wait_until(Duration::from_secs(10), taken, |b| {
        b.texts("#name-error") == [taken]
    });
    browser.fill("#name", "okta");
    browser.fill("#sample_limit", "0");
    browser.press("Create instance");
    assert!(browser.text("#sample_limit-error").contains("out of range"));
    assert_eq!(browser.value("#name"), "okta", "what was typed stays");
    browser.fill("#sample_limit", "50");
    browser.fill("#rate_limit", "fast");
    browser.press("Create instance");
    assert!(browser.text("#rate_limit-error").contains("not a number"));
    let instances = console.env.json(&["instance", "list", "--json"]);
    assert_eq!(instances.as_array().unwrap().len(), 1, "{instances}");

    // The same rules when editing; and a good change applies.
    browser.goto("/instances/edr/edit");
    browser.fill("#token_ttl", "0");
    browser.press("Save settings");
    assert!(browser.text("#token_ttl-error").contains("out of range"));
    browser.fill("#token_ttl", "600");
    browser.fill("#incident_type", "EDR alert");
    browser.press("Save settings");
    browser.wait_for_path("/instances/edr");
    let edr = console.env.json(&["instance", "show", "edr", "--json"]);
    assert_eq!(edr["token_ttl"], 600);
    assert_eq!(edr["incident_type"], "EDR alert");
    assert!(console
        .server
        .log_text()
        .contains("console: root changed the settings of instance edr"));
}

#[test]
fn disabling_refuses_deliveries_from_the_next_request_and_removing_keeps_incidents() {
    let console = Console::start();
    let kept = console.send(json!({"name": "Kept after removal"}));
    let browser = console.signed_in("root");
    browser.goto("/instances/edr");
    browser.press("Disable");
    browser.wait_until(Duration::from_secs(10), "the notice", |b| {
        b.texts("[role=status]")
            .iter()
            .any(|t| t.starts_with("Disabled edr"))
    });
    let url = console.server.execute_url("edr");
    let body = json!({"name": "while disabled"}).to_string();
    assert_eq!(post_json(&url, Some(("edr", "edr-secret")), &body).0, 404);
    browser.press("Enable");
    browser.wait_until(Duration::from_secs(10), "the notice", |b| {
        b.texts("[role=status]")
            .iter()
            .any(|t| t.starts_with("Enabled edr"))
    });
    assert_eq!(post_json(&url, Some(("edr", "edr-secret")), &body).0, 200);

    browser.follow("Remove");
    browser.wait_for_path("/instances/edr/remove");
    let confirm = browser.text("#confirm");
    assert!(confirm.contains("1 credential"), "{confirm}");
    assert!(confirm.contains("Its incidents stay"), "{confirm}");
    browser.press("Remove edr");
    browser.wait_for_path("/instances");
    assert!(browser.all("#instances tr[data-name=edr]").is_empty());
    assert_eq!(post_json(&url, Some(("edr", "edr-secret")), &body).0, 404);
    let id = kept[0]["id"].as_i64().unwrap();
    assert_eq!(console.incident(id)["name"], "Kept after removal");
    let log = console.server.log_text();
    assert!(log.contains("console: root disabled instance edr"), "{log}");
    assert!(log.contains("console: root removed instance edr"), "{log}");
}

#[test]
fn removing_a_credential_asks_first_and_then_refuses_it() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/instances/edr");
    browser.click("#credential-rows a");
    let confirm = browser.text("#confirm");
    assert!(confirm.contains("Basic credential 'edr'"), "{confirm}");
    browser.press("Remove credential");
    browser.wait_for_path("/instances/edr");
    assert!(browser.all("#credential-rows").is_empty());
    let (status, _) = post_json(
        &console.server.execute_url("edr"),
        Some(("edr", "edr-secret")),
        r#"{"name":"after removal"}"#,
    );
    assert_eq!(status, 401);
}

#[test]
fn the_delivery_log_shows_a_refused_request_and_its_reason_as_it_happens() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/instances/edr");
    assert_eq!(browser.text("#deliveries"), "No refused requests.");
    let (status, _) = post_json(
        &console.server.execute_url("edr"),
        Some(("edr", "not-the-secret")),
        r#"{"name":"wrong password"}"#,
    );
    assert_eq!(status, 401);
    // The open page picks it up by itself.
    browser.wait_until(Duration::from_secs(10), "the refusal in the log", |b| {
        b.texts("#deliveries td.reason") == ["wrong_secret"]
    });
    assert_eq!(browser.texts("#deliveries td.status-code"), ["401"]);
    assert!(!page_source(&browser).contains("not-the-secret"));
}

/// Runs a shell script the console shows (it talks to this test's server only).
fn run_shell(script: &str) -> String {
    let out = std::process::Command::new("bash")
        .args(["-c", script])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn signature_rules_with_generated_secrets_come_with_a_curl_that_signs_correctly() {
    let env = TestEnv::new().keyed();
    env.ok(&["instance", "add", "hooks"], None);
    env.ok(
        &["user", "add", "root", "--role", "admin", "--password-stdin"],
        Some(PASSWORD),
    );
    let server = env.serve(&[]);
    let browser = Browser::open(&server.base);
    sign_in(&browser, "root", PASSWORD);
    browser.wait_for_path("/incidents");
    browser.goto("/instances/hooks");

    // A header only the generic scheme takes: refused next to the field, nothing added.
    browser.click("#scheme option[value=github]");
    browser.fill("#signature_header", "X-Sig");
    browser.click("#add-signature button[name=generate]");
    assert!(
        browser
            .text("#signature_header-error")
            .contains("only the hmac-sha256 scheme takes a header"),
        "{}",
        browser.text("#signature_header-error")
    );
    assert!(browser.all("#credential-rows").is_empty());

    for scheme in [
        "github",
        "stripe",
        "slack",
        "standard-webhooks",
        "hmac-sha256",
    ] {
        browser.goto("/instances/hooks");
        browser.click(&format!("#scheme option[value={scheme}]"));
        browser.click("#add-signature button[name=generate]");
        let secret = browser.text("#new-secret");
        if scheme == "standard-webhooks" {
            assert!(secret.starts_with("whsec_"), "{secret}");
        }
        let script = browser.text("#new-secret-curl");
        let answer = run_shell(&script);
        let created: serde_json::Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{scheme}: {e}: {answer}\n{script}"));
        assert!(created[0]["id"].is_i64(), "{scheme}: {answer}");
        browser.goto("/instances/hooks");
        browser.find("#credential-rows");
        assert!(!page_source(&browser).contains(&secret));
    }
    assert!(!server.log_text().contains("whsec_"));
}
