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

#[test]
fn the_admin_pages_fit_laptop_and_narrow_widths() {
    let console = Console::start();
    console.env.add_instance(
        "alertmanager",
        "am",
        "am-secret",
        &["--preset", "alertmanager", "--store-samples"],
    );
    let (status, _) = helpers::post_json(
        &console.server.execute_url("alertmanager"),
        Some(("am", "am-secret")),
        &json!({"receiver": "intake", "status": "firing", "alerts": [{"status": "firing",
            "labels": {"alertname": "HostDown", "severity": "critical", "instance": "db-1:9100"},
            "annotations": {"summary": "db-1 is unreachable"},
            "startsAt": "2026-05-01T10:00:00Z", "fingerprint": "f00d"}]})
        .to_string(),
    );
    assert_eq!(status, 200);
    let (status, _) = helpers::post_json(
        &console.server.execute_url("alertmanager"),
        Some(("am", "a-wrong-secret")),
        r#"{"status":"firing"}"#,
    );
    assert_eq!(status, 401);
    console.send(json!({"name": "Ransomware beacon on host-17", "severity": "critical"}));
    let browser = console.signed_in("root");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    // The generated secret's panel, as an admin sees it once.
    browser.goto("/instances/alertmanager");
    browser.fill("#header_name", "X-Api-Key");
    browser.click("#add-header button[name=generate]");
    browser.find("#new-secret");
    browser.resize(1280, 1400);
    std::fs::write(shots.join("credential-generated.png"), browser.screenshot()).unwrap();
    browser.wait_until(
        std::time::Duration::from_secs(10),
        "the refusal in the log",
        |b| {
            b.goto("/instances/alertmanager");
            !b.all("#deliveries td.reason").is_empty()
        },
    );
    let pages = [
        ("/instances", "#instances", "instances"),
        (
            "/instances/alertmanager",
            "#deliveries td.reason",
            "instance",
        ),
        ("/instances/alertmanager/samples", "#samples", "samples"),
        (
            "/instances/alertmanager/mapping",
            "#preview-rows",
            "mapping",
        ),
        ("/tokens", "form.settings", "tokens"),
        ("/users", "#users", "users"),
        ("/tls", "main h1", "certificate"),
    ];
    for (width, height, suffix) in [(1280, 1000, ""), (760, 1000, "-narrow")] {
        browser.resize(width, height);
        for (path, ready, name) in pages {
            browser.goto(path);
            browser.find(ready);
            fits(&browser, &format!("{path} at {width} px"));
            std::fs::write(
                shots.join(format!("{name}{suffix}.png")),
                browser.screenshot(),
            )
            .unwrap();
        }
    }
    browser.resize(1280, 2100);
    browser.goto("/instances/alertmanager");
    browser.find("#deliveries td.reason");
    std::fs::write(shots.join("instance-full.png"), browser.screenshot()).unwrap();

    // The certificate page of a server that serves HTTPS.
    let tls = console.env.path("tls");
    console.env.ok(
        &[
            "tls",
            "self-signed",
            "--hostname",
            "intake.example.com",
            "--out-dir",
            tls.to_str().unwrap(),
        ],
        None,
    );
    let https = console.env.serve(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        tls.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        tls.join("key.pem").to_str().unwrap(),
    ]);
    let browser = Browser::open(&https.base);
    sign_in(&browser, "root", PASSWORD);
    browser.wait_for_path("/incidents");
    for (width, height, suffix) in [(1280, 1000, ""), (760, 1000, "-narrow")] {
        browser.resize(width, height);
        browser.goto("/tls");
        browser.find("#certificate");
        fits(&browser, &format!("/tls at {width} px"));
        std::fs::write(
            shots.join(format!("certificate{suffix}.png")),
            browser.screenshot(),
        )
        .unwrap();
    }
}
