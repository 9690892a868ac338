//! Samples, API tokens, users and the certificate in the admin pages, each checked against
//! what the rest of the product then does.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::admin::{page_source, wait_for_notice};
use crate::browser::Browser;
use crate::helpers::*;
use crate::*;

#[test]
fn samples_show_pretty_payloads_with_redacted_headers_and_clear_after_asking() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/instances/edr/edit");
    browser.click("#store_samples");
    browser.press("Save settings");
    browser.wait_for_path("/instances/edr");
    console.send(json!({"name": "Sampled event", "host": {"name": "host-17"}}));
    browser.goto("/instances/edr");
    browser.follow("Samples");
    browser.wait_for_path("/instances/edr/samples");
    let body = browser.text("#samples li pre");
    assert!(body.contains("\"name\": \"Sampled event\""), "{body}");
    assert!(body.contains("\n  \"host\": {\n"), "pretty-printed: {body}");
    let headers = browser.texts("#samples li dl.headers dt");
    assert!(headers.iter().any(|h| h == "content-type"), "{headers:?}");
    assert!(!headers.iter().any(|h| h == "authorization"), "{headers:?}");

    browser.follow("Clear samples");
    assert!(browser
        .text("#confirm")
        .contains("Incidents and the instance's settings stay"));
    browser.press("Clear samples");
    browser.wait_for_path("/instances/edr/samples");
    assert_eq!(browser.text("p.empty"), "No samples stored.");
    let stored = console.env.json(&["samples", "edr", "--json"]);
    assert_eq!(stored.as_array().unwrap().len(), 0);
    assert!(console.server.log_text().contains("console: root cleared"));
}

fn api_get(server: &TestServer, token: &str, path: &str) -> u16 {
    client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .expect("api request")
        .status()
        .as_u16()
}

#[test]
fn a_token_created_in_the_console_works_against_the_api_until_it_is_revoked() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/tokens");
    browser.press("Create token");
    assert!(browser.text("#name-error").contains("give a name"));
    browser.fill("#name", "grafana-dashboard");
    browser.press("Create token");
    let token = browser.text("#new-token");
    assert_eq!(browser.texts("#tokens td.last-used"), ["never"]);
    assert!(token.starts_with("itk_"), "{token}");
    assert!(browser
        .text("#new-token-curl")
        .contains(&format!("Authorization: Bearer {token}")));
    assert_eq!(api_get(&console.server, &token, "/api/v1/incidents"), 200);
    // An analyst token (the form's default role) does not manage instances.
    assert_eq!(api_get(&console.server, &token, "/api/v1/instances"), 403);

    browser.goto("/tokens");
    assert!(!page_source(&browser).contains(&token), "shown once only");
    assert_eq!(browser.texts("#tokens td.name"), ["grafana-dashboard"]);
    assert_eq!(browser.texts("#tokens td.role"), ["analyst"]);
    // It was used just now: the list says when (a browser shows it in its own time zone).
    let last_used = browser
        .attr("#tokens td.last-used time", "datetime")
        .expect("a time");
    let at = chrono::DateTime::parse_from_rfc3339(&last_used).expect("RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(
        age < chrono::TimeDelta::seconds(60),
        "last used {last_used}"
    );
    browser.follow("Revoke");
    browser.press("Revoke token");
    browser.wait_for_path("/tokens");
    assert_eq!(api_get(&console.server, &token, "/api/v1/incidents"), 401);
    let log = console.server.log_text();
    assert!(log.contains("console: root created API token"), "{log}");
    assert!(log.contains("console: root revoked API token"), "{log}");
    assert!(!log.contains(&token));
}

#[test]
fn admins_add_users_change_roles_reset_passwords_and_remove_users() {
    let console = Console::start();
    let browser = console.signed_in("root");
    browser.goto("/users");
    browser.fill("#name", "mia");
    browser.fill("#password", "short");
    browser.press("Add user");
    assert!(browser
        .text("#password-error")
        .contains("at least 12 characters"));
    assert_eq!(browser.value("#name"), "mia");
    browser.fill("#password", "mia's long passphrase");
    browser.press("Add user");
    wait_for_notice(&browser, "Added analyst mia.");
    assert_eq!(
        browser.text("#users tr[data-name=mia] td.role select option:checked"),
        "analyst"
    );
    let (status, session) = console_sign_in(&console.server, "mia", "mia's long passphrase");
    assert_eq!(status, 303);
    let session = session.unwrap();
    assert_eq!(
        console_get(&console.server, &session, "/instances").status(),
        403
    );

    // Made admin: her session has the role from her next request.
    browser.click("#role-mia option[value=admin]");
    browser.click_xpath("//tr[@data-name='mia']//button[normalize-space(.)='Change role']");
    wait_for_notice(&browser, "mia is now admin.");
    assert_eq!(
        console_get(&console.server, &session, "/instances").status(),
        200
    );

    // A new password ends her sessions.
    browser.fill("#password-mia", "a brand new passphrase");
    browser.click_xpath("//tr[@data-name='mia']//button[normalize-space(.)='Set password']");
    wait_for_notice(&browser, "Set a new password for mia");
    assert_eq!(
        console_get(&console.server, &session, "/instances").status(),
        303
    );
    assert_eq!(
        console_sign_in(&console.server, "mia", "a brand new passphrase").0,
        303
    );

    // An admin cannot remove themselves; another user goes after a confirmation.
    assert!(browser.all("#users tr[data-name=root] a").is_empty());
    browser.click("#users tr[data-name=mia] a");
    browser.press("Remove mia");
    wait_for_notice(&browser, "Removed mia");
    assert!(browser.all("#users tr[data-name=mia]").is_empty());
    assert_eq!(
        console_sign_in(&console.server, "mia", "a brand new passphrase").0,
        401
    );

    // A name another user has is refused at the name field.
    browser.fill("#name", "root");
    browser.fill("#password", "root's second passphrase");
    browser.press("Add user");
    assert_eq!(browser.text("#name-error"), "user 'root' exists already");
    let log = console.server.log_text();
    for line in [
        "console: root added analyst user mia",
        "console: root made user mia admin",
        "console: root set a new password for user mia",
        "console: root removed user mia",
    ] {
        assert!(log.contains(line), "{line} in {log}");
    }
}

/// The DER of the certificate the HTTPS listener presents now.
fn served_certificate(https: &str, cas: &[&Path]) -> Vec<u8> {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        let pem = std::fs::read(ca).unwrap();
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    let response = builder
        .build()
        .unwrap()
        .get(format!("{https}/healthz"))
        .send()
        .expect("https request");
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("peer certificate")
        .to_vec()
}

fn shown_sha256(browser: &Browser) -> String {
    browser.text("#certificate code.sha256")
}

#[test]
fn the_certificate_page_shows_the_served_certificate_and_installs_a_new_pair() {
    let console = Console::start();
    let dir = console.env.path("tls");
    let (ca, cert, key) = self_signed(&console.env, &dir.join("old"), "20");
    let server = console.env.serve(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let https = server.https.clone().expect("an HTTPS listener");
    let served = served_certificate(&https, &[&ca]);
    let expected = intake::tls::describe(&served.clone().into()).unwrap();

    let browser = Browser::open(&server.base);
    sign_in(&browser, "root", PASSWORD);
    browser.wait_for_path("/incidents");
    browser.goto("/tls");
    assert_eq!(browser.text("#certificate dd.subject"), expected.subject);
    assert_eq!(browser.text("#certificate dd.issuer"), expected.issuer);
    assert_eq!(browser.texts("#certificate dd.names li"), expected.sans);
    assert_eq!(
        browser
            .attr("#certificate dd.expires time", "datetime")
            .unwrap(),
        expected.not_after
    );
    assert_eq!(
        browser.text("#certificate dd.days-left"),
        expected.days_left().to_string()
    );
    assert_eq!(shown_sha256(&browser), expected.sha256);
    // Instance pages show the webhook and token URLs on the HTTPS listener too.
    browser.goto("/instances/edr");
    assert_eq!(
        browser.text("code.url[data-kind=webhook][data-scheme=https]"),
        format!("{https}/instance/execute/edr")
    );
    assert_eq!(
        browser.text("code.url[data-kind=token][data-scheme=https]"),
        format!("{https}/instance/token/edr")
    );
    browser.goto("/tls");
    // 20 days left: under 30, so the page warns.
    assert!(browser.text("#expiry-warning").contains("expires in"));

    // A key that does not match is refused with the reason; the old pair keeps serving.
    let (new_ca, new_cert, new_key) = self_signed(&console.env, &dir.join("new"), "400");
    let new_cert_pem = std::fs::read_to_string(&new_cert).unwrap();
    browser.fill("#cert", &new_cert_pem);
    browser.fill("#key", &std::fs::read_to_string(&key).unwrap());
    browser.press("Install certificate");
    let refusal = browser.text("main p.notice.error");
    assert!(refusal.contains("does not match"), "{refusal}");
    assert!(
        refusal.contains("the current pair keeps serving"),
        "{refusal}"
    );
    assert_eq!(served_certificate(&https, &[&ca]), served);

    browser.fill("#cert", &new_cert_pem);
    browser.fill("#key", &std::fs::read_to_string(&new_key).unwrap());
    browser.press("Install certificate");
    wait_for_notice(
        &browser,
        "Installed the new certificate; new connections get CN=localhost.",
    );
    let now_served = served_certificate(&https, &[&new_ca]);
    assert_ne!(now_served, served);
    let installed = intake::tls::describe(&now_served.into()).unwrap();
    assert_eq!(shown_sha256(&browser), installed.sha256);
    assert!(browser.all("#expiry-warning").is_empty(), "400 days left");
    assert!(server
        .log_text()
        .contains("console: root installed a new HTTPS certificate"));
}
