//! Signing in and out: the form, refusals that reveal nothing, sessions that end.

use std::time::Duration;

use crate::browser::Browser;
use crate::helpers::*;
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
    let with_session = |path: &str| console_get(&console.server, &session, path);
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
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let started = std::time::Instant::now();
        let (status, session) = console_sign_in(&console.server, "ana", "guess-guess-guess");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "a refusal answered in {:?}",
            started.elapsed()
        );
        assert!(session.is_none());
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}
