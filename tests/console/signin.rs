//! Signing in and out: the form, refusals that reveal nothing, sessions that end.

use std::time::Duration;

use crate::browser::Browser;
use crate::*;

#[test]
fn a_user_signs_in_sees_the_feed_and_signing_out_ends_the_session_on_the_server() {
    let console = Console::start();
    console.send(serde_json::json!({"name": "Impossible travel for j.doe", "type": "Identity"}));
    let browser = Browser::open(&console.server.base);

    // A page asked for before signing in comes back after it.
    browser.goto("/incidents?q=travel");
    browser.wait_for_path("/login");
    assert_eq!(browser.text("label[for=username]"), "Username");
    assert_eq!(browser.text("label[for=password]"), "Password");
    browser.fill("#username", "ana");
    browser.fill("#password", PASSWORD);
    browser.press("Sign in");
    browser.wait_for_path("/incidents");
    assert_eq!(browser.location(), "/incidents?q=travel");
    assert_eq!(feed_names(&browser), ["Impossible travel for j.doe"]);
    assert_eq!(browser.text("header .user"), "ana");
    assert_eq!(browser.text("header .role"), "analyst");

    let session = browser.cookie("intake_session").expect("a session cookie");
    let with_session = |path: &str| {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(console.server.url(path))
            .header("Cookie", format!("intake_session={session}"))
            .send()
            .expect("request")
    };
    assert_eq!(with_session("/incidents").status(), 200);

    browser.press("Sign out");
    browser.wait_for_path("/login");
    assert!(browser.cookie("intake_session").is_none());
    // The same cookie, replayed, no longer opens anything: the session is gone server-side.
    let replayed = with_session("/incidents");
    assert_eq!(replayed.status(), 303);
    assert!(replayed.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[test]
fn a_wrong_sign_in_says_the_same_for_an_unknown_user_and_a_wrong_password() {
    let console = Console::start();
    let browser = Browser::open(&console.server.base);

    sign_in(&browser, "ana", "not her password at all");
    let wrong_password = browser.text("[role=alert]");
    assert_eq!(browser.location().split('?').next(), Some("/login"));

    sign_in(&browser, "nobody-here", "not her password at all");
    let unknown_user = browser.text("[role=alert]");
    assert_eq!(wrong_password, "Wrong username or password.");
    assert_eq!(unknown_user, wrong_password);
    assert!(browser.cookie("intake_session").is_none());

    // The right password still works afterwards.
    sign_in(&browser, "ana", PASSWORD);
    browser.wait_for_path("/incidents");
}

#[test]
fn repeated_wrong_sign_ins_for_one_user_are_slowed_down() {
    let console = Console::start();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let login = console.server.url("/login");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let page = client.get(&login).send().expect("login page");
        let form_cookie = page.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("name=value")
            .to_string();
        let form = page.text().expect("login page");
        let csrf = form
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf field")
            .to_string();
        let started = std::time::Instant::now();
        let answer = client
            .post(&login)
            .header("Cookie", &form_cookie)
            .form(&[
                ("username", "ana"),
                ("password", "guess-guess-guess"),
                ("csrf", &csrf),
            ])
            .send()
            .expect("sign-in");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "a refusal answered in {:?}",
            started.elapsed()
        );
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}
