//! The pages fit a laptop screen and a narrow window without sideways scrolling; screenshots
//! of each land in target/console-screenshots/ (the ones in docs/ are copies).

use serde_json::json;

use crate::browser::Browser;
use crate::*;

fn fits(browser: &Browser, what: &str) {
    let overflow = browser.eval(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    );
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "{what} scrolls sideways by {overflow} px"
    );
}

#[test]
fn the_main_pages_fit_laptop_and_narrow_widths() {
    let console = Console::start();
    let events: Vec<_> = [
        ("Ransomware beacon on host-17", "EDR", "critical"),
        ("Impossible travel for j.doe", "Identity", "high"),
        ("New admin role granted to svc-backup", "Identity", "medium"),
        ("Port scan from 203.0.113.9", "Network", "low"),
        ("TLS certificate expires in 7 days on vpn.example.com", "Infrastructure", "medium"),
    ]
    .iter()
    .map(|(name, kind, severity)| json!({"name": name, "type": kind, "severity": severity, "host": "host-17", "user": "j.doe"}))
    .collect();
    let created = console.send(json!(events));
    let browser = Browser::open(&console.server.base);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    for (width, height, suffix) in [(1280, 860, ""), (760, 900, "-narrow")] {
        browser.resize(width, height);
        browser.goto("/login");
        browser.find("#username");
        fits(&browser, &format!("/login at {width} px"));
        std::fs::write(
            shots.join(format!("login{suffix}.png")),
            browser.screenshot(),
        )
        .unwrap();
    }
    sign_in(&browser, "root", PASSWORD);
    browser.wait_for_path("/incidents");
    for (width, height, suffix) in [(1280, 860, ""), (760, 900, "-narrow")] {
        browser.resize(width, height);
        browser.goto("/incidents");
        browser.find("#facets a.facet");
        fits(&browser, &format!("/incidents at {width} px"));
        std::fs::write(
            shots.join(format!("feed{suffix}.png")),
            browser.screenshot(),
        )
        .unwrap();
        browser.goto(&format!("/incidents/{}", created[0]["id"]));
        browser.find("#raw-json");
        fits(&browser, &format!("an incident at {width} px"));
        std::fs::write(
            shots.join(format!("incident{suffix}.png")),
            browser.screenshot(),
        )
        .unwrap();
    }
}
