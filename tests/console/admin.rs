//! The admin pages' door: admins see and reach them, analysts see no link and get 403 on
//! every admin URL, for every method, and nothing changes.

use crate::browser::Browser;
use crate::helpers::*;
use crate::*;

/// Every admin page and form target, with the method it answers (`edr` exists, with
/// credential 1).
pub const ADMIN_URLS: &[(&str, &str)] = &[
    ("GET", "/instances"),
    ("GET", "/instances/new"),
    ("POST", "/instances"),
    ("GET", "/instances/edr"),
    ("GET", "/instances/edr/edit"),
    ("POST", "/instances/edr/edit"),
    ("POST", "/instances/edr/enabled"),
    ("GET", "/instances/edr/remove"),
    ("POST", "/instances/edr/remove"),
    ("GET", "/instances/edr/deliveries"),
    ("POST", "/instances/edr/credentials"),
    ("GET", "/instances/edr/credentials/1/remove"),
    ("POST", "/instances/edr/credentials/1/remove"),
    ("GET", "/instances/edr/samples"),
    ("GET", "/instances/edr/samples/clear"),
    ("POST", "/instances/edr/samples/clear"),
    ("GET", "/instances/edr/mapping"),
    ("POST", "/instances/edr/mapping"),
    ("POST", "/instances/edr/mapping/preview"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("GET", "/tokens/1/revoke"),
    ("POST", "/tokens/1/revoke"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("POST", "/users/root/role"),
    ("POST", "/users/root/password"),
    ("GET", "/users/root/remove"),
    ("POST", "/users/root/remove"),
    ("GET", "/tls"),
    ("POST", "/tls"),
];

/// The CSRF token of a page's forms.
pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a csrf field")
        .to_string()
}

/// `POST path` on the console with this session and form, redirects not followed.
pub fn console_post(
    server: &TestServer,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    no_redirects()
        .post(server.url(path))
        .header("Cookie", format!("intake_session={session}"))
        .form(form)
        .send()
        .expect("console request")
}

/// The page's HTML as the browser holds it now.
pub fn page_source(browser: &Browser) -> String {
    browser
        .eval("return document.documentElement.outerHTML;")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn analysts_see_no_admin_link_and_every_admin_url_answers_403() {
    let console = Console::start();
    let nav = |browser: &Browser| browser.texts("header nav a");

    let admin = console.signed_in("root");
    assert_eq!(
        nav(&admin),
        [
            "Incidents",
            "Instances",
            "API tokens",
            "Users",
            "Certificate"
        ]
    );
    for (method, path) in ADMIN_URLS.iter().filter(|(m, _)| *m == "GET") {
        admin.goto(path);
        admin.find("body");
        assert!(
            !page_source(&admin).contains("Not for your role"),
            "{method} {path} refused an admin"
        );
    }

    let analyst = console.signed_in("ana");
    assert_eq!(nav(&analyst), ["Incidents"]);
    for (_, path) in ADMIN_URLS.iter().filter(|(m, _)| *m == "GET") {
        analyst.goto(path);
        assert_eq!(analyst.text("h1"), "Not for your role", "GET {path}");
    }

    let (status, session) = console_sign_in(&console.server, "ana", PASSWORD);
    assert_eq!(status, 303);
    let session = session.expect("a session");
    let feed = console_get(&console.server, &session, "/incidents")
        .text()
        .unwrap();
    let csrf = csrf_of(&feed);
    let form: &[(&str, &str)] = &[
        ("csrf", &csrf),
        ("name", "from-an-analyst"),
        ("enabled", "false"),
        ("kind", "basic"),
        ("username", "mallory"),
        ("secret", "mallory-secret-123"),
        ("sample_limit", "5"),
        ("token_ttl", "60"),
        ("signature_tolerance_s", "60"),
    ];
    for (method, path) in ADMIN_URLS {
        let answer = match *method {
            "GET" => console_get(&console.server, &session, path),
            _ => console_post(&console.server, &session, path, form),
        };
        assert_eq!(answer.status(), 403, "{method} {path} as an analyst");
        assert!(answer.text().unwrap().contains("Not for your role"));
    }
    // Nothing changed: the instance, its settings and its credential are as they were.
    let edr = console.env.json(&["instance", "show", "edr", "--json"]);
    assert_eq!(edr["enabled"], true);
    assert_eq!(edr["credentials"].as_array().unwrap().len(), 1);
    let instances = console.env.json(&["instance", "list", "--json"]);
    assert_eq!(instances.as_array().unwrap().len(), 1, "{instances}");
    let log = console.server.log_text();
    assert!(
        log.contains("console: ana (analyst) was refused the admin page /instances"),
        "{log}"
    );
}

/// Waits for the notice a change leaves on the next page (when that page has the same
/// address as the form's, the address alone cannot tell the answer has arrived).
pub fn wait_for_notice(browser: &Browser, text: &str) {
    browser.wait_until(
        std::time::Duration::from_secs(10),
        &format!("the notice {text:?}"),
        |b| b.texts("[role=status]").iter().any(|t| t.contains(text)),
    );
}

#[test]
fn an_admin_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let console = Console::start();
    let (_, session) = console_sign_in(&console.server, "root", PASSWORD);
    let session = session.expect("a session");
    for (path, form) in [
        ("/instances/edr/remove", vec![]),
        ("/instances/edr/enabled", vec![("enabled", "false")]),
        ("/tokens", vec![("name", "forged"), ("role", "admin")]),
        ("/users/ana/remove", vec![("csrf", "not-the-token")]),
    ] {
        let answer = console_post(&console.server, &session, path, &form);
        assert_eq!(answer.status(), 403, "POST {path}");
    }
    let edr = console.env.json(&["instance", "show", "edr", "--json"]);
    assert_eq!(edr["enabled"], true);
    let tokens = console.env.json(&["token", "list", "--json"]);
    assert_eq!(tokens.as_array().unwrap().len(), 0, "{tokens}");
    let users = console.env.json(&["user", "list", "--json"]);
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
}
