//! Hostile payload text stays text, forms need their CSRF token, every page has its CSP.

use serde_json::json;

use crate::helpers::*;
use crate::*;

const HOSTILE: [&str; 4] = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "javascript:alert(4)",
];

#[test]
fn hostile_incident_names_show_their_characters_and_run_nothing() {
    let console = Console::start();
    let events: Vec<_> = HOSTILE
        .iter()
        .map(|name| json!({"name": name, "type": name, "severity": name, "payload": name}))
        .collect();
    let created = console.send(json!(events));
    let browser = console.signed_in("ana");

    let mut shown = feed_names(&browser);
    shown.sort();
    let mut expected: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(shown, expected);
    assert!(browser
        .all("#incident-rows img, #incident-rows svg, #incident-rows script")
        .is_empty());
    assert!(browser.alert().is_none(), "a script ran in the feed");

    for incident in &created {
        browser.goto(&format!("/incidents/{}", incident["id"]));
        assert_eq!(browser.text("h1"), incident["name"].as_str().unwrap());
        assert!(browser.all("main img, main svg, main script").is_empty());
        assert!(
            browser.alert().is_none(),
            "a script ran on the incident page"
        );
    }

    // A search for the payload text finds it and echoes it as text in the field.
    browser.goto("/incidents?name_contains=%3Csvg");
    assert_eq!(feed_names(&browser), ["\"><svg onload=alert(3)>"]);
    assert_eq!(browser.value("#f-name_contains"), "<svg");
    assert!(browser.alert().is_none());
}

fn session_of(console: &Console) -> String {
    let browser = console.signed_in("ana");
    browser.cookie("intake_session").expect("session cookie")
}

#[test]
fn a_state_changing_form_without_its_csrf_token_is_refused() {
    let console = Console::start();
    let id = console.send(json!({"name": "target"}))[0]["id"]
        .as_i64()
        .unwrap();
    let session = session_of(&console);
    let client = no_redirects();
    let post = |path: &str, form: &[(&str, &str)]| {
        client
            .post(console.server.url(path))
            .header("Cookie", format!("intake_session={session}"))
            .form(form)
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    let id_text = id.to_string();
    assert_eq!(
        post(
            &format!("/incidents/{id}/status"),
            &[("status", "resolved")]
        ),
        403
    );
    assert_eq!(
        post(
            &format!("/incidents/{id}/status"),
            &[("status", "resolved"), ("csrf", "forged-token")]
        ),
        403
    );
    assert_eq!(
        post(
            "/incidents/status",
            &[("status", "resolved"), ("id", &id_text)]
        ),
        403
    );
    assert_eq!(post("/logout", &[]), 403);
    assert_eq!(console.incident(id)["status"], "open", "nothing changed");
}

#[test]
fn every_console_page_forbids_inline_script_and_framing() {
    let console = Console::start();
    let id = console.send(json!({"name": "x"}))[0]["id"]
        .as_i64()
        .unwrap();
    let session = session_of(&console);
    for path in [
        "/login",
        "/incidents",
        &format!("/incidents/{id}"),
        "/incidents/counts",
        "/incidents/999999",
    ] {
        let answer = console_get(&console.server, &session, path);
        let headers = answer.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no CSP"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let body = answer.text().expect("body");
        assert!(!body.contains("<script>"), "{path} has inline script");
    }
}
